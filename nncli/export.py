"""A trained model as an ONNX graph: the whole prediction path, from raw columns to labels or values.

One input per raw feature column, named as the column, shape [N, 1]: float32 for a numeric column (NaN is a
missing cell), string for a categorical one (the category as nncli's vocabulary writes it, numbers in canonical
form: `6` not `6.0`; an empty string or a `data.na_values` text is a missing cell). In the graph: imputation,
scaling, the one-hot blocks (the `<infrequent>` slot, the `<missing>` slot, unseen categories as the
preprocessor handles them), the embedding lookups (the category's row index, 0 for infrequent and unseen ones,
then a Gather of the table's rows), every layer in inference form and the output activation. Outputs: `label` ([N],
the class labels as the training CSV wrote them) and `probabilities` ([N, classes]) for classification,
`prediction` ([N, targets]) for regression.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from nncli.data.encoding import Slots, embedding_rows
from nncli.errors import NncliError
from nncli.modelfile import TrainedModel
from nncli.nn.activations import ELU, GELU, Activation, LeakyReLU, Softplus
from nncli.nn.graph import DATA_INPUT

OPSET = 17
ML_OPSET = 3
INSTALL = 'pip install "nncli[onnx]"'


def require_onnx() -> Any:
    """The `onnx` module, or an error naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise NncliError(f"export needs the onnx package: {INSTALL}") from None
    return onnx


class _Graph:
    """Nodes, constants and fresh names for one ONNX graph."""

    def __init__(self, onnx: Any):
        self.onnx, self.helper = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: Any, hint: str = "c") -> str:
        name = self.name(hint)
        array = np.asarray(value)
        if array.dtype.kind in "UO":
            tensor = self.helper.make_tensor(name, self.onnx.TensorProto.STRING, array.shape,
                                             [str(text).encode() for text in array.ravel()])
        else:
            tensor = self.onnx.numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, output: str | None = None,
           domain: str = "", **attributes: Any) -> str:
        output = output or self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], domain=domain, **attributes))
        return output

    def f32(self, value: Any) -> str:
        return self.const(np.asarray(value, dtype=np.float32))


def export_onnx(trained: TrainedModel, path: str | Path) -> None:
    """Write `trained` as a checked ONNX model at `path` (atomically)."""
    onnx = require_onnx()
    model = build_onnx(trained)
    onnx.checker.check_model(model, full_check=True)
    from nncli import runs

    data = model.SerializeToString()
    runs.write_atomically(Path(path), lambda stream: stream.write(data))


