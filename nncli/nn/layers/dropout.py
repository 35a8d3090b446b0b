"""Inverted dropout: scales kept units by 1/(1-rate) in training, identity at evaluation."""

from __future__ import annotations

import numpy as np

from nncli.nn.layers.base import LAYERS, Layer
from nncli.nn.params import UnitRate


@LAYERS.register("dropout")
class Dropout(Layer):
    """Zeroes each input with probability `rate` during training, drawing from the run's generator."""

    def __init__(self, rate: UnitRate = 0.5):
        self.rate = rate

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        (width,) = input_widths
        self.rng = rng
        self.scale = 1.0 / (1.0 - self.rate)
        return width

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        (x,) = inputs
        self.active = training and self.rate > 0
        if not self.active:
            return x
        uniform = self.rng.random(dtype=self.dtype, out=self.buffer("uniform", x.shape))
        self.keep = np.greater_equal(uniform, self.rate, out=self.buffer("keep", x.shape, np.dtype(np.bool_)))
        output = np.multiply(x, self.keep, out=self.buffer("output", x.shape))
        output *= self.scale
        return output

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        if not self.active:
            return [grad_output]
        grad_x = np.multiply(grad_output, self.keep, out=self.buffer("grad_x", grad_output.shape))
        grad_x *= self.scale
        return [grad_x]
