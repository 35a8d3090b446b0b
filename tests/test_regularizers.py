"""L1/L2 penalties and their gradients, and global-norm clipping, by hand."""

import math

import numpy as np
import pytest

from nncli.nn.regularizers import clip_global_norm, regularize


def weights() -> list[np.ndarray]:
    return [np.array([[1.0, -2.0], [0.0, 3.0]]), np.array([[-0.5], [4.0]])]


def penalty(ws, l1, l2):
    """The penalty over all matrices, each through `regularize` into a throwaway gradient."""
    return sum(regularize(w, np.zeros_like(w), l1, l2, np.empty_like(w)) for w in ws)


def test_penalty_by_hand():
    # Σ|W| = 6 + 4.5 = 10.5; Σ W² = 14 + 16.25 = 30.25
    assert penalty(weights(), l1=0.0, l2=0.0) == 0.0
    assert penalty(weights(), l1=0.1, l2=0.0) == pytest.approx(1.05)
    assert penalty(weights(), l1=0.0, l2=0.01) == pytest.approx(0.15125)
    assert penalty(weights(), l1=0.1, l2=0.01) == pytest.approx(1.05 + 0.15125)
    weight = weights()[0].astype(np.float32)
    assert isinstance(regularize(weight, np.zeros_like(weight), 0.1, 0.01, np.empty_like(weight)), float)


def test_gradient_by_hand_in_place():
    grads = [np.ones((2, 2)), np.zeros((2, 1))]
    originals = list(grads)
    for weight, grad in zip(weights(), grads, strict=False):
        regularize(weight, grad, l1=0.1, l2=0.01, scratch=np.empty_like(weight))
    assert grads[0] is originals[0] and grads[1] is originals[1]
    np.testing.assert_allclose(grads[0], [[1 + 0.1 + 0.01, 1 - 0.1 - 0.02], [1.0, 1 + 0.1 + 0.03]])
    np.testing.assert_allclose(grads[1], [[-0.1 - 0.005], [0.1 + 0.04]])


def test_gradient_is_the_derivative_of_the_penalty():
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(3, 2)), rng.normal(size=(2, 1))]
    grads = [np.zeros_like(w) for w in ws]
    for weight, grad in zip(ws, grads, strict=False):
        regularize(weight, grad, 0.3, 0.2, np.empty_like(weight))
    eps = 1e-6
    for w, grad in zip(ws, grads, strict=False):
        for index in np.ndindex(w.shape):
            original = w[index]
            w[index] = original + eps
            plus = penalty(ws, 0.3, 0.2)
            w[index] = original - eps
            minus = penalty(ws, 0.3, 0.2)
            w[index] = original
            assert grad[index] == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)


def test_zero_coefficients_leave_gradients_alone_and_keep_dtype():
    weight = weights()[0].astype(np.float32)
    grad = np.full((2, 2), 0.5, dtype=np.float32)
    assert regularize(weight, grad, l1=0.0, l2=0.0, scratch=np.empty_like(weight)) == 0.0
    assert (grad == 0.5).all()
    regularize(weight, grad, l1=0.0, l2=0.1, scratch=np.empty_like(weight))
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, [[0.6, 0.3], [0.5, 0.8]], rtol=1e-6)


def test_clip_global_norm_by_hand():
    grads = [np.array([[3.0, 0.0]]), np.array([[0.0], [4.0]])]  # total norm 5
    total = clip_global_norm(grads, max_norm=1.0)
    assert total == 5.0
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(grads[0], [[3.0 * coef, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(grads[1], [[0.0], [4.0 * coef]], rtol=1e-15)


def test_clip_global_norm_leaves_small_gradients_alone():
    grads = [np.array([[3.0, 0.0]]), np.array([[0.0], [4.0]], dtype=np.float64)]
    assert clip_global_norm(grads, max_norm=10.0) == 5.0
    assert grads[0].tolist() == [[3.0, 0.0]] and grads[1].tolist() == [[0.0], [4.0]]
    # coef = 5 / (5 + 1e-6) < 1: scaled, as in PyTorch, even at max_norm == total norm
    assert clip_global_norm(grads, max_norm=5.0) == 5.0
    assert grads[1][1, 0] == pytest.approx(4.0 * 5.0 / (5.0 + 1e-6), rel=1e-15)


def test_clip_global_norm_keeps_float32():
    grads = [np.full((10, 10), 1.0, dtype=np.float32)]
    total = clip_global_norm(grads, max_norm=1.0)
    assert total == pytest.approx(10.0) and isinstance(total, float)
    assert grads[0].dtype == np.float32
    assert math.sqrt(float(np.vdot(grads[0], grads[0]))) == pytest.approx(1.0, rel=1e-5)


def test_clip_global_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(4, 3)), rng.normal(size=(3,)), rng.normal(size=(3, 1))]
    parameters = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for parameter, grad in zip(parameters, grads, strict=False):
        parameter.grad = torch.tensor(grad)
    total_torch = torch.nn.utils.clip_grad_norm_(parameters, max_norm=0.5)
    total = clip_global_norm(grads, max_norm=0.5)
    assert total == pytest.approx(total_torch.item(), rel=1e-14)
    for parameter, grad in zip(parameters, grads, strict=False):
        np.testing.assert_allclose(grad, parameter.grad.numpy(), rtol=1e-14)
