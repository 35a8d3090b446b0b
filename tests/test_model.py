"""The model graph: chains and branches, fan-out gradients, state round trips, float32 and float64."""

import numpy as np
import pytest

from nncli.nn.activations import ACTIVATIONS
from nncli.nn.errors import ShapeError, StateError
from nncli.nn.graph import default_layer_name
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.runs import read_arrays, write_arrays
from nncli.train import batch_step
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.settings import loop_settings

BRANCHING = [
    {"type": "dense", "name": "trunk", "units": 5, "activation": "tanh"},
    {"type": "dense", "name": "left", "inputs": ["trunk"], "units": 3, "activation": "elu"},
    {"type": "dense", "name": "right", "inputs": ["trunk"], "units": 3, "activation": "sigmoid"},
    {"type": "add", "name": "sum", "inputs": ["left", "right"]},
    {"type": "dense", "name": "raw", "inputs": ["input"], "units": 2, "activation": "gelu"},
    {"type": "concat", "name": "joined", "inputs": ["sum", "raw", "trunk"]},
    {"type": "batchnorm", "name": "norm", "inputs": ["joined"]},
    {"type": "dropout", "name": "drop", "rate": 0.2},
    {"type": "dense", "name": "out", "units": 3, "activation": "softmax"},
]


def one_hot(rng, rows, classes):
    return np.eye(classes)[rng.integers(0, classes, size=rows)]


def check_model_gradients(model, loss, x, y, settings, reseed=None):
    """Both paths where they differ: the fused loss on logits, and the loss on the activated outputs."""
    for fuse in (True, False):
        objective = Objective(loss, model.output_activation, fuse=fuse)

        def value(objective=objective):
            if reseed is not None:
                reseed(model)
            return batch_step(model, objective, x, y, settings)[0]

        value()
        analytic = {key: grad.copy() for key, _, grad in model.parameters}
        for key, param, _ in model.parameters:
            assert_gradients_close(analytic[key], numerical_gradient(value, param), rtol=1e-5, atol=1e-8)


def reseed_dropout(model):
    for layer in model.layers:
        if hasattr(layer, "rng"):
            layer.rng = np.random.default_rng(99)


@pytest.mark.parametrize("rows", [1, 6])
def test_branching_graph_gradients_with_fan_out(rows):
    rng = np.random.default_rng(0)
    model = Model(BRANCHING, 4, dtype=np.float64, rng=rng)
    x = rng.normal(size=(max(rows, 2), 4))
    y = one_hot(rng, x.shape[0], 3)
    check_model_gradients(model, LOSSES.create("categorical_crossentropy"), x, y, loop_settings(epochs=1, l2=0.01),
                          reseed=reseed_dropout)


def test_a_layer_feeding_one_merge_twice_gets_both_gradients():
    specs = [{"type": "dense", "name": "a", "units": 2, "activation": "tanh"},
             {"type": "add", "inputs": ["a", "a"]},
             {"type": "dense", "units": 1}]
    rng = np.random.default_rng(1)
    model = Model(specs, 3, dtype=np.float64, rng=rng)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    check_model_gradients(model, LOSSES.create("mse"), x, y, loop_settings(epochs=1))


@pytest.mark.parametrize("loss_name,activation,width", [
    ("binary_crossentropy", "sigmoid", 1), ("binary_crossentropy", "tanh", 1), ("mse", "linear", 2),
    ("mae", "linear", 2), ("huber", "relu", 2), ("categorical_crossentropy", "softmax", 3)])
def test_chain_gradients_for_every_loss_with_l1_and_l2(loss_name, activation, width):
    specs = [{"type": "dense", "units": 4, "activation": "silu"},
             {"type": "dense", "units": width, "activation": activation}]
    rng = np.random.default_rng(2)
    model = Model(specs, 3, dtype=np.float64, rng=rng)
    x = rng.normal(size=(7, 3))
    if loss_name == "categorical_crossentropy":
        y = one_hot(rng, 7, width)
    elif loss_name == "binary_crossentropy":
        y = rng.integers(0, 2, size=(7, 1)).astype(float)
        if activation == "tanh":  # a non-fused pairing: probabilities must stay inside (0, 1)
            specs[-1]["activation"] = "sigmoid"
            specs[-1]["init"] = "zeros"
    else:
        y = rng.normal(size=(7, width)) + 3.0  # keep mae/huber residuals away from their kinks
    model = Model(specs, 3, dtype=np.float64, rng=np.random.default_rng(3))
    check_model_gradients(model, LOSSES.create(loss_name), x, y, loop_settings(epochs=1, l1=0.003, l2=0.02))