def build_onnx(trained: TrainedModel) -> Any:
    """The ONNX ModelProto of `trained` (see the module docstring for its inputs and outputs)."""
    onnx = require_onnx()
    graph = _Graph(onnx)
    inputs, blocks, indices = _feature_blocks(graph, trained.preprocessor)
    features = blocks[0] if len(blocks) == 1 else graph.op("Concat", blocks, "features", axis=1) if blocks \
        else graph.const(np.zeros((1, 0), dtype=np.float32))  # every feature embedded: nothing reads `input`
    outputs = _network(graph, trained.model, {DATA_INPUT: features, **indices})
    result = _outputs(graph, trained, outputs)
    proto = graph.helper.make_graph(graph.nodes, "nncli", inputs, result, graph.initializers)
    opsets = [graph.helper.make_opsetid("", OPSET), graph.helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    return graph.helper.make_model(proto, opset_imports=opsets, producer_name="nncli")


def _feature_blocks(graph: _Graph, prep: Any) -> tuple[list[Any], list[str], dict[str, str]]:
    """The graph inputs, per feature its [N, width] float32 block of network inputs, and per embedded column
    its [N, 1] int64 row indices."""
    float_type, string_type = graph.onnx.TensorProto.FLOAT, graph.onnx.TensorProto.STRING
    inputs, blocks, indices = [], [], {}
    for position, name in enumerate(prep.feature_names):
        if name in prep.categories:
            inputs.append(graph.helper.make_tensor_value_info(name, string_type, ["N", 1]))
            if name in prep.embedded:
                indices[name] = _slot_codes(graph, prep, name, embedded=True)
            else:
                blocks.append(_onehot(graph, prep, name))
            continue
        inputs.append(graph.helper.make_tensor_value_info(name, float_type, ["N", 1]))
        value = name
        if prep.missing == "impute":
            value = graph.op("Where", [graph.op("IsNaN", [name]), graph.f32([[prep.impute_values[position]]]), name])
        centered = graph.op("Sub", [value, graph.f32([[prep.offset[position]]])])
        blocks.append(graph.op("Div", [centered, graph.f32([[prep.divisor[position]]])], f"scaled_{position}"))
    return inputs, blocks, indices


def _onehot(graph: _Graph, prep: Any, name: str) -> str:
    """A categorical column's one-hot block: its slot codes compared with the slot numbers (a slot of -1, or
    one past the block, gives an all-zero row)."""
    slots = Slots(prep.categories[name], prep.infrequent[name], prep.missing == "impute")
    codes = _slot_codes(graph, prep, name)
    hits = graph.op("Equal", [codes, graph.const(np.arange(slots.width, dtype=np.int64).reshape(1, -1))])
    return graph.op("Cast", [hits], f"onehot_{name}", to=graph.onnx.TensorProto.FLOAT)


def _slot_codes(graph: _Graph, prep: Any, name: str, embedded: bool = False) -> str:
    """A categorical column's text mapped by a LabelEncoder to its one-hot slot ([N, 1] int64), or with
    `embedded` to its embedding row (`nncli.data.encoding.embedding_rows`: 0 for infrequent and unseen)."""
    slots = Slots(prep.categories[name], prep.infrequent[name], prep.missing == "impute")
    keys = list(slots.categories)
    values = list(range(len(keys)))
    if slots.infrequent_slot is not None:  # there are infrequent categories
        keys += list(slots.infrequent)
        values += [slots.infrequent_slot] * len(slots.infrequent)
    keys, values = _with_spellings(keys, values)
    missing_slot = slots.missing_slot if slots.missing_slot is not None else -1
    for mark in ["", *prep.na_values]:
        if mark not in keys:
            keys.append(mark)
            values.append(missing_slot)
    unknown = slots.infrequent_slot if slots.infrequent_slot is not None else -1
    if embedded:
        rows = embedding_rows(slots)  # indexed by slot + 1
        values, unknown = [int(rows[value + 1]) for value in values], 0
    return graph.op("LabelEncoder", [name], domain="ai.onnx.ml", keys_strings=keys, values_int64s=values,
                    default_int64=unknown)


def _with_spellings(keys: list[str], values: list[int]) -> tuple[list[str], list[int]]:
    """The keys plus the usual other spellings of those that are numbers (`6` also as `6.0`), as nncli reads
    them as one value."""
    spelled, slots = list(keys), list(values)
    for key, value in zip(keys, values, strict=False):
        try:
            number = float(key)
        except ValueError:
            continue
        spellings = [repr(number)] + ([str(int(number))] if math.isfinite(number) and number.is_integer() else [])
        for text in spellings:
            if text not in spelled:
                spelled.append(text)
                slots.append(value)
    return spelled, slots


def _network(graph: _Graph, model: Any, data: dict[str, str]) -> str:
    """The network's output (the output activation applied) for its named data inputs."""
    outputs: list[str] = []
    for layer, spec, sources in zip(model.layers, model.specs, model.inputs, strict=False):
        inputs = [data[model.data_names[-1 - j]] if j < 0 else outputs[j] for j in sources]
        outputs.append(_layer(graph, spec["type"], layer, inputs))
    return _activation(graph, model.output_activation, outputs[-1])


def _layer(graph: _Graph, kind: str, layer: Any, inputs: list[str]) -> str:
    params = {key: np.asarray(value, dtype=np.float32) for key, value in layer.params.items()}
    if kind == "dense":
        value = graph.op("MatMul", [inputs[0], graph.f32(params["weight"])])
        if layer.use_bias:
            value = graph.op("Add", [value, graph.f32(params["bias"])])
        return _activation(graph, layer.activation_fn, value)
    if kind == "batchnorm":
        # inference form, as the layer computes it: (x - running_mean) * weight / sqrt(running_var + eps) + bias
        scale = layer.params["weight"] / np.sqrt(layer.state["running_var"] + layer.eps)
        centered = graph.op("Sub", [inputs[0], graph.f32(layer.state["running_mean"])])
        return graph.op("Add", [graph.op("Mul", [centered, graph.f32(scale)]), graph.f32(params["bias"])])
    if kind == "dropout":
        return graph.op("Identity", inputs)
    if kind == "embedding":  # rows of the table for [N, 1] indices: [N, 1, dim], flattened to [N, dim]
        return graph.op("Flatten", [graph.op("Gather", [graph.f32(params["weight"]), inputs[0]], axis=0)], axis=1)
    if kind == "concat":
        return graph.op("Concat", inputs, axis=1)
    if kind == "add":
        return graph.op("Sum", inputs)
    raise NncliError(f"export does not know the layer type {kind!r}")


def _activation(graph: _Graph, activation: Activation, z: str) -> str:
    """`activation` applied to z, in plain ONNX operators."""
    name = activation.name
    if name == "linear":
        return z
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in simple:
        return graph.op(simple[name], [z])
    if name == "softmax":
        return graph.op("Softmax", [z], axis=1)
    if isinstance(activation, LeakyReLU):
        return graph.op("LeakyRelu", [z], alpha=float(activation.negative_slope))
    if isinstance(activation, ELU):
        return graph.op("Elu", [z], alpha=float(activation.alpha))
    if name == "silu":
        return graph.op("Mul", [z, graph.op("Sigmoid", [z])])
    if isinstance(activation, GELU):
        return _gelu(graph, activation.approximate, z)
    if isinstance(activation, Softplus):
        scaled = graph.op("Mul", [z, graph.f32(activation.beta)])
        soft = graph.op("Div", [graph.op("Softplus", [scaled]), graph.f32(activation.beta)])
        return graph.op("Where", [graph.op("Greater", [scaled, graph.f32(activation.threshold)]), z, soft])
    raise NncliError(f"export does not know the activation {name!r}")


def _gelu(graph: _Graph, approximate: str, z: str) -> str:
    """z Φ(z): exact with Erf, or PyTorch's tanh formula."""
    if approximate == "tanh":
        cube = graph.op("Mul", [graph.op("Mul", [z, z]), z])
        inner = graph.op("Add", [z, graph.op("Mul", [cube, graph.f32(0.044715)])])
        factor = graph.op("Tanh", [graph.op("Mul", [inner, graph.f32(math.sqrt(2 / math.pi))])])
    else:
        factor = graph.op("Erf", [graph.op("Mul", [z, graph.f32(math.sqrt(0.5))])])
    half = graph.op("Mul", [graph.op("Add", [factor, graph.f32(1.0)]), graph.f32(0.5)])
    return graph.op("Mul", [z, half])


def _outputs(graph: _Graph, trained: TrainedModel, outputs: str) -> list[Any]:
    """`label` and `probabilities` for classification, `prediction` for regression."""
    helper, types = graph.helper, graph.onnx.TensorProto
    prep = trained.preprocessor
    if trained.task == "regression":
        scale = trained.model.target_scale  # the network learned standardized targets: back to own units
        if scale is not None:
            scaled = graph.op("Mul", [outputs, graph.const(scale.divisor.astype(np.float32).reshape(1, -1))])
            outputs = graph.op("Add", [scaled, graph.const(scale.offset.astype(np.float32).reshape(1, -1))])
        graph.op("Identity", [outputs], output="prediction")
        return [helper.make_tensor_value_info("prediction", types.FLOAT, ["N", len(prep.target_names)])]
    if prep.target_encoding == "binary":
        complement = graph.op("Sub", [graph.f32(1.0), outputs])
        graph.op("Concat", [complement, outputs], output="probabilities", axis=1)
    else:
        graph.op("Identity", [outputs], output="probabilities")
    chosen = graph.op("ArgMax", ["probabilities"], axis=1, keepdims=0)  # a tie goes to the first class
    graph.op("Gather", [graph.const(np.asarray(prep.class_text, dtype=object)), chosen], output="label", axis=0)
    return [helper.make_tensor_value_info("label", types.STRING, ["N"]),
            helper.make_tensor_value_info("probabilities", types.FLOAT, ["N", len(prep.class_text)])]
