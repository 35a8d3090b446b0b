"""The objective: the output activation and the loss as one function of the logits, fused where they pair."""

import numpy as np
import pytest

from nncli.nn.activations import ACTIVATIONS, get_activation
from nncli.nn.losses import LOSSES
from nncli.nn.objective import Objective
from tests.gradcheck import assert_gradients_close, numerical_gradient

FUSED_PAIRS = [("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy")]
CHAINED_PAIRS = [("linear", "mse"), ("tanh", "mse"), ("softplus", "mae"), ("gelu", "huber"), ("silu", "mse"),
                 ("sigmoid", "categorical_crossentropy"), ("softmax", "binary_crossentropy"), ("elu", "huber"),
                 ("linear", "huber"), ("sigmoid", "mse")]


def objective(activation, loss, fuse=True):
    return Objective(LOSSES.create(loss), get_activation(activation), fuse=fuse)


def batch(activation, loss, rng, rows=6, width=3):
    """Logits and targets the pair accepts: 0/1 for BCE, one-hot rows for CCE, reals otherwise."""
    width = 1 if (activation, loss) == ("sigmoid", "binary_crossentropy") else width
    logits = rng.normal(0.0, 1.5, size=(rows, width))
    if loss == "categorical_crossentropy":
        return logits, np.eye(width)[rng.integers(0, width, rows)]
    if loss == "binary_crossentropy":
        return logits, rng.integers(0, 2, size=(rows, width)).astype(float)
    return logits, rng.normal(size=(rows, width)) + 2.0  # keep mae/huber residuals off their kinks


@pytest.mark.parametrize("activation, loss", FUSED_PAIRS)
def test_a_pair_with_a_fused_form_takes_it_unless_told_not_to(activation, loss):
    assert objective(activation, loss).fused
    assert not objective(activation, loss, fuse=False).fused


@pytest.mark.parametrize("activation, loss", CHAINED_PAIRS)
def test_any_other_pair_takes_the_chain_rule(activation, loss):
    assert not objective(activation, loss).fused


@pytest.mark.parametrize("activation, loss", FUSED_PAIRS)
def test_the_fused_path_is_the_losss_fused_form_bit_for_bit(activation, loss):
    logits, target = batch(activation, loss, np.random.default_rng(0))
    logits, target = logits.astype(np.float32), target.astype(np.float32)
    value, grad = objective(activation, loss).value_and_grad(logits, target)
    expected_value, expected_grad = LOSSES.create(loss).from_logits(logits, target)
    assert value == expected_value
    np.testing.assert_array_equal(grad, expected_grad)
    assert grad.dtype == np.float32


@pytest.mark.parametrize("activation, loss", CHAINED_PAIRS)
def test_the_chained_path_is_activation_loss_and_derivative_bit_for_bit(activation, loss):
    logits, target = batch(activation, loss, np.random.default_rng(1))
    value, grad = objective(activation, loss).value_and_grad(logits, target)
    reference = get_activation(activation)
    outputs = reference.forward(logits)
    expected_value, grad_outputs = LOSSES.create(loss).forward(outputs, target)
    assert value == expected_value
    np.testing.assert_array_equal(grad, reference.backward(logits, outputs, grad_outputs))


@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("activation, loss", FUSED_PAIRS + CHAINED_PAIRS)
def test_gradient_with_respect_to_the_logits_matches_central_differences(activation, loss, fuse):
    rng = np.random.default_rng(2)
    logits, target = batch(activation, loss, rng)
    pair = objective(activation, loss, fuse=fuse)
    _, grad = pair.value_and_grad(logits, target)
    analytic = grad.copy()  # the objective's buffer: the next call overwrites it
    numeric = numerical_gradient(lambda: pair.value_and_grad(logits, target)[0], logits)
    assert_gradients_close(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation, loss", FUSED_PAIRS)
def test_fused_and_chained_agree_where_both_are_accurate(activation, loss):
    logits, target = batch(activation, loss, np.random.default_rng(3))
    fused_value, fused_grad = objective(activation, loss).value_and_grad(logits, target)
    chained_value, chained_grad = objective(activation, loss, fuse=False).value_and_grad(logits, target)
    assert fused_value == pytest.approx(chained_value, rel=1e-12)
    np.testing.assert_allclose(fused_grad, chained_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation, loss", FUSED_PAIRS)
def test_the_fused_path_stays_exact_where_probabilities_saturate(activation, loss):
    width = 1 if activation == "sigmoid" else 2
    logits = np.full((1, width), 60.0, dtype=np.float32)  # p = 1 - 1e-26, far past float32's 1 - eps
    target = np.zeros((1, width), dtype=np.float32)
    if activation == "softmax":
        logits[0, 1], target[0, 1] = 0.0, 1.0  # the true class has probability e^-60
    value, grad = objective(activation, loss).value_and_grad(logits, target)
    assert value == pytest.approx(60.0, rel=1e-6)  # the chained form clips it to -log(eps) = 15.9
    assert np.isfinite(grad).all()


def test_the_gradient_is_a_kept_buffer_and_the_value_a_float():
    pair = objective("tanh", "mse")
    logits, target = batch("tanh", "mse", np.random.default_rng(4))
    value, first = pair.value_and_grad(logits, target)
    assert isinstance(value, float)
    assert pair.value_and_grad(logits, target)[1] is first
    _, smaller = pair.value_and_grad(logits[:4], target[:4])  # a smaller last batch: a view of the same rows
    assert smaller.base is first


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activate_gives_the_outputs_and_leaves_the_logits_alone(name):
    logits = np.random.default_rng(5).normal(size=(4, 3))
    kept = logits.copy()
    outputs = Objective(LOSSES.create("mse"), get_activation(name)).activate(logits)
    np.testing.assert_array_equal(outputs, get_activation(name).forward(kept))
    np.testing.assert_array_equal(logits, kept)
    assert (outputs is logits) == (name == "linear")
