"""Losses: values by hand, gradients (central differences), fused forms, stability, dtypes, registry."""

import math

import numpy as np
import pytest

from nncli.errors import ConfigError
from nncli.nn.activations import get_activation
from nncli.nn.losses import LOSSES
from nncli.registry import parameters_model
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.roundtrip import assert_round_trips

SPECS = [*LOSSES.names(), {"type": "huber", "delta": 0.3}]
SPEC_IDS = [spec if isinstance(spec, str) else "huber-0.3" for spec in SPECS]
FUSED = ["binary_crossentropy", "categorical_crossentropy"]


def make_loss(spec):
    if isinstance(spec, str):
        return LOSSES.create(spec)
    params = dict(spec)
    return LOSSES.create(params.pop("type"), **params)


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels]


def batch(spec, rng: np.random.Generator, rows: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits, target) suited to the loss: 0/1 column for BCE, one-hot rows for CCE, reals otherwise."""
    name = spec if isinstance(spec, str) else spec["type"]
    if name == "binary_crossentropy":
        return rng.normal(0.0, 2.0, size=(rows, 1)), rng.integers(0, 2, size=(rows, 1)).astype(float)
    if name == "categorical_crossentropy":
        return rng.normal(0.0, 2.0, size=(rows, outputs)), one_hot(rng.integers(0, outputs, rows), outputs)
    return rng.normal(size=(rows, outputs)), rng.normal(size=(rows, outputs))


def predictions(spec, logits: np.ndarray) -> np.ndarray:
    """The output activations the loss expects in `forward`."""
    fused = make_loss(spec).fused_activation
    return logits.copy() if fused is None else get_activation(fused).forward(logits)


def _kink_free(spec, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Move predictions away from |pred - target| = 0 (MAE) and = delta (Huber)."""
    name = spec if isinstance(spec, str) else spec["type"]
    diff = pred - target
    if name == "mae":
        return np.where(np.abs(diff) < 0.05, target + 0.5, pred)
    if name == "huber":
        delta = make_loss(spec).delta
        return np.where(np.abs(np.abs(diff) - delta) < 0.05, target + np.sign(diff) * (delta + 0.5), pred)
    return pred


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_forward_gradient_matches_central_differences(spec, seed):
    rng = np.random.default_rng(seed)
    rows, outputs = rng.integers(1, 7), rng.integers(2, 5)
    logits, target = batch(spec, rng, rows, outputs)
    pred = _kink_free(spec, predictions(spec, logits), target)
    loss = make_loss(spec)

    _, analytic = loss.forward(pred, target)
    numeric = numerical_gradient(lambda: loss.forward(pred, target)[0], pred, eps=1e-7)
    assert_gradients_close(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", FUSED)
def test_from_logits_gradient_matches_central_differences(name, seed):
    rng = np.random.default_rng(seed)
    logits, target = batch(name, rng, rng.integers(1, 7), rng.integers(2, 5))
    loss = make_loss(name)

    _, analytic = loss.from_logits(logits, target)
    numeric = numerical_gradient(lambda: loss.from_logits(logits, target)[0], logits)
    assert_gradients_close(analytic, numeric)


@pytest.mark.parametrize("name", FUSED)
def test_fused_form_equals_activation_then_loss(name):
    rng = np.random.default_rng(5)
    logits, target = batch(name, rng, 6, 3)
    loss = make_loss(name)
    activation = get_activation(loss.fused_activation)
    probabilities = activation.forward(logits)

    value, grad_probabilities = loss.forward(probabilities, target)
    fused_value, fused_grad = loss.from_logits(logits, target)
    assert fused_value == pytest.approx(value, rel=1e-12)
    chained = activation.backward(logits, probabilities, grad_probabilities)
    np.testing.assert_allclose(fused_grad, chained, rtol=1e-10, atol=1e-14)


def test_values_by_hand():
    pred = np.array([[1.0, 2.0], [0.5, -3.0]])
    target = np.array([[0.0, 0.0], [0.5, -1.0]])
    assert make_loss("mse").forward(pred, target)[0] == pytest.approx((1 + 4 + 0 + 4) / 4)
    assert make_loss("mae").forward(pred, target)[0] == pytest.approx((1 + 2 + 0 + 2) / 4)
    # huber(delta=1): d = 1, 2, 0, -2 -> 0.5, 1.5, 0, 1.5
    assert make_loss("huber").forward(pred, target)[0] == pytest.approx((0.5 + 1.5 + 0 + 1.5) / 4)
    # huber(delta=0.5): 0.5 * (|d| - 0.25) for |d| > 0.5
    assert make_loss({"type": "huber", "delta": 0.5}).forward(pred, target)[0] == pytest.approx(
        (0.375 + 0.875 + 0 + 0.875) / 4)

    p = np.array([[0.5], [0.9], [0.2]])
    y = np.array([[1.0], [1.0], [0.0]])
    expected = -(math.log(0.5) + math.log(0.9) + math.log(0.8)) / 3
    assert make_loss("binary_crossentropy").forward(p, y)[0] == pytest.approx(expected, rel=1e-14)

    p = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    y = one_hot(np.array([0, 2]), 3)
    expected = -(math.log(0.7) + math.log(0.5)) / 2
    assert make_loss("categorical_crossentropy").forward(p, y)[0] == pytest.approx(expected, rel=1e-14)


def test_gradients_by_hand():
    pred = np.array([[1.0, 2.0], [0.5, -3.0]])
    target = np.array([[0.0, 0.0], [0.5, -1.0]])
    np.testing.assert_allclose(make_loss("mse").forward(pred, target)[1], 2 * (pred - target) / 4)
    np.testing.assert_array_equal(make_loss("mae").forward(pred, target)[1], [[0.25, 0.25], [0.0, -0.25]])
    np.testing.assert_allclose(make_loss("huber").forward(pred, target)[1], [[0.25, 0.25], [0.0, -0.25]])
    logits = np.array([[0.0], [2.0]])
    y = np.array([[1.0], [0.0]])
    sigmoid_2 = 1 / (1 + math.exp(-2.0))
    value, grad = make_loss("binary_crossentropy").from_logits(logits, y)
    assert value == pytest.approx((math.log(2.0) + math.log1p(math.exp(2.0))) / 2, rel=1e-14)
    np.testing.assert_allclose(grad, [[-0.25], [sigmoid_2 / 2]], rtol=1e-14)
    logits = np.array([[0.0, math.log(3.0)]])
    value, grad = make_loss("categorical_crossentropy").from_logits(logits, np.array([[1.0, 0.0]]))
    assert value == pytest.approx(math.log(4.0), rel=1e-14)
    np.testing.assert_allclose(grad, [[0.25 - 1.0, 0.75]], rtol=1e-14)


def test_mae_gradient_at_zero_is_zero():
    pred = np.array([[1.0, 2.0, 3.0]])
    assert make_loss("mae").forward(pred, pred.copy())[1].tolist() == [[0.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUSED)
def test_from_logits_stable_at_extremes(name, dtype):
    loss = make_loss(name)
    if name == "binary_crossentropy":
        logits = np.array([[-1000.0], [1000.0], [-1000.0], [1000.0], [0.0]], dtype=dtype)
        target = np.array([[0.0], [1.0], [1.0], [0.0], [1.0]], dtype=dtype)
        expected = (1000.0 + 1000.0 + math.log(2.0)) / 5
    else:
        logits = np.array([[-1000.0, 1000.0, 0.0], [1000.0, -1000.0, 1000.0], [0.0, 0.0, 0.0]], dtype=dtype)
        target = one_hot(np.array([1, 1, 2]), 3).astype(dtype)
        expected = (0.0 + (2000.0 + math.log(2.0)) + math.log(3.0)) / 3
    with np.errstate(all="raise"):
        value, grad = loss.from_logits(logits, target)
        zero_value, zero_grad = loss.from_logits(np.zeros_like(logits), np.zeros_like(target))
    assert isinstance(value, float) and value == pytest.approx(expected, rel=1e-6)
    assert grad.dtype == dtype and np.isfinite(grad).all() and np.abs(grad).max() <= 1.0
    assert math.isfinite(zero_value) and np.isfinite(zero_grad).all() and zero_grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_forward_stable_on_saturated_and_zero_predictions(spec, dtype):
    loss = make_loss(spec)
    rows = 4
    logits = np.array([[-1000.0, 1000.0, 0.0]] * rows, dtype=dtype)
    if loss.fused_activation == "sigmoid":
        logits = logits[:, :1].copy()
        logits[1, 0] = 1000.0
    pred = logits if loss.fused_activation is None else get_activation(loss.fused_activation).forward(logits)
    target = np.zeros_like(pred)
    target[:, 0] = 1.0
    with np.errstate(all="raise"):
        zeros = np.zeros_like(pred)
        for p, t in [(pred, target), (zeros, np.zeros_like(target)), (zeros, target)]:
            value, grad = loss.forward(p, t)
            assert isinstance(value, float) and math.isfinite(value)
            assert grad.dtype == dtype and np.isfinite(grad).all()


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_float32_stays_float32_and_single_rows(spec):
    rng = np.random.default_rng(2)
    loss = make_loss(spec)
    for rows in (1, 5):
        logits, target = batch(spec, rng, rows, 3)
        pred = predictions(spec, logits).astype(np.float32)
        value, grad = loss.forward(pred, target)  # a float64 target is cast, not the pred upcast
        assert isinstance(value, float) and grad.dtype == np.float32 and grad.shape == pred.shape
        reference_value, reference_grad = loss.forward(pred.astype(np.float64), target)
        assert value == pytest.approx(reference_value, rel=1e-5, abs=1e-6)
        np.testing.assert_allclose(grad, reference_grad, rtol=1e-4, atol=1e-5)
        if loss.fused_activation is not None:
            value, grad = loss.from_logits(logits.astype(np.float32), target.astype(np.float32))
            assert isinstance(value, float) and grad.dtype == np.float32 and grad.shape == logits.shape


def test_fused_activations_and_non_fused_losses():
    assert make_loss("binary_crossentropy").fused_activation == "sigmoid"
    assert make_loss("categorical_crossentropy").fused_activation == "softmax"
    for name in ("mse", "mae", "huber"):
        loss = make_loss(name)
        assert loss.fused_activation is None
        with pytest.raises(NotImplementedError):
            loss.from_logits(np.zeros((1, 1)), np.zeros((1, 1)))


# --- registry ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_config_round_trip(spec):
    config = assert_round_trips(LOSSES, make_loss(spec))
    if isinstance(spec, dict):
        assert config == spec


def test_catalogue_and_unknown_names():
    assert set(LOSSES.names()) == {"mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy"}
    assert make_loss("huber").delta == 1.0
    with pytest.raises(ConfigError, match=r"unknown loss 'binary_crossentropie'; did you mean "
                                          r"'binary_crossentropy'\?"):
        LOSSES.get("binary_crossentropie")


def test_huber_delta_must_be_positive():
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        parameters_model(LOSSES.get("huber"))(delta=0.0)


# --- against PyTorch, when it is installed ------------------------------------------------------------

def _torch_loss(name, delta=1.0):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    return {
        "mse": functional.mse_loss,
        "mae": functional.l1_loss,
        "huber": lambda p, t: functional.huber_loss(p, t, delta=delta),
        "binary_crossentropy": functional.binary_cross_entropy,
        "categorical_crossentropy": lambda p, t: -(t * torch.log(p)).sum(dim=1).mean(),
    }[name]


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_forward_matches_torch(spec):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    logits, target = batch(spec, rng, 9, 4)
    pred = _kink_free(spec, predictions(spec, logits), target)
    loss = make_loss(spec)
    value, grad = loss.forward(pred, target)

    pred_torch = torch.tensor(pred, requires_grad=True)
    value_torch = _torch_loss(loss.name, getattr(loss, "delta", 1.0))(pred_torch, torch.tensor(target))
    value_torch.backward()
    assert value == pytest.approx(value_torch.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, pred_torch.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FUSED)
def test_from_logits_matches_torch(name):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(8)
    logits, target = batch(name, rng, 9, 4)
    logits[0] = 1000.0
    logits[1] = -1000.0
    value, grad = make_loss(name).from_logits(logits, target)

    logits_torch = torch.tensor(logits, requires_grad=True)
    if name == "binary_crossentropy":
        value_torch = functional.binary_cross_entropy_with_logits(logits_torch, torch.tensor(target))
    else:
        value_torch = functional.cross_entropy(logits_torch, torch.tensor(target))
    value_torch.backward()
    assert value == pytest.approx(value_torch.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, logits_torch.grad.numpy(), rtol=1e-12, atol=1e-12)
