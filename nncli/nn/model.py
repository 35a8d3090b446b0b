"""The model: a graph of layers, a chain when no layer names its inputs.

The output layer's activation is taken out of the graph (`output_activation`): `forward` and `backward` work
on the logits, what the training objective (`nncli.nn.objective`) pairs with the loss, and `predict` applies
the activation (and maps standardized targets back to their own units, with a `target_scale`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nncli.nn.activations import Activation
from nncli.nn.buffers import Buffers
from nncli.nn.errors import CoreError, StateError
from nncli.nn.graph import DATA_INPUT, GRAPH_KEYS, default_layer_name
from nncli.nn.layers import LAYERS, Layer
from nncli.nn.targetscale import TargetScale

EVALUATION_BATCH = 8192
"""Rows per pass when predicting: large batches amortise numpy's per-call cost."""


class Model:
    """Layers in topological order (the config's order); the last layer's output is the model's output.

    `layer_specs` are resolved layer configs: `{"type", "name", "inputs", **parameters}`. A layer output used
    by several layers receives the sum of their gradients.

    The data comes as named inputs (see `data_inputs`): `input`, the (rows, input_width) feature matrix, and for
    each embedded column its index array (rows,) of 0..categories[column] (0: unknown or infrequent). A model
    without embeddings also takes the feature matrix alone.
    """

    def __init__(self, layer_specs: list[dict[str, Any]], input_width: int, *, dtype: Any = np.float32,
                 rng: np.random.Generator, categories: Mapping[str, int] | None = None):
        self.dtype = np.dtype(dtype)
        self.input_width = input_width
        self.categories = dict(categories or {})  # embedded column -> its number of categories
        self.specs = [dict(spec) for spec in layer_specs]
        self.names = [spec.get("name") or default_layer_name(spec["type"], i) for i, spec in enumerate(self.specs)]
        self.data_names = [DATA_INPUT]  # the named data inputs; data input k is layer input index -1 - k
        self.layers: list[Layer] = []
        self.inputs: list[list[int]] = []  # per layer, indices of its input layers; negative: a data input
        self.widths: list[int] = []
        index_of = {DATA_INPUT: -1}
        for index, spec in enumerate(self.specs):
            previous = self.names[index - 1] if index else DATA_INPUT
            cls = LAYERS.get(spec["type"])
            if getattr(cls, "reads_column", False):
                input_indices = [self._column_input(spec["column"], index)]
            else:
                input_indices = [index_of[name] for name in spec.get("inputs", [previous])]
            layer = cls.from_config({key: value for key, value in spec.items() if key not in GRAPH_KEYS})
            input_widths = [self._data_width(j) if j < 0 else self.widths[j] for j in input_indices]
            try:
                width = layer.build(input_widths, rng, self.dtype)
            except CoreError as error:
                error.layer = index if error.layer is None else error.layer
                raise
            layer.skip_input_grad = all(j < 0 for j in input_indices)
            self.layers.append(layer)
            self.inputs.append(input_indices)
            self.widths.append(width)
            index_of[self.names[index]] = index
        self.output_activation: Activation = self.layers[-1].detach_activation()
        self.target_scale: TargetScale | None = None  # set when the network learns standardized targets
        self._buffers = Buffers()
        self._pack_parameters()
        self.parameters = [(f"layers.{i}.{key}", layer.params[key], layer.grads[key])
                           for i, layer in enumerate(self.layers) for key in layer.params]

    def _column_input(self, column: str, layer: int) -> int:
        """The data input index of an embedded column's index array, added on first use."""
        if column not in self.categories:
            raise CoreError(f"column {column!r} has no category count: the model was given "
                            f"{sorted(self.categories) or 'none'}", layer=layer)
        if column in self.data_names:
            raise CoreError(f"column {column!r} is embedded twice", layer=layer)
        self.data_names.append(column)
        return -len(self.data_names)

    def _data_width(self, j: int) -> int:
        """The width of data input `j` (< 0): the feature matrix's, or an embedding table's rows."""
        name = self.data_names[-1 - j]
        return self.input_width if name == DATA_INPUT else self.categories[name] + 1

    def data_inputs(self, x: np.ndarray | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The data inputs in `data_names` order, from the feature matrix alone or a mapping of named inputs."""
        if isinstance(x, np.ndarray):
            x = {DATA_INPUT: x}
        missing = [name for name in self.data_names if name not in x]
        if missing:
            raise CoreError(f"the data lacks the inputs {missing}: the model takes {self.data_names}")
        return [x[name] for name in self.data_names]

    def _pack_parameters(self) -> None:
        """Make every parameter and gradient a view into one flat array each.

        Optimizers and clipping then work on the whole model in a handful of numpy calls instead of a few
        per parameter: on small networks that per-call overhead is most of a training step.
        """
        arrays = [(layer, key) for layer in self.layers for key in layer.params]
        total = sum(layer.params[key].size for layer, key in arrays)
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grads = np.zeros(total, dtype=self.dtype)
        offset = 0
        for layer, key in arrays:
            shape, size = layer.params[key].shape, layer.params[key].size
            param = self.flat_params[offset:offset + size].reshape(shape)
            param[...] = layer.params[key]
            layer.params[key] = param
            layer.grads[key] = self.flat_grads[offset:offset + size].reshape(shape)
            offset += size

    @property
    def output_width(self) -> int:
        return self.widths[-1]

    def forward(self, x: np.ndarray | Mapping[str, np.ndarray], training: bool = False) -> np.ndarray:
        """The logits for a batch (the feature matrix, or named inputs): the output layer's output before
        `output_activation`.

        The array may be a reused buffer: copy it to keep it past the next call.
        """
        data = self.data_inputs(x)
        outputs: list[np.ndarray] = []  # a layer's inputs come before it
        for index, layer in enumerate(self.layers):
            outputs.append(layer.forward([data[-1 - j] if j < 0 else outputs[j] for j in self.inputs[index]],
                                         training))
        return outputs[-1]

    def backward(self, grad_logits: np.ndarray) -> None:
        """Fill every layer's `grads` from d loss / d logits."""
        grads: list[np.ndarray | None] = [None] * len(self.layers)
        grads[-1] = grad_logits
        summed: set[int] = set()  # outputs whose gradient is already the sum in their layer's "grad_sum" buffer
        for index in range(len(self.layers) - 1, -1, -1):
            layer, grad = self.layers[index], grads[index]
            if grad is None:
                continue
            for j, input_grad in zip(self.inputs[index], layer.backward(grad), strict=False):
                if j < 0 or input_grad is None:  # the data's gradient, which nobody needs
                    continue
                earlier = grads[j]  # the gradient of output j from the layers after this one
                if earlier is None:
                    grads[j] = input_grad
                elif j in summed:
                    grads[j] += input_grad
                else:
                    # never in place on the first gradient: it may be another layer's buffer (or this one)
                    grads[j] = np.add(earlier, input_grad, out=self.layers[j].buffer("grad_sum", input_grad.shape))
                    summed.add(j)

    def predict(self, x: np.ndarray | Mapping[str, np.ndarray], batch_size: int = EVALUATION_BATCH) -> np.ndarray:
        """Evaluation-mode outputs for all rows of the feature matrix or named inputs (the output activation
        applied, in the targets' own units)."""
        data = self.data_inputs(x if isinstance(x, Mapping) else np.asarray(x, dtype=self.dtype))
        data[0] = np.asarray(data[0], dtype=self.dtype)
        rows = data[0].shape[0]
        for name, index in zip(self.data_names[1:], data[1:], strict=True):
            self._check_index(name, np.asarray(index), rows)
        result = np.empty((rows, self.output_width), dtype=self.dtype)
        activation = self.output_activation
        for start in range(0, rows, batch_size):
            batch = {name: array[start:start + batch_size] for name, array in zip(self.data_names, data, strict=True)}
            logits = self.forward(batch, training=False)
            if not activation.is_identity:
                logits = activation.forward(logits, out=self._buffers.like("outputs", logits))
            result[start:start + batch_size] = logits
        if self.target_scale is not None:
            self.target_scale.restore(result, out=result)
        return result

    def _check_index(self, column: str, index: np.ndarray, rows: int) -> None:
        """An embedded column's indices as the lookup needs them: integers 0..categories, one per row. (The
        lookup clips to spare a copy in training, where the data layer made them; predict may get them from
        anyone.)"""
        if index.shape != (rows,) or index.dtype.kind not in "iu":
            raise CoreError(f"input {column!r} must be {rows} integer category indices, got {index.dtype} of "
                            f"shape {index.shape}")
        if rows and (index.min() < 0 or index.max() > self.categories[column]):
            raise CoreError(f"input {column!r} holds indices outside 0..{self.categories[column]} (0: unknown, "
                            f"1..{self.categories[column]}: the categories)")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array that defines the model, under SPEC's `layers.<i>.<name>` keys."""
        arrays = {}
        for index, layer in enumerate(self.layers):
            for key, value in {**layer.params, **layer.state}.items():
                arrays[f"layers.{index}.{key}"] = value
        return arrays

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Copy arrays into the model in place; keys and shapes must match exactly (a `StateError` otherwise)."""
        own = self.state_dict()
        missing = sorted(set(own) - set(arrays))
        unexpected = sorted(set(arrays) - set(own))
        if missing or unexpected:
            raise StateError(f"arrays do not match the architecture: missing {missing or 'none'}, "
                             f"unexpected {unexpected or 'none'}")
        for key, target in own.items():
            value = arrays[key]
            if value.shape != target.shape:
                raise StateError(f"array {key!r} has shape {value.shape}, the architecture needs {target.shape}")
            np.copyto(target, value, casting="unsafe")

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per layer for a Keras-like summary."""
        names = self.names
        return [{"name": names[i], "type": spec["type"],
                 "inputs": [self.data_names[-1 - j] if j < 0 else names[j] for j in self.inputs[i]],
                 "output_shape": f"(None, {self.widths[i]})",
                 "params": int(sum(p.size for p in self.layers[i].params.values()))}
                for i, spec in enumerate(self.specs)]

    def embeddings(self) -> list[dict[str, Any]]:
        """One row per embedding layer: its name, column, categories, dim and parameters ((categories + 1) × dim)."""
        return [{"name": self.names[i], "column": spec["column"], "categories": self.categories[spec["column"]],
                 "dim": spec["dim"], "parameters": int(self.layers[i].params["weight"].size)}
                for i, spec in enumerate(self.specs) if getattr(self.layers[i], "reads_column", False)]

    def parameter_count(self) -> int:
        return int(sum(param.size for _, param, _ in self.parameters))
