"""Activations: each knows its forward map and its derivative, on 2-D (batch, units) arrays.

`forward(z, out)` returns the activation of the pre-activation `z`; `backward(z, a, grad_a, out)` returns
the gradient with respect to `z`, given `z`, the forward output `a` and the gradient with respect to `a`.
Both keep the dtype of their input and write into `out` when given (a new array otherwise): `out` may be `z`
itself in `forward` and `grad_a` itself in `backward`. The formulas follow PyTorch's (`torch.nn.functional`).

An activation instance belongs to one layer: it keeps its work arrays (`buffers`) from call to call, so a
training step allocates nothing, and `gelu` and `silu` keep what their forward computed for the backward
that follows on the same `z` and `a` arrays (as a layer calls them; `z` must not change in between).

Nothing here overflows or underflows for any finite input: an exponential whose value would fall below the
square root of the dtype's smallest normal number is set to exactly 0, so that products taken downstream
never produce denormals either. Masks are applied by multiplying with a boolean array rather than through
`where=`, which numpy runs many times slower on scattered masks.
"""

# No `from __future__ import annotations`: `parameters_model` reads the constructor annotations at run time.
import math
from typing import Literal

import numpy as np

from nncli.nn.buffers import Buffers, scratch
from nncli.nn.erf import erf
from nncli.nn.errors import CoreError
from nncli.nn.params import NonNegativeFloat, PositiveFloat
from nncli.registry import Configurable, Registry

RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu"})
"""Activations whose layers default to He initialisation."""

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715
_EXP_FLOORS = {np.dtype(t): 0.5 * math.log(np.finfo(t).tiny) for t in (np.float16, np.float32, np.float64)}


def _copy_into(source: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`source` copied into `out` (a new array when `out` is None; nothing to do when it is `source`)."""
    if out is None:
        return source.copy()
    if out is not source:
        np.copyto(out, source)
    return out


def exp_nonpositive(x: np.ndarray, out: np.ndarray | None = None, buffers: Buffers | None = None) -> np.ndarray:
    """exp(x) for x <= 0, exactly 0 where it would be below sqrt(smallest normal) of the dtype.

    Like `sigmoid` and `softmax` below, it takes its work arrays from `buffers` when given.
    """
    floor = _EXP_FLOORS.get(x.dtype)
    if floor is None:
        floor = 0.5 * math.log(np.finfo(x.dtype).tiny)
    # One reduction tells whether any entry is that low (about -354 in float64, -44 in float32); usually
    # none is, and a plain exp does.
    if np.minimum.reduce(x, axis=None, initial=0.0) > floor:
        return np.exp(x, out=out)
    keep = np.greater(x, floor, out=scratch(buffers, "exp.keep", x.shape, np.bool_))
    out = np.maximum(x, floor, out=out)
    np.exp(out, out=out)
    return np.multiply(out, keep, out=out)


def sigmoid(z: np.ndarray, out: np.ndarray | None = None, buffers: Buffers | None = None) -> np.ndarray:
    """1 / (1 + exp(-z)), computed from e = exp(-|z|) so that it never overflows."""
    negative = np.less(z, 0, out=scratch(buffers, "sigmoid.negative", z.shape, np.bool_))
    out = np.copysign(z, -1.0, out=out)
    exp_nonpositive(out, out=out, buffers=buffers)
    denominator = np.add(out, 1.0, out=scratch(buffers, "sigmoid.denominator", z.shape, out.dtype))
    out *= negative  # numerator: e where z < 0, then 1 where z >= 0
    out += np.logical_not(negative, out=negative)
    out /= denominator
    return out


def softmax(z: np.ndarray, out: np.ndarray | None = None, buffers: Buffers | None = None) -> np.ndarray:
    """Row-wise softmax over axis 1, with each row's maximum subtracted first."""
    rows = scratch(buffers, "softmax.rows", (z.shape[0], 1), z.dtype)
    out = np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True, out=rows), out=out)
    exp_nonpositive(out, out=out, buffers=buffers)
    out /= np.add.reduce(out, axis=1, keepdims=True, out=rows)
    return out


