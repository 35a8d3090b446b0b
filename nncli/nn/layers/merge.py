"""Merge layers: join several inputs into one."""

from __future__ import annotations

import numpy as np

from nncli.nn.errors import ShapeError
from nncli.nn.layers.base import LAYERS, Layer


@LAYERS.register("concat")
class Concat(Layer):
    """Concatenates its inputs along the feature axis, in the order of `inputs`."""

    merge = True

    def __init__(self):
        pass

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        stops = np.cumsum(input_widths).tolist()
        self.columns = [slice(stop - width, stop) for stop, width in zip(stops, input_widths, strict=False)]
        return int(stops[-1])

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        rows = inputs[0].shape[0]
        output = self.buffer("output", (rows, sum(x.shape[1] for x in inputs)))
        return np.concatenate(inputs, axis=1, out=output)

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        return [grad_output[:, columns] for columns in self.columns]  # views, as np.split's but cheaper


@LAYERS.register("add")
class Add(Layer):
    """Sums inputs of equal width elementwise."""

    merge = True

    def __init__(self):
        pass

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        if len(set(input_widths)) != 1:
            raise ShapeError(f"add needs inputs of equal width, got widths {input_widths}")
        self.input_count = len(input_widths)
        return input_widths[0]

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        output = self.buffer("output", inputs[0].shape)
        np.add(inputs[0], inputs[1], out=output)
        for x in inputs[2:]:
            output += x
        return output

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray]:
        return [grad_output] * self.input_count
