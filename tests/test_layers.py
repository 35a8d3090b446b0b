"""Layers: central-difference gradient checks in float64 for inputs and parameters, and modes."""

import numpy as np
import pytest

from nncli.nn.errors import ShapeError
from nncli.nn.layers import LAYERS
from nncli.registry import parameters_model
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.roundtrip import assert_round_trips


def build(type_name, widths, seed=0, **params):
    layer = LAYERS.get(type_name)(**params)
    layer.build(widths, np.random.default_rng(seed), np.float64)
    return layer


def check_layer_gradients(layer, inputs, training=True, reseed=None):
    """f = sum(forward(inputs) * upstream); compare backward's gradients with central differences."""
    rng = np.random.default_rng(1)

    def run():
        if reseed is not None:
            reseed()
        return layer.forward(inputs, training)

    upstream = rng.normal(size=run().shape)
    output = run().copy()  # layers reuse their output buffers
    input_grads = [None if g is None else g.copy() for g in layer.backward(upstream.copy())]
    param_grads = {key: grad.copy() for key, grad in layer.grads.items()}

    def objective():
        return float(np.sum(run() * upstream))

    for x, analytic in zip(inputs, input_grads, strict=False):
        if analytic is not None:
            assert_gradients_close(analytic, numerical_gradient(objective, x))
    for key, param in layer.params.items():
        assert_gradients_close(param_grads[key], numerical_gradient(objective, param))
    return output


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "softmax", "gelu", "elu", "softplus"])
@pytest.mark.parametrize("rows,fan_in,units", [(1, 3, 2), (7, 4, 5), (16, 2, 1)])
def test_dense_gradients(activation, rows, fan_in, units):
    layer = build("dense", [fan_in], units=units, activation=activation)
    layer.params["bias"][:] = np.random.default_rng(2).normal(size=units)
    x = np.random.default_rng(3).normal(size=(rows, fan_in))
    check_layer_gradients(layer, [x])


def test_dense_relu_gradients_away_from_kink():
    layer = build("dense", [3], units=4, activation="relu")
    x = np.random.default_rng(4).normal(size=(6, 3))
    z = x @ layer.params["weight"]
    layer.params["bias"][:] = -z.mean(axis=0)
    assert np.min(np.abs(x @ layer.params["weight"] + layer.params["bias"])) > 1e-4
    check_layer_gradients(layer, [x])


def test_dense_matches_the_formula():
    layer = build("dense", [2], units=2, activation="linear")
    layer.params["weight"][:] = [[1.0, 2.0], [3.0, 4.0]]
    layer.params["bias"][:] = [0.5, -0.5]
    out = layer.forward([np.array([[1.0, 1.0]])], training=False)
    np.testing.assert_array_equal(out, [[4.5, 5.5]])  # x @ W + b with W of shape (inputs, units)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "gelu"])
def test_dense_hands_over_its_activation_and_outputs_its_preactivation(activation):
    kept = build("dense", [3], units=2, activation=activation, seed=6)
    layer = build("dense", [3], units=2, activation=activation, seed=6)
    x = np.random.default_rng(7).normal(size=(5, 3))
    activated = kept.forward([x], training=True).copy()
    handed = layer.detach_activation()
    assert handed.name == activation and layer.activation_fn.is_identity
    np.testing.assert_array_equal(layer.params["weight"], kept.params["weight"])  # initialised by the activation
    z = layer.forward([x], training=True)
    np.testing.assert_array_equal(z, x @ layer.params["weight"] + layer.params["bias"])
    np.testing.assert_array_equal(handed.forward(z), activated)
    check_layer_gradients(layer, [x])  # now a linear layer: d output / d z is the identity


@pytest.mark.parametrize("name", sorted(set(LAYERS.names()) - {"dense"}))
def test_layers_without_an_activation_hand_over_the_identity(name):
    params = {"rate": 0.5} if name == "dropout" else {"column": "city", "dim": 2} if name == "embedding" else {}
    widths = [3, 3] if LAYERS.get(name).merge else [3]
    assert build(name, widths, **params).detach_activation().is_identity


@pytest.mark.parametrize("name", LAYERS.names())
def test_every_layer_has_the_same_forward_and_backward_signature(name):
    import inspect

    cls = LAYERS.get(name)
    assert list(inspect.signature(cls.forward).parameters) == ["self", "inputs", "training"]
    assert list(inspect.signature(cls.backward).parameters) == ["self", "grad_output"]


