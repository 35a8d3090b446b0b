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
        rows = x.shape[0]
        output = self.buffer("output", x.shape)
        if not training:
            inv_std = 1.0 / np.sqrt(self.state["running_var"] + self.eps)
            np.subtract(x, self.state["running_mean"], out=output)
            output *= inv_std * self.params["weight"]
            output += self.params["bias"]
            return output
        mean = x.mean(axis=0)
        centered = np.subtract(x, mean, out=self.buffer("centered", x.shape))
        var = np.mean(np.square(centered, out=output), axis=0)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)
        self.normalized = np.multiply(centered, self.inv_std, out=centered)
        self._update_running(mean, var, rows)
        np.multiply(self.normalized, self.params["weight"], out=output)
        output += self.params["bias"]
        return output

    def _update_running(self, mean: np.ndarray, var: np.ndarray, rows: int) -> None:
        unbiased = var * (rows / (rows - 1)) if rows > 1 else var
        for key, batch_value in (("running_mean", mean), ("running_var", unbiased)):
            running = self.state[key]
            running *= 1.0 - self.momentum
            running += self.momentum * batch_value

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        # dx = inv_std/n * (n*g - sum(g) - xhat*sum(g*xhat)) with g = d loss / d xhat = grad_output * weight
        rows = grad_output.shape[0]
        normalized = self.normalized
        np.sum(grad_output, axis=0, out=self.grads["bias"])
        grad_xhat_dot = np.multiply(grad_output, normalized, out=self.buffer("scratch", grad_output.shape))
        np.sum(grad_xhat_dot, axis=0, out=self.grads["weight"])
        grad_x = self.buffer("grad_x", grad_output.shape)
        np.multiply(normalized, self.grads["weight"] / rows, out=grad_x)
        np.subtract(grad_output, grad_x, out=grad_x)
        grad_x -= self.grads["bias"] / rows
        grad_x *= self.params["weight"] * self.inv_std
        return [grad_x]