def test_state_dict_keys_follow_the_spec_and_skip_weightless_layers():
    model = Model(BRANCHING, 4, rng=np.random.default_rng(0))
    keys = set(model.state_dict())
    assert "layers.0.weight" in keys and "layers.0.bias" in keys
    assert {"layers.6.weight", "layers.6.bias", "layers.6.running_mean", "layers.6.running_var"} <= keys
    assert not any(key.startswith(("layers.3.", "layers.5.", "layers.7.")) for key in keys)
    assert all(array.dtype == np.float32 for array in model.state_dict().values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npz_round_trip_gives_bit_identical_predictions(tmp_path, dtype):
    rng = np.random.default_rng(4)
    model = Model(BRANCHING, 4, dtype=dtype, rng=rng)
    x = rng.normal(size=(50, 4)).astype(dtype)
    model.forward(x, training=True)  # move the running statistics away from their initial values
    write_arrays(tmp_path / "m.npz", model.state_dict())
    restored = Model(BRANCHING, 4, dtype=dtype, rng=np.random.default_rng(123))
    restored.load_state_dict(read_arrays(tmp_path / "m.npz"))
    expected = model.predict(x)
    assert expected.dtype == dtype
    np.testing.assert_array_equal(restored.predict(x), expected)


def test_load_state_dict_rejects_wrong_keys_and_shapes():
    model = Model(BRANCHING, 4, rng=np.random.default_rng(0))
    arrays = model.state_dict()
    with pytest.raises(StateError, match=r"^arrays do not match the architecture: missing \['layers.0.weight'\], "
                                         r"unexpected none$"):
        model.load_state_dict({k: v for k, v in arrays.items() if k != "layers.0.weight"})
    wrong = dict(arrays, **{"layers.0.weight": np.zeros((3, 3), np.float32)})
    with pytest.raises(StateError, match=r"^array 'layers.0.weight' has shape \(3, 3\), the architecture needs "
                                         r"\(4, 5\)$"):
        model.load_state_dict(wrong)


def test_a_layer_that_does_not_fit_names_its_index():
    specs = [{"type": "dense", "name": "a", "units": 4},
             {"type": "dense", "name": "b", "inputs": ["input"], "units": 3},
             {"type": "add", "inputs": ["a", "b"]}]
    with pytest.raises(ShapeError) as error:
        Model(specs, 2, rng=np.random.default_rng(0))
    assert (error.value.layer, error.value.message) == (2, "add needs inputs of equal width, got widths [4, 3]")
    assert str(error.value) == "layers[2]: add needs inputs of equal width, got widths [4, 3]"


def test_unnamed_layers_take_the_default_names():
    specs = [{"type": "dense", "units": 3}, {"type": "dropout"}, {"type": "dense", "units": 1}]
    model = Model(specs, 2, rng=np.random.default_rng(0))
    assert model.names == ["dense_0", "dropout_1", "dense_2"] == [default_layer_name(s["type"], i)
                                                                  for i, s in enumerate(specs)]
    assert [row["inputs"] for row in model.summary_rows()] == [["input"], ["dense_0"], ["dropout_1"]]


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "tanh", "linear"])
def test_forward_gives_logits_and_predict_applies_the_output_activation(activation):
    specs = [{"type": "dense", "units": 4, "activation": "relu"},
             {"type": "dense", "units": 3, "activation": activation}]
    rng = np.random.default_rng(5)
    model = Model(specs, 2, dtype=np.float64, rng=rng)
    assert model.output_activation.name == activation
    x = rng.normal(size=(10, 2))
    hidden = np.maximum(x @ model.layers[0].params["weight"] + model.layers[0].params["bias"], 0)
    logits = hidden @ model.layers[1].params["weight"] + model.layers[1].params["bias"]
    np.testing.assert_allclose(model.forward(x, training=False), logits, rtol=1e-12)
    expected = ACTIVATIONS.create(activation).forward(logits)
    np.testing.assert_allclose(model.predict(x, batch_size=3), expected, rtol=1e-12)


def test_a_last_layer_without_activation_hands_over_the_identity():
    specs = [{"type": "dense", "units": 2, "activation": "softmax"}, {"type": "dropout", "rate": 0.5}]
    model = Model(specs, 3, dtype=np.float64, rng=np.random.default_rng(0))
    assert model.output_activation.is_identity
    x = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0)  # the hidden softmax stays in the graph


def test_same_seed_same_weights_and_float32_end_to_end():
    a = Model(BRANCHING, 4, rng=np.random.default_rng(7))
    b = Model(BRANCHING, 4, rng=np.random.default_rng(7))
    for (_key, pa, _), (_, pb, _) in zip(a.parameters, b.parameters, strict=False):
        np.testing.assert_array_equal(pa, pb)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    y = one_hot(np.random.default_rng(1), 8, 3).astype(np.float32)
    objective = Objective(LOSSES.create("categorical_crossentropy"), a.output_activation)
    assert objective.fused
    batch_step(a, objective, x, y, loop_settings(epochs=1, l2=0.1))
    assert all(grad.dtype == np.float32 for _, _, grad in a.parameters)


def test_summary_rows_count_parameters():
    model = Model(BRANCHING, 4, rng=np.random.default_rng(0))
    rows = model.summary_rows()
    assert rows[0] == {"name": "trunk", "type": "dense", "inputs": ["input"], "output_shape": "(None, 5)",
                       "params": 25}
    assert rows[5]["output_shape"] == "(None, 10)"  # 3 + 2 + 5
    assert model.parameter_count() == sum(row["params"] for row in rows)


# --- the core stays below the layers that use it ------------------------------------------------------

CORE_MAY_IMPORT = ("nncli.nn", "nncli.registry")  # the registry is shared by every family, the core's included


def imported_modules(path):
    import ast

    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_numpy_core_imports_nothing_above_it():
    from pathlib import Path

    import nncli.nn

    core = Path(nncli.nn.__file__).parent
    files = list(core.rglob("*.py"))
    assert len(files) > 10
    offending = {f"{path.relative_to(core)}: {module}" for path in files for module in imported_modules(path)
                 if module.split(".")[0] == "nncli" and not module.startswith(CORE_MAY_IMPORT)}
    assert not offending
