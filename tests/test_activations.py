"""Activations and erf: values, gradients (central differences), stability, dtypes, registry round trips."""

import math

import numpy as np
import pytest

from nncli.errors import ConfigError
from nncli.nn.activations import ACTIVATIONS, RELU_FAMILY, Activation, get_activation
from nncli.nn.erf import erf
from nncli.nn.errors import CoreError
from nncli.registry import parameters_model
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.roundtrip import assert_round_trips

# Every registered name with its defaults, plus non-default parameters where there are some.
SPECS = [*ACTIVATIONS.names(),
         {"type": "leaky_relu", "negative_slope": 0.2},
         {"type": "elu", "alpha": 0.5},
         {"type": "gelu", "approximate": "tanh"},
         {"type": "softplus", "beta": 2.0, "threshold": 3.0}]
SPEC_IDS = [spec if isinstance(spec, str) else "-".join(map(str, spec.values())) for spec in SPECS]


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _softplus(x: float, beta: float = 1.0, threshold: float = 20.0) -> float:
    return x if beta * x > threshold else math.log1p(math.exp(beta * x)) / beta


def _gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


# Scalar formulas written out by hand, for the elementwise activations.
ELEMENTWISE_FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: max(x, 0.0),
    "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "elu": lambda x: x if x > 0 else math.exp(x) - 1.0,
    "gelu": lambda x: x * _phi(x),
    "silu": lambda x: x / (1.0 + math.exp(-x)),
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "tanh": math.tanh,
    "softplus": _softplus,
}


def _kink_free(z: np.ndarray, spec) -> np.ndarray:
    """Move entries away from the points where an activation is not differentiable."""
    name = spec if isinstance(spec, str) else spec["type"]
    if name in {"relu", "leaky_relu", "elu"}:
        z = np.where(np.abs(z) < 0.05, 0.5, z)
    if name == "softplus" and isinstance(spec, dict):
        kink = spec["threshold"] / spec["beta"]
        z = np.where(np.abs(z - kink) < 0.05, kink + 0.5, z)
    return z


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_gradient_matches_central_differences(spec, seed):
    rng = np.random.default_rng(seed)
    batch, units = rng.integers(1, 7), rng.integers(1, 6)
    z = _kink_free(rng.normal(0.0, 2.0, size=(batch, units)), spec)
    grad_a = rng.normal(size=z.shape)
    activation = get_activation(spec)

    analytic = activation.backward(z, activation.forward(z), grad_a)
    numeric = numerical_gradient(lambda: np.sum(activation.forward(z) * grad_a), z)
    assert_gradients_close(analytic, numeric)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE_FORMULAS))
def test_forward_matches_hand_formula(name):
    z = np.linspace(-6.0, 6.0, 61).reshape(1, -1)
    expected = np.array([[ELEMENTWISE_FORMULAS[name](x) for x in z[0]]])
    np.testing.assert_allclose(get_activation(name).forward(z), expected, rtol=1e-14, atol=1e-15)


def test_known_values():
    np.testing.assert_allclose(get_activation("gelu").forward(np.array([[1.0, -1.0]])),
                               [[0.8413447460685429, -0.15865525393145707]], rtol=1e-15)
    np.testing.assert_allclose(get_activation({"type": "gelu", "approximate": "tanh"}).forward(
        np.array([[1.0, -2.0]])), [[_gelu_tanh(1.0), _gelu_tanh(-2.0)]], rtol=1e-15)
    np.testing.assert_allclose(get_activation("softplus").forward(np.array([[0.0, 25.0]])),
                               [[math.log(2.0), 25.0]], rtol=1e-15)
    np.testing.assert_allclose(get_activation({"type": "softplus", "beta": 2.0, "threshold": 3.0})
                               .forward(np.array([[1.0, 2.0]])),
                               [[math.log1p(math.exp(2.0)) / 2.0, 2.0]], rtol=1e-15)
    np.testing.assert_allclose(get_activation({"type": "elu", "alpha": 0.5}).forward(np.array([[-1.0]])),
                               [[0.5 * (math.exp(-1.0) - 1.0)]], rtol=1e-15)


def test_softmax_is_row_wise():
    z = np.array([[0.0, math.log(2.0)], [5.0, 5.0], [1000.0, 0.0]])
    np.testing.assert_allclose(get_activation("softmax").forward(z),
                               [[1 / 3, 2 / 3], [0.5, 0.5], [1.0, 0.0]], rtol=1e-15)


