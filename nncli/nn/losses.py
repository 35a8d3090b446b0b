"""Losses: a value and its gradient, as means over the batch (see SPEC, Semantics).

`forward(pred, target, out)` takes the output layer's activations (probabilities for the cross-entropies) and
returns `(loss, d loss / d pred)`. The cross-entropies pair with their output activation
(`fused_activation`); `from_logits(logits, target, out)` then returns the loss and the gradient with respect
to the pre-activation in the fused, numerically stable form. `nncli.nn.objective.Objective` decides which
of the two a training step takes. Gradients keep `pred`'s dtype; targets are cast to it.

With `out` (an array shaped like `pred`, overlapping none of the inputs) the gradient is written there and
the work arrays are this loss's own, kept from call to call: the training loop's calls allocate nothing.
Without it, the gradient and the work arrays are fresh, so a one-off call on a whole data set keeps nothing.

With `weight` (one non-negative number per row) the loss is `Σ wᵢ·lᵢ / Σ wᵢ`, `lᵢ` the row's loss (its mean
over the outputs; the cross-entropy sums over classes), PyTorch's rule for `CrossEntropyLoss(weight=...)`. Each
loss then folds the row factor `wᵢ / Σ w` (`_row_factor`) into the step where the unweighted code divides by
the batch size, so weighing costs a few numpy calls per batch. Without `weight` the code is unchanged.
"""

# No `from __future__ import annotations`: `parameters_model` reads the constructor annotations at run time.
import numpy as np

from nncli.nn.activations import exp_nonpositive
from nncli.nn.buffers import Buffers, scratch
from nncli.nn.params import PositiveFloat
from nncli.registry import Configurable, Registry


def _clip_probabilities(pred: np.ndarray, out: np.ndarray) -> np.ndarray:
    """`pred` clipped to [eps, 1 - eps] into `out`, eps the dtype's machine epsilon, so log never sees 0."""
    eps = float(np.finfo(pred.dtype).eps)
    return np.clip(pred, eps, 1.0 - eps, out=out)


def _mean(values: np.ndarray) -> float:
    """The mean of all entries, summed in their dtype (as `ndarray.mean`), divided in double precision."""
    return float(np.add.reduce(values, axis=None)) / values.size


def _row_factor(weight: np.ndarray, scale: float, buffers: Buffers | None, dtype: np.dtype) -> np.ndarray:
    """`scale · wᵢ / Σ w` as a (rows, 1) column (all 0 when every weight is 0: such a batch has loss 0)."""
    rows = weight.shape[0]
    total = float(np.add.reduce(weight, axis=None))
    factor = scratch(buffers, "row_factor", (rows, 1), dtype)
    return np.multiply(weight.reshape(rows, 1), scale / total if total else 0.0, out=factor)


class Loss(Configurable):
    """Base class: a training objective, mean over the batch."""

    fused_activation: str | None = None
    """The output activation this loss fuses with in `from_logits`, if any."""

    _buffers: Buffers | None = None

    def __init__(self) -> None:
        """No parameters unless a subclass declares some."""

    def forward(self, pred: np.ndarray, target: np.ndarray, out: np.ndarray | None = None,
                weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(loss, d loss / d pred) for the output activations `pred`; the gradient goes into `out` if given.

        `weight` (rows,) weighs the rows' losses (see the module's docstring)."""
        raise NotImplementedError

    def from_logits(self, logits: np.ndarray, target: np.ndarray, out: np.ndarray | None = None,
                    weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(loss, d loss / d logits) through `fused_activation`, in the stable fused form (into `out`)."""
        raise NotImplementedError(f"loss {self.name!r} has no fused output activation")

    def _start(self, pred: np.ndarray, target: np.ndarray,
               out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, Buffers | None]:
        """(target in pred's dtype, the gradient array, the work-array holder or None for fresh ones)."""
        target = target.astype(pred.dtype, copy=False)
        if out is None:
            return target, np.empty_like(pred), None
        if self._buffers is None:
            self._buffers = Buffers()
        return target, out, self._buffers


LOSSES = Registry[Loss]("loss")