class Activation(Configurable):
    """Base class: a nonlinearity applied to a layer's pre-activation, with its derivative."""

    is_identity = False
    """True only for `linear`: callers skip the copy that `forward` would make."""

    _buffers: Buffers | None = None
    _forward_arrays: tuple[np.ndarray, ...] | None = None  # (z, a, what forward kept for backward)

    def __init__(self) -> None:
        """No parameters unless a subclass declares some."""

    @property
    def buffers(self) -> Buffers:
        """This instance's work arrays, reused from call to call."""
        if self._buffers is None:
            self._buffers = Buffers()
        return self._buffers

    def work(self, key: str, like: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
        """A work array shaped like `like` (in its dtype unless given), kept by this instance."""
        return self.buffers.like(key, like, dtype)

    def _keep(self, z: np.ndarray, a: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """Remember `kept`, computed from `z` by the forward that returned `a`, for the next backward."""
        self._forward_arrays = None if a is z else (z, a, kept)
        return a

    def _kept(self, z: np.ndarray, a: np.ndarray) -> np.ndarray | None:
        """What the forward on these very arrays kept, or None after any other forward."""
        remembered = self._forward_arrays
        if remembered is not None and remembered[0] is z and remembered[1] is a:
            return remembered[2]
        return None

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The activation of `z` (written into `out` if given)."""
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
        """d loss / d z from `z`, the forward output `a` and d loss / d a (written into `out` if given)."""
        raise NotImplementedError


ACTIVATIONS = Registry[Activation]("activation")


def get_activation(spec: str | dict | Activation) -> Activation:
    """An activation from its name (default parameters) or a `{"type": name, **params}` dict."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        return ACTIVATIONS.create(spec)
    params = dict(spec)
    if "type" not in params:
        raise CoreError("an activation given as a mapping needs a 'type'; valid: "
                          + ", ".join(ACTIVATIONS.names()))
    return ACTIVATIONS.create(params.pop("type"), **params)


@ACTIVATIONS.register("linear")
class Linear(Activation):
    """a = z."""

    is_identity = True

    def forward(self, z, out=None):
        return _copy_into(z, out)

    def backward(self, z, a, grad_a, out=None):
        return _copy_into(grad_a, out)


@ACTIVATIONS.register("relu")
class ReLU(Activation):
    """a = max(z, 0); the derivative at 0 is 0."""

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def backward(self, z, a, grad_a, out=None):
        return np.multiply(grad_a, np.greater(z, 0, out=self.work("positive", z, np.bool_)), out=out)


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """a = z for z > 0, negative_slope * z otherwise."""

    def __init__(self, negative_slope: NonNegativeFloat = 0.01):
        self.negative_slope = negative_slope

    def forward(self, z, out=None):
        scaled = np.multiply(z, self.negative_slope, out=self.work("scaled", z))
        # the larger of z and slope·z for a slope below 1, the smaller above: z for z > 0, slope·z otherwise
        pick = np.maximum if self.negative_slope <= 1.0 else np.minimum
        return pick(z, scaled, out=out)

    def backward(self, z, a, grad_a, out=None):
        negative = np.less_equal(z, 0, out=self.work("negative", z, np.bool_))
        scaled = np.multiply(grad_a, self.negative_slope, out=self.work("scaled", z))
        scaled *= negative
        out = np.multiply(grad_a, np.logical_not(negative, out=negative), out=out)
        out += scaled
        return out


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """a = z for z > 0, alpha * (exp(z) - 1) otherwise."""

    def __init__(self, alpha: NonNegativeFloat = 1.0):
        self.alpha = alpha

    def forward(self, z, out=None):
        # max(z, 0) + alpha (exp(min(z, 0)) - 1): one of the two terms is 0 for every z
        negative_part = np.minimum(z, 0, out=self.work("negative_part", z))
        np.expm1(negative_part, out=negative_part)
        negative_part *= self.alpha
        out = np.maximum(z, 0, out=out)
        out += negative_part
        return out

    def backward(self, z, a, grad_a, out=None):
        negative = np.less_equal(z, 0, out=self.work("negative", z, np.bool_))
        slope = np.add(a, self.alpha, out=self.work("slope", z))  # alpha exp(z) for z <= 0, read off a
        slope *= negative
        slope += np.logical_not(negative, out=negative)  # and 1 for z > 0
        return np.multiply(grad_a, slope, out=out)


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """a = z * Φ(z), Φ the standard normal CDF; `approximate="tanh"` uses PyTorch's tanh formula.

    The forward keeps Φ(z) (or the tanh of the approximation) for the backward, which then needs no erf.
    """

    def __init__(self, approximate: Literal["none", "tanh"] = "none"):
        self.approximate = approximate

    def _cdf(self, z: np.ndarray) -> np.ndarray:
        """Φ(z) = (1 + erf(z / √2)) / 2."""
        cdf = np.multiply(z, _SQRT_HALF, out=self.work("cdf", z))
        erf(cdf, out=cdf, buffers=self.buffers)
        cdf += 1.0
        cdf *= 0.5
        return cdf

    def _tanh_inner(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(clipped z, tanh(√(2/π) (z + κ z³))); clipped at ±100, where tanh is ±1, so z³ stays finite."""
        clipped = np.clip(z, -100.0, 100.0, out=self.work("clipped", z))
        inner = np.multiply(clipped, clipped, out=self.work("tanh", z))
        inner *= _GELU_KAPPA
        inner += 1.0
        inner *= clipped
        inner *= _SQRT_2_OVER_PI
        return clipped, np.tanh(inner, out=inner)

    def forward(self, z, out=None):
        if self.approximate == "tanh":
            _, kept = self._tanh_inner(z)
            factor = np.add(kept, 1.0, out=self.work("factor", z))
            factor *= 0.5
        else:
            kept = factor = self._cdf(z)
        return self._keep(z, np.multiply(z, factor, out=out), kept)

    def backward(self, z, a, grad_a, out=None):
        kept = self._kept(z, a)
        derivative = self.work("derivative", z)
        if self.approximate == "tanh":
            if kept is None:
                _, kept = self._tanh_inner(z)
            clipped = np.clip(z, -100.0, 100.0, out=self.work("clipped", z))
            # d/dz [z/2 (1 + t)] = (1 + t)/2 + z/2 (1 - t²) √(2/π) (1 + 3κ z²)
            inner_derivative = np.multiply(clipped, clipped, out=clipped)
            inner_derivative *= 3.0 * _GELU_KAPPA
            inner_derivative += 1.0
            inner_derivative *= _SQRT_2_OVER_PI
            np.multiply(kept, kept, out=derivative)
            np.subtract(1.0, derivative, out=derivative)  # sech² = 1 - t²
            half_z = np.multiply(z, 0.5, out=self.work("factor", z))
            np.multiply(half_z, derivative, out=derivative)
            derivative *= inner_derivative
            np.add(kept, 1.0, out=inner_derivative)
            inner_derivative *= 0.5
            derivative += inner_derivative
        else:
            cdf = self._cdf(z) if kept is None else kept
            # d/dz [z Φ(z)] = Φ(z) + z φ(z)
            pdf = np.clip(z, -64.0, 64.0, out=derivative)  # φ is 0 well before; keeps z² finite
            np.multiply(pdf, pdf, out=pdf)
            pdf *= -0.5
            exp_nonpositive(pdf, out=pdf, buffers=self.buffers)
            pdf *= _INV_SQRT_2PI
            pdf *= z
            np.add(cdf, pdf, out=derivative)
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("silu")
class SiLU(Activation):
    """a = z * sigmoid(z) (also called swish); the forward keeps sigmoid(z) for the backward."""

    def forward(self, z, out=None):
        s = sigmoid(z, out=self.work("sigmoid", z), buffers=self.buffers)
        return self._keep(z, np.multiply(z, s, out=out), s)

    def backward(self, z, a, grad_a, out=None):
        s = self._kept(z, a)
        if s is None:
            s = sigmoid(z, out=self.work("sigmoid", z), buffers=self.buffers)
        derivative = np.subtract(1.0, s, out=self.work("derivative", z))  # s (1 + z (1 - s))
        derivative *= z
        derivative += 1.0
        derivative *= s
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """a = 1 / (1 + exp(-z)), stable for any finite z."""

    def forward(self, z, out=None):
        return sigmoid(z, out=out, buffers=self.buffers)

    def backward(self, z, a, grad_a, out=None):
        derivative = np.subtract(1.0, a, out=self.work("derivative", a))
        derivative *= a
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """a = tanh(z)."""

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, z, a, grad_a, out=None):
        derivative = np.multiply(a, a, out=self.work("derivative", a))
        np.subtract(1.0, derivative, out=derivative)
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("softmax")
class Softmax(Activation):
    """a_ij = exp(z_ij) / Σ_k exp(z_ik), row-wise."""

    def forward(self, z, out=None):
        return softmax(z, out=out, buffers=self.buffers)

    def backward(self, z, a, grad_a, out=None):
        # Jacobian-vector product: a ⊙ (g - <g, a>) per row
        projection = self.buffers.get("projection", (a.shape[0],), a.dtype)
        np.einsum("ij,ij->i", grad_a, a, out=projection)
        out = np.subtract(grad_a, projection[:, np.newaxis], out=out)
        out *= a
        return out


@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """a = log(1 + exp(beta z)) / beta, and a = z where beta z > threshold (as PyTorch)."""

    def __init__(self, beta: PositiveFloat = 1.0, threshold: PositiveFloat = 20.0):
        self.beta = beta
        self.threshold = threshold

    def forward(self, z, out=None):
        scaled = np.multiply(z, self.beta, out=self.work("scaled", z))
        below = np.less_equal(scaled, self.threshold, out=self.work("below", z, np.bool_))
        # log(1 + exp(s)) = max(s, 0) + log1p(exp(-|s|)), finite for every s
        soft = np.copysign(scaled, -1.0, out=self.work("soft", z))
        exp_nonpositive(soft, out=soft, buffers=self.buffers)
        np.log1p(soft, out=soft)
        soft += np.maximum(scaled, 0, out=scaled)
        soft /= self.beta
        out = _copy_into(z, out)
        np.copyto(out, soft, where=below)  # above the threshold is rare: long runs, a fast masked copy
        return out

    def backward(self, z, a, grad_a, out=None):
        scaled = np.multiply(z, self.beta, out=self.work("scaled", z))
        below = np.less_equal(scaled, self.threshold, out=self.work("below", z, np.bool_))
        derivative = sigmoid(scaled, out=scaled, buffers=self.buffers)
        out = _copy_into(grad_a, out)
        return np.multiply(out, derivative, out=out, where=below)
