"""The embedding layer: lookup, init, gradients (repeated categories accumulate), batching and predict's checks
(parity with torch: test_torch_parity_embedding.py)."""

import numpy as np
import pytest

from nncli.build import build_schedule
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.split import Split
from nncli.train import TrainingState, fit
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.settings import loop_settings
from tests.test_layers import build, check_layer_gradients

# index 3 three times and 0 (unknown) twice: their gradients must add up
REPEATED = np.array([3, 1, 3, 0, 4, 3, 0], dtype=np.intp)


def test_embedding_looks_up_rows_of_its_table():
    layer = build("embedding", [5], column="city", dim=3)
    output = layer.forward([REPEATED], training=True)
    np.testing.assert_array_equal(output, layer.params["weight"][REPEATED])
    assert layer.params["weight"].shape == (5, 3)


def test_embedding_gradients_accumulate_per_row():
    layer = build("embedding", [5], column="city", dim=3)
    check_layer_gradients(layer, [REPEATED])
    upstream = np.arange(21.0).reshape(7, 3)
    layer.forward([REPEATED], training=True)
    assert layer.backward(upstream) == [None]
    expected = np.zeros((5, 3))
    for row, index in enumerate(REPEATED):
        expected[index] += upstream[row]
    np.testing.assert_array_equal(layer.grads["weight"], expected)
    assert not layer.grads["weight"][2].any()  # a row not in the batch gets no gradient


def test_embedding_initialises_as_torch_normal_unless_told():
    layer = build("embedding", [2001], column="city", dim=50)
    weight = layer.params["weight"]
    assert abs(weight.mean()) < 0.01 and abs(weight.std() - 1.0) < 0.01
    assert not build("embedding", [4], column="city", dim=3, init="zeros").params["weight"].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_keeps_the_dtype(dtype):
    layer = embedding_of(dtype)
    output = layer.forward([REPEATED], training=True)
    layer.backward(np.ones_like(output))
    assert output.dtype == dtype and layer.grads["weight"].dtype == dtype
    assert layer.grads["weight"][3].tolist() == [3.0, 3.0]


def embedding_of(dtype):
    from nncli.nn.layers import LAYERS

    layer = LAYERS.get("embedding")(column="city", dim=2)
    layer.build([5], np.random.default_rng(0), dtype)
    return layer


SPECS = [{"type": "embedding", "name": "city_vec", "column": "city", "dim": 3, "inputs": []},
         {"type": "concat", "name": "joined", "inputs": ["input", "city_vec"]},
         {"type": "dense", "name": "hidden", "units": 4, "activation": "tanh", "inputs": ["joined"]},
         {"type": "dense", "name": "out", "units": 1, "activation": "sigmoid", "inputs": ["hidden"]}]


def test_model_gradients_through_an_embedding_and_a_concat():
    rng = np.random.default_rng(5)
    model = Model(SPECS, 2, dtype=np.float64, rng=rng, categories={"city": 4})
    inputs = {"input": rng.normal(size=(7, 2)), "city": REPEATED}
    y = rng.integers(0, 2, size=(7, 1)).astype(float)
    objective = Objective(LOSSES.create("binary_crossentropy"), model.output_activation)

    def loss():
        return objective.value_and_grad(model.forward(inputs, training=True), y)[0]

    model.backward(objective.value_and_grad(model.forward(inputs, training=True), y)[1])
    analytic = {name: grad.copy() for name, _, grad in model.parameters}
    for name, param, _ in model.parameters:
        assert_gradients_close(analytic[name], numerical_gradient(loss, param))
    assert model.summary_rows()[0]["inputs"] == ["city"]
    assert model.data_names == ["input", "city"]


def test_shuffled_batches_take_the_same_rows_of_every_input():
    rng = np.random.default_rng(8)
    x, index = rng.normal(size=(20, 2)), rng.integers(0, 5, size=20).astype(np.intp)
    y = rng.integers(0, 2, size=(20, 1)).astype(float)
    results = []
    for shuffle in (False, True):  # one batch of every row: only the order of the rows differs
        model = Model(SPECS, 2, dtype=np.float64, rng=np.random.default_rng(1), categories={"city": 4})
        split = Split(x, y, indices={"city": index})
        settings = loop_settings(epochs=1, batch_size=20, shuffle=shuffle)
        list(fit(model, Objective(LOSSES.create("binary_crossentropy"), model.output_activation),
                 OPTIMIZERS.get("sgd").from_config({"type": "sgd", "lr": 0.1}), build_schedule({"type": "constant"}),
                 split, None, settings, np.random.default_rng(0), TrainingState(), base_lr=0.1))
        results.append(model.flat_params.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("index", "message"), [
    (np.array([0, 1, 5]), r"'city' holds indices outside 0\.\.4"),
    (np.array([-1, 1, 2]), r"'city' holds indices outside 0\.\.4"),
    (np.array([0.0, 1.0, 2.0]), r"'city' must be 3 integer category indices, got float64 of shape \(3,\)"),
    (np.array([0, 1]), r"'city' must be 3 integer category indices, got int64 of shape \(2,\)"),
])
def test_predict_refuses_indices_the_table_does_not_have(index, message):
    """Training's lookup clips (its indices come from the data layer); predict checks what it is given."""
    from nncli.nn.errors import CoreError

    model = Model(SPECS, 2, dtype=np.float64, rng=np.random.default_rng(0), categories={"city": 4})
    with pytest.raises(CoreError, match=message):
        model.predict({"input": np.zeros((3, 2)), "city": index})
    assert model.predict({"input": np.zeros((3, 2)), "city": np.array([0, 4, 2])}).shape == (3, 1)
