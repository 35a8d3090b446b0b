"""Embedding: a categorical column's index picks a learned row of a table."""

from __future__ import annotations

import numpy as np

from nncli.nn.layers.base import LAYERS, Layer
from nncli.nn.layers.dense import InitializerName
from nncli.nn.params import Name, PositiveInt

DEFAULT_STD = 1.0
"""The table's default init: N(0, 1), as PyTorch's `nn.Embedding`."""


@LAYERS.register("embedding")
class Embedding(Layer):
    """Each row's category index picks a row of weight, a (categories + 1, dim) table; row 0: unknown or infrequent.

    The layer reads its column's index array (0..categories) from the data, not a layer's output: its one input
    width is the number of table rows. The gradient is a dense table, as torch's default (`sparse=False`): a
    row seen several times in a batch gets the sum of their gradients; rows not seen get 0. L1/L2 apply to the
    table, a weight matrix (so every row decays, seen or not, as a penalty on the whole table does in torch).
    """

    reads_column = True  # its input is the data's index array for `column`
    regularized = ("weight",)

    def __init__(self, column: Name, dim: PositiveInt, init: InitializerName = None):
        self.column = column
        self.dim = dim
        self.init = init

    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        from nncli.nn.initializers import INITIALIZERS

        (rows,) = input_widths
        initializer = INITIALIZERS.create("normal", std=DEFAULT_STD) if self.init is None \
            else INITIALIZERS.create(self.init)
        self.add_parameter("weight", initializer((rows, self.dim), rng, self.dtype))
        self.skip_input_grad = True  # an index has no gradient
        return self.dim

    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        (index,) = inputs
        self.index = index
        output = self.buffer("output", (index.shape[0], self.dim))
        # indices come checked from the data (0..categories): mode="clip" spares np.take a temporary copy
        return np.take(self.params["weight"], index, axis=0, out=output, mode="clip")

    def backward(self, grad_output: np.ndarray) -> list[np.ndarray | None]:
        grad_weight = self.grads["weight"]
        grad_weight.fill(0)
        np.add.at(grad_weight, self.index, grad_output)  # unbuffered: repeated rows accumulate
        return [None]  # the input is the data: no gradient for it