def test_dense_first_layer_skips_the_input_gradient():
    layer = build("dense", [3], units=2)
    layer.skip_input_grad = True
    layer.forward([np.ones((4, 3))], training=True)
    assert layer.backward(np.ones((4, 2))) == [None]
    assert np.all(layer.grads["weight"] == 4.0)


def test_dropout_gradients_with_a_fixed_mask():
    layer = build("dropout", [5], rate=0.4)
    x = np.random.default_rng(5).normal(size=(9, 5))

    def reseed():
        layer.rng = np.random.default_rng(11)

    output = check_layer_gradients(layer, [x], reseed=reseed)
    kept = output != 0
    np.testing.assert_allclose(output[kept], x[kept] / 0.6)  # inverted dropout scales what it keeps
    assert 0 < kept.mean() < 1


def test_dropout_is_identity_at_evaluation():
    layer = build("dropout", [3], rate=0.5)
    x = np.arange(6.0).reshape(2, 3)
    assert layer.forward([x], training=False) is x


def test_dropout_drops_at_its_rate_and_keeps_float32():
    layer = LAYERS.get("dropout")(rate=0.3)
    layer.build([200], np.random.default_rng(0), np.float32)
    out = layer.forward([np.ones((500, 200), dtype=np.float32)], training=True)
    assert out.dtype == np.float32
    assert abs((out == 0).mean() - 0.3) < 0.01


@pytest.mark.parametrize("rows", [2, 5, 32])
def test_batchnorm_training_gradients(rows):
    layer = build("batchnorm", [4])
    layer.params["weight"][:] = [0.5, 1.5, -1.0, 2.0]
    layer.params["bias"][:] = [0.1, -0.2, 0.3, 0.0]
    x = np.random.default_rng(6).normal(loc=2.0, scale=3.0, size=(rows, 4))
    check_layer_gradients(layer, [x], training=True)


def test_batchnorm_statistics_follow_pytorch_rules():
    layer = build("batchnorm", [2], momentum=0.1, eps=1e-5)
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])
    out = layer.forward([x], training=True)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5))
    np.testing.assert_allclose(layer.state["running_mean"], 0.9 * 0 + 0.1 * mean)
    np.testing.assert_allclose(layer.state["running_var"], 0.9 * 1 + 0.1 * var * 3 / 2)  # unbiased
    evaluated = layer.forward([x], training=False)
    expected = (x - layer.state["running_mean"]) / np.sqrt(layer.state["running_var"] + 1e-5)
    np.testing.assert_allclose(evaluated, expected)


def test_batchnorm_single_row_batch_is_finite():
    layer = build("batchnorm", [3])
    out = layer.forward([np.array([[1.0, 2.0, 3.0]])], training=True)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(layer.state["running_var"]))


def test_concat_gradients():
    layer = build("concat", [2, 3])
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    out = check_layer_gradients(layer, [a, b])
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))


def test_add_gradients():
    layer = build("add", [3, 3, 3])
    rng = np.random.default_rng(8)
    inputs = [rng.normal(size=(5, 3)) for _ in range(3)]
    out = check_layer_gradients(layer, inputs)
    np.testing.assert_allclose(out, sum(inputs))


def test_add_refuses_unequal_widths():
    with pytest.raises(ShapeError, match=r"^add needs inputs of equal width, got widths \[2, 3\]$"):
        build("add", [2, 3])


@pytest.mark.parametrize("name", LAYERS.names())
def test_every_layer_round_trips_through_its_config(name):
    params = {"units": 3} if name == "dense" else {"column": "city", "dim": 2} if name == "embedding" else {}
    config = assert_round_trips(LAYERS, LAYERS.get(name)(**params))
    assert config["type"] == name


def test_dense_config_rejects_bad_values():
    import pydantic

    model = parameters_model(LAYERS.get("dense"))
    for bad in ({"units": -3}, {"units": "3"}, {"units": 4, "activation": "relux"},
                {"units": 4, "init": "he_norm"}, {"units": 4, "bogus": 1}):
        with pytest.raises(pydantic.ValidationError):
            model(**bad)
    resolved = model(units=2, activation={"type": "leaky_relu"}).model_dump()
    assert resolved["activation"] == {"type": "leaky_relu", "negative_slope": 0.01}
