"""Losses: a value and its gradient, as means over the batch (see SPEC, Semantics).

`forward(pred, target)` takes the output layer's activations (probabilities for the cross-entropies) and
returns `(loss, d loss / d pred)`. The cross-entropies pair with their output activation
(`fused_activation`); `from_logits(logits, target)` then returns the loss and the gradient with respect to
the pre-activation in the fused, numerically stable form, which the model uses instead of chaining
`forward` with the activation's `backward`. Gradients keep `pred`'s dtype; targets are cast to it.
"""

# No `from __future__ import annotations`: `parameters_model` reads the constructor annotations at run time.
import numpy as np

from nncli.nn.activations import exp_nonpositive, sigmoid
from nncli.nn.params import PositiveFloat
from nncli.registry import Configurable, Registry


def _clip_probabilities(pred: np.ndarray) -> np.ndarray:
    """`pred` clipped to [eps, 1 - eps], eps the dtype's machine epsilon, so that log never sees 0."""
    eps = np.finfo(pred.dtype).eps
    return np.clip(pred, eps, 1 - eps)


class Loss(Configurable):
    """Base class: a training objective, mean over the batch."""

    fused_activation: str | None = None
    """The output activation this loss fuses with in `from_logits`, if any."""

    def __init__(self) -> None:
        """No parameters unless a subclass declares some."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, d loss / d pred) for the output activations `pred`."""
        raise NotImplementedError

    def from_logits(self, logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss, d loss / d logits) through `fused_activation`, in the stable fused form."""
        raise NotImplementedError(f"loss {self.name!r} has no fused output activation")


LOSSES = Registry[Loss]("loss")


@LOSSES.register("mse")
class MeanSquaredError(Loss):
    """mean((pred - target)²) over batch and outputs."""

    def forward(self, pred, target):
        diff = np.subtract(pred, target.astype(pred.dtype, copy=False))
        loss = float(np.vdot(diff, diff)) / diff.size
        diff *= 2.0 / diff.size
        return loss, diff


@LOSSES.register("mae")
class MeanAbsoluteError(Loss):
    """mean(|pred - target|) over batch and outputs; the gradient at 0 is 0."""

    def forward(self, pred, target):
        diff = np.subtract(pred, target.astype(pred.dtype, copy=False))
        loss = float(np.abs(diff).mean())
        grad = np.sign(diff, out=diff)
        grad /= grad.size
        return loss, grad


@LOSSES.register("huber")
class Huber(Loss):
    """mean over batch and outputs of d²/2 if |d| <= delta, else delta (|d| - delta/2); d = pred - target."""

    def __init__(self, delta: PositiveFloat = 1.0):
        self.delta = delta

    def forward(self, pred, target):
        diff = np.subtract(pred, target.astype(pred.dtype, copy=False))
        abs_diff = np.abs(diff)
        quadratic = abs_diff <= self.delta
        elementwise = np.where(quadratic, 0.5 * diff * diff, self.delta * (abs_diff - 0.5 * self.delta))
        loss = float(elementwise.mean())
        grad = np.clip(diff, -self.delta, self.delta, out=diff)
        grad /= grad.size
        return loss, grad


@LOSSES.register("binary_crossentropy")
class BinaryCrossentropy(Loss):
    """-mean(y log p + (1-y) log(1-p)) over all elements (PyTorch's BCELoss); p clipped to [eps, 1-eps]."""

    fused_activation = "sigmoid"

    def forward(self, pred, target):
        target = target.astype(pred.dtype, copy=False)
        p = _clip_probabilities(pred)
        one_minus_p = 1.0 - p
        loss = -float(np.mean(target * np.log(p) + (1.0 - target) * np.log(one_minus_p)))
        # d/dp = (p - y) / (p (1 - p)) / n, at the clipped p
        grad = p - target
        one_minus_p *= p
        grad /= one_minus_p
        grad /= grad.size
        return loss, grad

    def from_logits(self, logits, target):
        target = target.astype(logits.dtype, copy=False)
        # -[y log σ(z) + (1-y) log(1-σ(z))] = max(z, 0) - z y + log(1 + exp(-|z|))
        softplus_tail = np.abs(logits)
        np.negative(softplus_tail, out=softplus_tail)
        exp_nonpositive(softplus_tail, out=softplus_tail)
        np.log1p(softplus_tail, out=softplus_tail)
        elementwise = np.maximum(logits, 0) - logits * target
        elementwise += softplus_tail
        loss = float(elementwise.mean())
        grad = sigmoid(logits, out=elementwise)  # d/dz = (σ(z) - y) / n
        grad -= target
        grad /= grad.size
        return loss, grad


@LOSSES.register("categorical_crossentropy")
class CategoricalCrossentropy(Loss):
    """mean over rows of -Σ_k y_k log p_k, p clipped to [eps, 1-eps]; targets one-hot (batch, classes)."""

    fused_activation = "softmax"

    def forward(self, pred, target):
        target = target.astype(pred.dtype, copy=False)
        rows = pred.shape[0]
        p = _clip_probabilities(pred)
        log_p = np.log(p)
        loss = -float(np.einsum("ij,ij->", target, log_p)) / rows
        grad = np.divide(target, p, out=p)  # d/dp = -y / p / rows
        grad *= -1.0 / rows
        return loss, grad

    def from_logits(self, logits, target):
        target = target.astype(logits.dtype, copy=False)
        rows = logits.shape[0]
        # -Σ y (z - logsumexp(z)) with the row maximum taken out of the exponentials
        shifted = logits - logits.max(axis=1, keepdims=True)
        exps = exp_nonpositive(shifted)
        sums = exps.sum(axis=1, keepdims=True)
        shifted -= np.log(sums)  # log softmax
        loss = -float(np.einsum("ij,ij->", target, shifted)) / rows
        # d/dz = (softmax(z) - y) / rows, valid because each target row sums to 1
        grad = np.divide(exps, sums, out=exps)
        grad -= target
        grad /= rows
        return loss, grad