@LOSSES.register("mse")
class MeanSquaredError(Loss):
    """mean((pred - target)²) over batch and outputs."""

    def forward(self, pred, target, out=None, weight=None):
        target, grad, buffers = self._start(pred, target, out)
        if weight is not None:  # gradient 2 wᵢ d / (outputs Σ w); the loss is Σ grad·d / 2
            diff = np.subtract(pred, target, out=scratch(buffers, "diff", pred.shape, pred.dtype))
            np.multiply(diff, _row_factor(weight, 2.0 / pred.shape[1], buffers, pred.dtype), out=grad)
            return float(np.vdot(grad, diff)) / 2.0, grad
        diff = np.subtract(pred, target, out=grad)
        loss = float(np.vdot(diff, diff)) / diff.size
        diff *= 2.0 / diff.size
        return loss, diff


@LOSSES.register("mae")
class MeanAbsoluteError(Loss):
    """mean(|pred - target|) over batch and outputs; the gradient at 0 is 0."""

    def forward(self, pred, target, out=None, weight=None):
        target, grad, buffers = self._start(pred, target, out)
        if weight is not None:  # gradient sign(d) wᵢ / (outputs Σ w); the loss is Σ grad·d
            diff = np.subtract(pred, target, out=scratch(buffers, "diff", pred.shape, pred.dtype))
            grad = np.sign(diff, out=grad)
            grad *= _row_factor(weight, 1.0 / pred.shape[1], buffers, pred.dtype)
            return float(np.vdot(grad, diff)), grad
        diff = np.subtract(pred, target, out=grad)
        loss = _mean(np.abs(diff, out=scratch(buffers, "abs", diff.shape, diff.dtype)))
        grad = np.sign(diff, out=diff)
        grad /= grad.size
        return loss, grad


@LOSSES.register("huber")
class Huber(Loss):
    """mean over batch and outputs of d²/2 if |d| <= delta, else delta (|d| - delta/2); d = pred - target."""

    def __init__(self, delta: PositiveFloat = 1.0):
        self.delta = delta

    def forward(self, pred, target, out=None, weight=None):
        target, grad, buffers = self._start(pred, target, out)
        diff = np.subtract(pred, target, out=grad)
        abs_diff = np.abs(diff, out=scratch(buffers, "abs", diff.shape, diff.dtype))
        clipped = np.clip(diff, -self.delta, self.delta, out=diff)  # the gradient, before the mean
        # with c = |clipped| = min(|d|, delta): c (|d| - c/2) is d²/2 inside and delta (|d| - delta/2) outside
        half_c = np.abs(clipped, out=scratch(buffers, "half_c", diff.shape, diff.dtype))
        half_c *= 0.5
        abs_diff -= half_c
        if weight is not None:
            factor = _row_factor(weight, 1.0 / pred.shape[1], buffers, pred.dtype)
            half_c *= factor
            clipped *= factor
            return 2.0 * float(np.vdot(half_c, abs_diff)), clipped
        loss = 2.0 * float(np.vdot(half_c, abs_diff)) / diff.size
        clipped /= clipped.size
        return loss, clipped


@LOSSES.register("binary_crossentropy")
class BinaryCrossentropy(Loss):
    """-mean(y log p + (1-y) log(1-p)) over all elements (PyTorch's BCELoss); p clipped to [eps, 1-eps]."""

    fused_activation = "sigmoid"

    def forward(self, pred, target, out=None, weight=None):
        target, grad, buffers = self._start(pred, target, out)
        factor = None if weight is None else _row_factor(weight, 1.0 / pred.shape[1], buffers, pred.dtype)
        p = _clip_probabilities(pred, scratch(buffers, "p", pred.shape, pred.dtype))
        one_minus_p = np.subtract(1.0, p, out=scratch(buffers, "one_minus_p", pred.shape, pred.dtype))
        elementwise = np.log(p, out=scratch(buffers, "elementwise", pred.shape, pred.dtype))
        elementwise *= target
        np.log(one_minus_p, out=grad)  # the gradient array as work space until the end
        grad *= np.subtract(1.0, target, out=scratch(buffers, "one_minus_y", pred.shape, pred.dtype))
        elementwise += grad
        if factor is None:
            loss = -_mean(elementwise)
        else:
            elementwise *= factor
            loss = -float(np.add.reduce(elementwise, axis=None))
        # d/dp = (p - y) / (p (1 - p)) / n, at the clipped p
        np.subtract(p, target, out=grad)
        one_minus_p *= p
        grad /= one_minus_p
        if factor is None:
            grad /= grad.size
        else:
            grad *= factor
        return loss, grad

    def from_logits(self, logits, target, out=None, weight=None):
        target, grad, buffers = self._start(logits, target, out)
        shape, dtype = logits.shape, logits.dtype
        factor = None if weight is None else _row_factor(weight, 1.0 / shape[1], buffers, dtype)
        # -[y log σ(z) + (1-y) log(1-σ(z))] = max(z, 0) - z y + log(1 + exp(-|z|))
        e = np.copysign(logits, -1.0, out=scratch(buffers, "e", shape, dtype))
        exp_nonpositive(e, out=e, buffers=buffers)  # e = exp(-|z|), shared with σ below
        softplus_tail = np.log1p(e, out=scratch(buffers, "tail", shape, dtype))
        elementwise = np.maximum(logits, 0, out=grad)
        elementwise -= np.multiply(logits, target, out=scratch(buffers, "zy", shape, dtype))
        elementwise += softplus_tail
        if factor is None:
            loss = _mean(elementwise)
        else:
            elementwise *= factor
            loss = float(np.add.reduce(elementwise, axis=None))
        # d/dz = (σ(z) - y) / n, with σ(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0
        denominator = np.add(e, 1.0, out=softplus_tail)
        negative = np.less(logits, 0, out=scratch(buffers, "negative", shape, np.bool_))
        grad = np.multiply(e, negative, out=grad)
        grad += np.logical_not(negative, out=negative)
        grad /= denominator
        grad -= target
        if factor is None:
            grad /= grad.size
        else:
            grad *= factor
        return loss, grad


