"""The model: a graph of layers, a chain when no layer names its inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncli.errors import ConfigError, ModelFileError
from nncli.nn.layers import LAYERS, Layer

DATA_INPUT = "input"
GRAPH_KEYS = ("type", "name", "inputs")
EVALUATION_BATCH = 8192
"""Rows per pass when predicting: large batches amortise numpy's per-call cost."""


class Model:
    """Layers in topological order (the config's order); the last layer's output is the model's output.

    `layer_specs` are resolved layer configs: `{"type", "name", "inputs", **parameters}`. A layer output used
    by several layers receives the sum of their gradients.
    """

    def __init__(self, layer_specs: list[dict[str, Any]], input_width: int, *, dtype: Any = np.float32,
                 rng: np.random.Generator):
        self.dtype = np.dtype(dtype)
        self.input_width = input_width
        self.specs = [dict(spec) for spec in layer_specs]
        self.layers: list[Layer] = []
        self.inputs: list[list[int]] = []  # per layer, indices of its input layers; -1 is the data
        self.widths: list[int] = []
        index_of = {DATA_INPUT: -1}
        for index, spec in enumerate(self.specs):
            input_indices = [index_of[name] for name in spec.get("inputs", [self._previous(index)])]
            layer = LAYERS.get(spec["type"]).from_config(
                {key: value for key, value in spec.items() if key not in GRAPH_KEYS})
            input_widths = [input_width if j < 0 else self.widths[j] for j in input_indices]
            try:
                width = layer.build(input_widths, rng, self.dtype)
            except ConfigError as error:
                error.field = error.field or f"layers[{index}]"
                raise
            layer.skip_input_grad = all(j < 0 for j in input_indices)
            self.layers.append(layer)
            self.inputs.append(input_indices)
            self.widths.append(width)
            index_of[spec.get("name", f"{spec['type']}_{index}")] = index
        self._pack_parameters()
        self.parameters = [(f"layers.{i}.{key}", layer.params[key], layer.grads[key])
                           for i, layer in enumerate(self.layers) for key in layer.params]
        self.regularized = [(layer.params[key], layer.grads[key])
                            for layer in self.layers for key in layer.regularized]

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

    def _previous(self, index: int) -> str:
        if index == 0:
            return DATA_INPUT
        previous = self.specs[index - 1]
        return previous.get("name", f"{previous['type']}_{index - 1}")

    @property
    def output_layer(self) -> Layer:
        return self.layers[-1]

    @property
    def output_width(self) -> int:
        return self.widths[-1]

    def forward(self, x: np.ndarray, training: bool = False, logits: bool = False) -> np.ndarray:
        """The output for a batch. The array may be a reused buffer: copy it to keep it past the next call.

        With `logits` the output layer (a dense layer) leaves its activation out and returns its
        pre-activation, what a loss fused with that activation takes (`Loss.from_logits`).
        """
        outputs: list[np.ndarray | None] = [None] * len(self.layers)
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            layer_inputs = [x if j < 0 else outputs[j] for j in self.inputs[index]]
            if logits and index == last:
                outputs[index] = layer.forward(layer_inputs, training, activate=False)
            else:
                outputs[index] = layer.forward(layer_inputs, training)
        return outputs[-1]

    def backward(self, grad_output: np.ndarray, from_preactivation: bool = False) -> None:
        """Fill every layer's `grads` from d loss / d output (or / d preactivation of a fused output)."""
        grads: list[np.ndarray | None] = [None] * len(self.layers)
        grads[-1] = grad_output
        summed: set[int] = set()  # outputs whose gradient is already the sum in their layer's "grad_sum" buffer
        for index in range(len(self.layers) - 1, -1, -1):
            layer, grad = self.layers[index], grads[index]
            if grad is None:
                continue
            if index == len(self.layers) - 1 and from_preactivation:
                input_grads = layer.backward(grad, from_preactivation=True)
            else:
                input_grads = layer.backward(grad)
            for j, input_grad in zip(self.inputs[index], input_grads):
                if j < 0:
                    continue
                if grads[j] is None:
                    grads[j] = input_grad
                elif j in summed:
                    grads[j] += input_grad
                else:
                    # never in place on the first gradient: it may be another layer's buffer (or this one)
                    grads[j] = np.add(grads[j], input_grad, out=self.layers[j].buffer("grad_sum", input_grad.shape))
                    summed.add(j)

    def predict(self, x: np.ndarray, batch_size: int = EVALUATION_BATCH) -> np.ndarray:
        """Evaluation-mode outputs for all rows, in large batches."""
        x = np.asarray(x, dtype=self.dtype)
        result = np.empty((x.shape[0], self.output_width), dtype=self.dtype)
        for start in range(0, x.shape[0], batch_size):
            result[start:start + batch_size] = self.forward(x[start:start + batch_size], training=False)
        return result

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array that defines the model, under SPEC's `layers.<i>.<name>` keys."""
        arrays = {}
        for index, layer in enumerate(self.layers):
            for key, value in {**layer.params, **layer.state}.items():
                arrays[f"layers.{index}.{key}"] = value
        return arrays

    def load_state_dict(self, arrays: dict[str, np.ndarray], source: str = "model") -> None:
        """Copy arrays into the model in place; keys and shapes must match exactly."""
        own = self.state_dict()
        missing = sorted(set(own) - set(arrays))
        unexpected = sorted(set(arrays) - set(own))
        if missing or unexpected:
            raise ModelFileError(f"arrays do not match the architecture: missing {missing or 'none'}, "
                                 f"unexpected {unexpected or 'none'}", file=source)
        for key, target in own.items():
            value = arrays[key]
            if value.shape != target.shape:
                raise ModelFileError(f"array {key!r} has shape {value.shape}, the architecture needs "
                                     f"{target.shape}", file=source)
            np.copyto(target, value, casting="unsafe")

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per layer for a Keras-like summary."""
        names = [spec.get("name", f"{spec['type']}_{i}") for i, spec in enumerate(self.specs)]
        return [{"name": names[i], "type": spec["type"],
                 "inputs": [DATA_INPUT if j < 0 else names[j] for j in self.inputs[i]],
                 "output_shape": f"(None, {self.widths[i]})",
                 "params": int(sum(p.size for p in self.layers[i].params.values()))}
                for i, spec in enumerate(self.specs)]

    def parameter_count(self) -> int:
        return int(sum(param.size for _, param, _ in self.parameters))
