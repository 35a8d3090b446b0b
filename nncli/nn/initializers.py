"""Weight initializers for a dense weight of shape (fan_in, fan_out).

Plain (not truncated) normals, as PyTorch's `kaiming_normal_` / `xavier_normal_`. Samples are drawn in
float64 from the generator and cast to the requested dtype, so a float32 and a float64 run with the same
seed start from the same weights (up to rounding).
"""

# No `from __future__ import annotations`: `parameters_model` reads the constructor annotations at run time.
import math

import numpy as np
from numpy.typing import DTypeLike

from nncli.nn.activations import RELU_FAMILY
from nncli.nn.params import Float, PositiveFloat
from nncli.registry import Configurable, Registry


class Initializer(Configurable):
    """Base class: draws a weight matrix from a `numpy.random.Generator`."""

    def __init__(self) -> None:
        """No parameters unless a subclass declares some."""

    def __call__(self, shape: tuple[int, int], rng: np.random.Generator, dtype: DTypeLike) -> np.ndarray:
        """A weight of `shape` = (fan_in, fan_out) in `dtype`, deterministic given `rng`'s state."""
        raise NotImplementedError


INITIALIZERS = Registry[Initializer]("initializer")


def default_initializer(activation_name: str) -> str:
    """The default init for a layer with this activation: he_normal (ReLU family), else glorot_uniform."""
    return "he_normal" if activation_name in RELU_FAMILY else "glorot_uniform"


def _normal(shape: tuple[int, int], rng: np.random.Generator, dtype: DTypeLike, std: float,
            mean: float = 0.0) -> np.ndarray:
    return rng.normal(mean, std, size=shape).astype(dtype, copy=False)


def _uniform(shape: tuple[int, int], rng: np.random.Generator, dtype: DTypeLike, bound: float) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


@INITIALIZERS.register("he_normal")
class HeNormal(Initializer):
    """W ~ N(0, 2 / fan_in)."""

    def __call__(self, shape, rng, dtype):
        return _normal(shape, rng, dtype, std=math.sqrt(2.0 / shape[0]))


@INITIALIZERS.register("he_uniform")
class HeUniform(Initializer):
    """W ~ U(-√(6 / fan_in), √(6 / fan_in))."""

    def __call__(self, shape, rng, dtype):
        return _uniform(shape, rng, dtype, bound=math.sqrt(6.0 / shape[0]))


@INITIALIZERS.register("glorot_normal")
class GlorotNormal(Initializer):
    """W ~ N(0, 2 / (fan_in + fan_out))."""

    def __call__(self, shape, rng, dtype):
        return _normal(shape, rng, dtype, std=math.sqrt(2.0 / (shape[0] + shape[1])))


@INITIALIZERS.register("glorot_uniform")
class GlorotUniform(Initializer):
    """W ~ U(-√(6 / (fan_in + fan_out)), √(6 / (fan_in + fan_out)))."""

    def __call__(self, shape, rng, dtype):
        return _uniform(shape, rng, dtype, bound=math.sqrt(6.0 / (shape[0] + shape[1])))


@INITIALIZERS.register("lecun_normal")
class LecunNormal(Initializer):
    """W ~ N(0, 1 / fan_in)."""

    def __call__(self, shape, rng, dtype):
        return _normal(shape, rng, dtype, std=math.sqrt(1.0 / shape[0]))


@INITIALIZERS.register("normal")
class Normal(Initializer):
    """W ~ N(mean, std²)."""

    def __init__(self, mean: Float = 0.0, std: PositiveFloat = 0.05):
        self.mean = mean
        self.std = std

    def __call__(self, shape, rng, dtype):
        return _normal(shape, rng, dtype, std=self.std, mean=self.mean)


@INITIALIZERS.register("zeros")
class Zeros(Initializer):
    """W = 0 (draws nothing from the generator)."""

    def __call__(self, shape, rng, dtype):
        return np.zeros(shape, dtype=dtype)