@LOSSES.register("categorical_crossentropy")
class CategoricalCrossentropy(Loss):
    """mean over rows of -Σ_k y_k log p_k, p clipped to [eps, 1-eps]; targets one-hot (batch, classes)."""

    fused_activation = "softmax"

    def forward(self, pred, target, out=None, weight=None):
        target, grad, buffers = self._start(pred, target, out)
        rows = pred.shape[0]
        p = _clip_probabilities(pred, scratch(buffers, "p", pred.shape, pred.dtype))
        log_p = np.log(p, out=grad)  # the gradient array as work space until the end
        if weight is not None:  # with u = -wᵢ y / Σ w: the loss is Σ u log p, the gradient u / p
            scaled = np.multiply(target, _row_factor(weight, -1.0, buffers, pred.dtype),
                                 out=scratch(buffers, "scaled_target", pred.shape, pred.dtype))
            loss = float(np.vdot(scaled, log_p))
            return loss, np.divide(scaled, p, out=grad)
        loss = -float(np.einsum("ij,ij->", target, log_p)) / rows
        grad = np.divide(target, p, out=grad)  # d/dp = -y / p / rows
        grad *= -1.0 / rows
        return loss, grad

    def from_logits(self, logits, target, out=None, weight=None):
        target, grad, buffers = self._start(logits, target, out)
        rows = logits.shape[0]
        row_values = scratch(buffers, "rows", (rows, 1), logits.dtype)
        # -Σ y (z - logsumexp(z)) with the row maximum m taken out of the exponentials: with rows of y
        # summing to 1 (one-hot targets) that is Σ_rows log Σ_k exp(z - m) - Σ y (z - m)
        shifted = np.subtract(logits, np.maximum.reduce(logits, axis=1, keepdims=True, out=row_values),
                              out=grad)
        exps = exp_nonpositive(shifted, out=scratch(buffers, "exps", logits.shape, logits.dtype),
                               buffers=buffers)
        sums = np.add.reduce(exps, axis=1, keepdims=True, out=row_values)
        log_sums = np.log(sums, out=scratch(buffers, "log_sums", (rows, 1), logits.dtype))
        if weight is None:
            loss = (float(np.add.reduce(log_sums, axis=None)) - float(np.vdot(target, shifted))) / rows
        else:  # Σ wᵢ (log Σ exp - Σ y (z - m)) / Σ w, with the row factor wᵢ / Σ w
            factor = _row_factor(weight, 1.0, buffers, logits.dtype)
            scaled = np.multiply(target, factor, out=scratch(buffers, "scaled_target", logits.shape, logits.dtype))
            loss = float(np.vdot(factor, log_sums)) - float(np.vdot(scaled, shifted))
        # d/dz = (softmax(z) - y) / rows, valid because each target row sums to 1
        grad = np.divide(exps, sums, out=grad)
        grad -= target
        if weight is None:
            grad /= rows
        else:
            grad *= factor
        return loss, grad