def test_softmax_of_a_single_row_and_a_single_unit():
    softmax = get_activation("softmax")
    np.testing.assert_allclose(softmax.forward(np.array([[1.0, 2.0, 3.0]])).sum(), 1.0, rtol=1e-15)
    assert softmax.forward(np.array([[7.0], [-3.0]])).tolist() == [[1.0], [1.0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_stable_for_extreme_and_zero_inputs(spec, dtype):
    activation = get_activation(spec)
    inputs = [np.array([[-1000.0, 1000.0, -90.0, 90.0, -30.0, 30.0, 1e-3]], dtype=dtype),
              np.zeros((3, 4), dtype=dtype),
              np.full((1, 3), 1000.0, dtype=dtype), np.full((1, 3), -1000.0, dtype=dtype)]
    with np.errstate(all="raise"):
        for z in inputs:
            a = activation.forward(z)
            grad_z = activation.backward(z, a, np.ones_like(z))
            assert np.isfinite(a).all() and np.isfinite(grad_z).all()


def test_sigmoid_saturates_cleanly():
    sigmoid = get_activation("sigmoid")
    for dtype in (np.float32, np.float64):
        with np.errstate(all="raise"):
            a = sigmoid.forward(np.array([[-1000.0, 0.0, 1000.0]], dtype=dtype))
        assert a.tolist() == [[0.0, 0.5, 1.0]]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_float32_stays_float32(spec):
    activation = get_activation(spec)
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    a = activation.forward(z)
    grad_z = activation.backward(z, a, np.ones_like(z))
    assert a.dtype == np.float32 and grad_z.dtype == np.float32
    reference = activation.forward(z.astype(np.float64))
    np.testing.assert_allclose(a, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_out_arguments_including_in_place(spec):
    activation = get_activation(spec)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 4))
    grad_a = rng.normal(size=(5, 4))
    a = activation.forward(z)
    grad_z = activation.backward(z, a, grad_a)

    out = np.empty_like(z)
    assert activation.forward(z, out=out) is out
    np.testing.assert_array_equal(out, a)
    in_place = z.copy()
    assert activation.forward(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, a)

    out = np.empty_like(z)
    assert activation.backward(z, a, grad_a, out=out) is out
    np.testing.assert_array_equal(out, grad_z)
    in_place = grad_a.copy()
    assert activation.backward(z, a, in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, grad_z)


def test_forward_without_out_leaves_input_alone():
    z = np.array([[-1.0, 2.0]])
    for name in ACTIVATIONS.names():
        a = get_activation(name).forward(z)
        assert a is not z
        assert z.tolist() == [[-1.0, 2.0]]


# --- registry ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_config_round_trip(spec):
    config = assert_round_trips(ACTIVATIONS, get_activation(spec))
    if isinstance(spec, dict):
        assert config == spec
    assert get_activation(config).get_config() == config


def test_catalogue_and_relu_family():
    assert set(ACTIVATIONS.names()) == {"linear", "relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid",
                                        "tanh", "softmax", "softplus"}
    assert {"relu", "leaky_relu", "elu", "gelu", "silu"} == RELU_FAMILY
    assert get_activation("relu").name == "relu"
    assert isinstance(get_activation({"type": "relu"}), Activation)


def test_defaults_as_pytorch():
    assert get_activation("leaky_relu").negative_slope == 0.01
    assert get_activation("elu").alpha == 1.0
    assert get_activation("gelu").approximate == "none"
    softplus = get_activation("softplus")
    assert (softplus.beta, softplus.threshold) == (1.0, 20.0)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown activation 'relux'; did you mean 'relu'\?"):
        get_activation("relux")
    with pytest.raises(ConfigError, match=r"did you mean 'gelu'\?"):
        get_activation({"type": "gelo"})
    with pytest.raises(CoreError, match="needs a 'type'"):
        get_activation({"alpha": 1.0})


def test_parameters_are_validated_by_their_model():
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        parameters_model(ACTIVATIONS.get("gelu"))(approximate="fast")
    with pytest.raises(pydantic.ValidationError):
        parameters_model(ACTIVATIONS.get("leaky_relu"))(negative_slope="0.1")
    with pytest.raises(pydantic.ValidationError):
        parameters_model(ACTIVATIONS.get("relu"))(alpha=1.0)


# --- erf --------------------------------------------------------------------------------------------

def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-10.0, 10.0, 40001),
                        [0.0, -0.0, 1e-300, -1e-20, 2.0 ** -28, 0.84375, -1.25, 1 / 0.35, 6.0, -6.0]])
    expected = np.array([math.erf(v) for v in x])
    with np.errstate(all="raise"):
        result = erf(x)
    np.testing.assert_allclose(result, expected, rtol=1e-15, atol=1e-16)
    assert np.max(np.abs(result - expected)) <= 2.3e-16


def test_erf_special_values_and_odd_symmetry():
    assert erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert np.isnan(erf(np.array([np.nan]))[0])
    x = np.random.default_rng(0).uniform(-7, 7, size=1000)
    np.testing.assert_array_equal(erf(-x), -erf(x))


def test_erf_float32_and_out():
    x = np.linspace(-5.0, 5.0, 1001, dtype=np.float32).reshape(7, 143)
    result = erf(x)
    assert result.dtype == np.float32 and result.shape == x.shape
    expected = np.array([math.erf(v) for v in x.ravel().astype(np.float64)]).reshape(x.shape)
    np.testing.assert_allclose(result, expected, rtol=2e-7, atol=1e-7)
    assert erf(x, out=x) is x
    np.testing.assert_array_equal(x, result)
    x64 = np.linspace(-3.0, 3.0, 101)
    expected64 = erf(x64)
    assert erf(x64, out=x64) is x64
    np.testing.assert_array_equal(x64, expected64)


# --- against PyTorch, when it is installed ------------------------------------------------------------

def _torch_function(spec):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    name = spec if isinstance(spec, str) else spec["type"]
    params = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "type"}
    return {
        "linear": lambda t: t,
        "relu": functional.relu,
        "leaky_relu": lambda t: functional.leaky_relu(t, **params),
        "elu": lambda t: functional.elu(t, **params),
        "gelu": lambda t: functional.gelu(t, **params),
        "silu": functional.silu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda t: functional.softmax(t, dim=1),
        "softplus": lambda t: functional.softplus(t, **params),
    }[name]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_matches_torch(spec):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z = _kink_free(rng.normal(0.0, 3.0, size=(8, 5)), spec)
    z[0, :] = [-40.0, 40.0, -1000.0, 1000.0, 0.5]
    grad_a = rng.normal(size=z.shape)
    activation = get_activation(spec)
    a = activation.forward(z)
    grad_z = activation.backward(z, a, grad_a)

    z_torch = torch.tensor(z, requires_grad=True)
    a_torch = _torch_function(spec)(z_torch)
    a_torch.backward(torch.tensor(grad_a))
    np.testing.assert_allclose(a, a_torch.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad_z, z_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
