"""Activations: each knows its forward map and its derivative, on 2-D (batch, units) arrays.

`forward(z, out)` returns the activation of the pre-activation `z`; `backward(z, a, grad_a, out)` returns
the gradient with respect to `z`, given `z`, the forward output `a` and the gradient with respect to `a`.
Both keep the dtype of their input and write into `out` when given: `out` may be `z` itself in `forward`
and `grad_a` itself in `backward`. The formulas follow PyTorch's (`torch.nn.functional`).

Nothing here overflows or underflows for any finite input: an exponential whose value would fall below the
square root of the dtype's smallest normal number is set to exactly 0, so that products taken downstream
never produce denormals either.
"""

# No `from __future__ import annotations`: `parameters_model` reads the constructor annotations at run time.
import math
from typing import Literal

import numpy as np

from nncli.errors import ConfigError
from nncli.nn.erf import erf
from nncli.nn.params import NonNegativeFloat, PositiveFloat
from nncli.registry import Configurable, Registry

RELU_FAMILY = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu"})
"""Activations whose layers default to He initialisation."""

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715


def _copy_into(source: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """`source` copied into `out` (a new array when `out` is None; nothing to do when it is `source`)."""
    if out is None:
        return source.copy()
    if out is not source:
        np.copyto(out, source)
    return out


def exp_nonpositive(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(x) for x <= 0, exactly 0 where it would be below sqrt(smallest normal) of the dtype."""
    floor = 0.5 * math.log(np.finfo(x.dtype).tiny)  # about -354 in float64, -44 in float32
    keep = x > floor
    out = np.zeros_like(x) if out is None else out
    np.exp(x, out=out, where=keep)
    np.copyto(out, 0, where=~keep)
    return out


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 / (1 + exp(-z)), computed from exp(-|z|) so that it never overflows."""
    positive = z >= 0
    out = np.abs(z, out=out)
    np.negative(out, out=out)
    exp_nonpositive(out, out=out)  # e = exp(-|z|)
    denominator = out + 1.0
    np.copyto(out, 1, where=positive)  # z >= 0: 1 / (1 + e); z < 0: e / (1 + e)
    out /= denominator
    return out


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise softmax over axis 1, with each row's maximum subtracted first."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    exp_nonpositive(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


class Activation(Configurable):
    """Base class: a nonlinearity applied to a layer's pre-activation, with its derivative."""

    def __init__(self) -> None:
        """No parameters unless a subclass declares some."""

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
        raise ConfigError("an activation given as a mapping needs a 'type'; valid: "
                          + ", ".join(ACTIVATIONS.names()))
    return ACTIVATIONS.create(params.pop("type"), **params)


@ACTIVATIONS.register("linear")
class Linear(Activation):
    """a = z."""

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
        return np.multiply(grad_a, z > 0, out=out)


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """a = z for z > 0, negative_slope * z otherwise."""

    def __init__(self, negative_slope: NonNegativeFloat = 0.01):
        self.negative_slope = negative_slope

    def forward(self, z, out=None):
        negative = z <= 0
        out = _copy_into(z, out)
        return np.multiply(out, self.negative_slope, out=out, where=negative)

    def backward(self, z, a, grad_a, out=None):
        negative = z <= 0
        out = _copy_into(grad_a, out)
        return np.multiply(out, self.negative_slope, out=out, where=negative)


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """a = z for z > 0, alpha * (exp(z) - 1) otherwise."""

    def __init__(self, alpha: NonNegativeFloat = 1.0):
        self.alpha = alpha

    def forward(self, z, out=None):
        negative = z <= 0
        out = _copy_into(z, out)
        np.expm1(out, out=out, where=negative)
        return np.multiply(out, self.alpha, out=out, where=negative)

    def backward(self, z, a, grad_a, out=None):
        negative = z <= 0
        slope = a + self.alpha  # alpha * exp(z) for z <= 0, read off the output
        out = _copy_into(grad_a, out)
        return np.multiply(out, slope, out=out, where=negative)


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """a = z * Φ(z), Φ the standard normal CDF; `approximate="tanh"` uses PyTorch's tanh formula."""

    def __init__(self, approximate: Literal["none", "tanh"] = "none"):
        self.approximate = approximate

    def _cdf(self, z: np.ndarray) -> np.ndarray:
        """Φ(z) = (1 + erf(z / √2)) / 2."""
        cdf = np.multiply(z, _SQRT_HALF)
        erf(cdf, out=cdf)
        cdf += 1.0
        cdf *= 0.5
        return cdf

    def _tanh_inner(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(clipped z, tanh(√(2/π) (z + κ z³))); clipped at ±100, where tanh is ±1, so z³ stays finite."""
        clipped = np.clip(z, -100.0, 100.0)
        inner = clipped * clipped
        inner *= _GELU_KAPPA
        inner += 1.0
        inner *= clipped
        inner *= _SQRT_2_OVER_PI
        return clipped, np.tanh(inner, out=inner)

    def forward(self, z, out=None):
        if self.approximate == "tanh":
            _, factor = self._tanh_inner(z)
            factor += 1.0
            factor *= 0.5
        else:
            factor = self._cdf(z)
        return np.multiply(z, factor, out=out)

    def backward(self, z, a, grad_a, out=None):
        if self.approximate == "tanh":
            clipped, tanh_inner = self._tanh_inner(z)
            # d/dz [z/2 (1 + t)] = (1 + t)/2 + z/2 (1 - t²) √(2/π) (1 + 3κ z²)
            inner_derivative = clipped * clipped
            inner_derivative *= 3.0 * _GELU_KAPPA
            inner_derivative += 1.0
            inner_derivative *= _SQRT_2_OVER_PI
            sech_squared = 1.0 - tanh_inner * tanh_inner
            derivative = 0.5 * z * sech_squared * inner_derivative
            derivative += 0.5 * (1.0 + tanh_inner)
        else:
            # d/dz [z Φ(z)] = Φ(z) + z φ(z)
            clipped = np.clip(z, -64.0, 64.0)  # φ is 0 well before; keeps z² finite
            pdf = clipped * clipped
            pdf *= -0.5
            exp_nonpositive(pdf, out=pdf)
            pdf *= _INV_SQRT_2PI
            pdf *= z
            derivative = self._cdf(z)
            derivative += pdf
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("silu")
class SiLU(Activation):
    """a = z * sigmoid(z) (also called swish)."""

    def forward(self, z, out=None):
        return np.multiply(z, sigmoid(z), out=out)

    def backward(self, z, a, grad_a, out=None):
        s = sigmoid(z)
        derivative = 1.0 - s  # s (1 + z (1 - s))
        derivative *= z
        derivative += 1.0
        derivative *= s
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """a = 1 / (1 + exp(-z)), stable for any finite z."""

    def forward(self, z, out=None):
        return sigmoid(z, out=out)

    def backward(self, z, a, grad_a, out=None):
        derivative = 1.0 - a
        derivative *= a
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """a = tanh(z)."""

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, z, a, grad_a, out=None):
        derivative = np.square(a)
        np.subtract(1.0, derivative, out=derivative)
        return np.multiply(grad_a, derivative, out=out)


@ACTIVATIONS.register("softmax")
class Softmax(Activation):
    """a_ij = exp(z_ij) / Σ_k exp(z_ik), row-wise."""

    def forward(self, z, out=None):
        return softmax(z, out=out)

    def backward(self, z, a, grad_a, out=None):
        # Jacobian-vector product: a ⊙ (g - <g, a>) per row
        projection = np.einsum("ij,ij->i", grad_a, a)[:, np.newaxis]
        out = np.subtract(grad_a, projection, out=out)
        out *= a
        return out


@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """a = log(1 + exp(beta z)) / beta, and a = z where beta z > threshold (as PyTorch)."""

    def __init__(self, beta: PositiveFloat = 1.0, threshold: PositiveFloat = 20.0):
        self.beta = beta
        self.threshold = threshold

    def forward(self, z, out=None):
        scaled = np.multiply(z, self.beta)
        # log(1 + exp(s)) = max(s, 0) + log1p(exp(-|s|)), finite for every s
        soft = np.abs(scaled)
        np.negative(soft, out=soft)
        exp_nonpositive(soft, out=soft)
        np.log1p(soft, out=soft)
        soft += np.maximum(scaled, 0)
        soft /= self.beta
        below = scaled <= self.threshold
        out = _copy_into(z, out)
        np.copyto(out, soft, where=below)
        return out

    def backward(self, z, a, grad_a, out=None):
        scaled = np.multiply(z, self.beta)
        below = scaled <= self.threshold
        derivative = sigmoid(scaled, out=scaled)
        out = _copy_into(grad_a, out)
        return np.multiply(out, derivative, out=out, where=below)
