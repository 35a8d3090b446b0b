"""Batch normalization over the batch axis, with running statistics for evaluation (PyTorch's BatchNorm1d)."""

from __future__ import annotations

import numpy as np

from nncli.nn.layers.base import LAYERS, Layer
from nncli.nn.params import PositiveFloat, UnitRate


@LAYERS.register("batchnorm")
class BatchNorm(Layer):
    """`y = weight * (x - mean) / sqrt(var + eps) + bias`.

    Training uses the batch's mean and biased variance and updates
    `running = (1 - momentum) * running + momentum * batch` (the variance unbiased, n/(n-1), as PyTorch;
    a one-row batch updates it with its biased variance 0 rather than dividing by zero). Evaluation uses the
    running statistics, which are saved with the model.
    """

    def __init__(self, momentum: UnitRate = 0.1, eps: PositiveFloat = 1e-5):
        self.momentum = momentum
        self.eps = eps

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        (width,) = input_widths
        self.add_parameter("weight", np.ones(width))
        self.add_parameter("bias", np.zeros(width))
        self.state["running_mean"] = np.zeros(width, dtype=self.dtype)
        self.state["running_var"] = np.ones(width, dtype=self.dtype)
        return width

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        (x,) = inputs
        rows, width = x.shape
        output = self.buffer("output", x.shape)
        weight, bias = self.params["weight"], self.params["bias"]
        if not training:
            scale = np.add(self.state["running_var"], self.eps, out=self.buffer("scale", (width,)))
            np.sqrt(scale, out=scale)
            np.divide(1.0, scale, out=scale)
            scale *= weight  # weight / sqrt(running_var + eps)
            np.subtract(x, self.state["running_mean"], out=output)
            output *= scale
            output += bias
            return output
        mean = np.add.reduce(x, axis=0, out=self.buffer("mean", (width,)))
        mean /= rows
        centered = np.subtract(x, mean, out=self.buffer("centered", x.shape))
        var = np.add.reduce(np.square(centered, out=output), axis=0, out=self.buffer("var", (width,)))
        var /= rows
        inv_std = np.add(var, self.eps, out=self.buffer("inv_std", (width,)))
        np.sqrt(inv_std, out=inv_std)
        self.inv_std = np.divide(1.0, inv_std, out=inv_std)
        self.normalized = np.multiply(centered, self.inv_std, out=centered)
        self._update_running(mean, var, rows)
        np.multiply(self.normalized, weight, out=output)
        output += bias
        return output

    def _update_running(self, mean: np.ndarray, var: np.ndarray, rows: int) -> None:
        update = self.buffer("update", mean.shape)
        unbiased = np.multiply(var, rows / (rows - 1), out=var) if rows > 1 else var  # var is not needed after
        for key, batch_value in (("running_mean", mean), ("running_var", unbiased)):
            running = self.state[key]
            running *= 1.0 - self.momentum
            running += np.multiply(batch_value, self.momentum, out=update)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        # dx = inv_std/n * (n*g - sum(g) - xhat*sum(g*xhat)) with g = d loss / d xhat = grad_output * weight
        rows = grad_output.shape[0]
        normalized = self.normalized
        grad_weight, grad_bias = self.grads["weight"], self.grads["bias"]
        per_unit = self.buffer("per_unit", grad_bias.shape)
        np.add.reduce(grad_output, axis=0, out=grad_bias)
        grad_xhat_dot = np.multiply(grad_output, normalized, out=self.buffer("scratch", grad_output.shape))
        np.add.reduce(grad_xhat_dot, axis=0, out=grad_weight)
        grad_x = self.buffer("grad_x", grad_output.shape)
        np.multiply(normalized, np.divide(grad_weight, rows, out=per_unit), out=grad_x)
        np.subtract(grad_output, grad_x, out=grad_x)
        grad_x -= np.divide(grad_bias, rows, out=per_unit)
        grad_x *= np.multiply(self.params["weight"], self.inv_std, out=per_unit)
        return [grad_x]
