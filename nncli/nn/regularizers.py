"""Weight penalties (`regularization: {l1, l2}`) and global gradient-norm clipping (`training.clip_norm`)."""

from __future__ import annotations

import math

import numpy as np


def regularize(weight: np.ndarray, grad: np.ndarray, l1: float, l2: float, scratch: np.ndarray) -> float:
    """For one weight matrix: add l1 · sign(W) + l2 · W to `grad` in place, return l1 · Σ|W| + l2/2 · Σ W².

    `scratch`, an array shaped like `weight`, is the only work space, so a training step allocates nothing.
    """
    penalty = 0.0
    if l1:
        sign = np.sign(weight, out=scratch)
        penalty += l1 * float(np.vdot(sign, weight))  # Σ sign(w) w = Σ|w|
        sign *= l1
        grad += sign
    if l2:
        penalty += 0.5 * l2 * float(np.vdot(weight, weight))
        grad += np.multiply(weight, l2, out=scratch)
    return penalty


def clip_global_norm(grads: list[np.ndarray], max_norm: float) -> float:
    """Scale all grads in place so their joint L2 norm is at most `max_norm`; returns the norm before.

    As `torch.nn.utils.clip_grad_norm_`: total = √(Σ over all elements of g²),
    coef = max_norm / (total + 1e-6), and the grads are multiplied by coef only when coef < 1.
    """
    total_norm = math.sqrt(sum(float(np.vdot(grad, grad)) for grad in grads))
    coef = max_norm / (total_norm + 1e-6)
    if coef < 1.0:
        for grad in grads:
            grad *= coef
    return total_norm
