"""Each optimizer's update rule, written once as a loop over the elements of flat arrays.

A rule is both engines' source: numba compiles it as it stands (`nncli.nn.optimizers.fused`), and
`nncli.nn.optimizers.passes` runs its loop body once on whole arrays to get the numpy passes, one per
operation. So both engines do the same operations in the same order and precision, bit for bit.

The contract that keeps the two identical:
- The parameters are named, in this order: `param`, `grad`, the optimizer's state arrays under their state
  names (`Array`), the step's flags (`bool`: they choose the branches), its numbers (`float`). The optimizer
  gives the flags and numbers by name (`Optimizer.flags`, `Optimizer.numbers`); a state array its
  configuration does not keep is never read or written (its flag is off).
- Operations are `+ - * /`, unary minus, `np.sqrt` and `np.maximum`, between array elements and numbers.
  A number is computed by the optimizer in Python floats (numpy casts it to the parameters' dtype, and so
  does the kernel's caller): no literal and no arithmetic between two numbers here, except minus.
- Write each state element and `param[i]` once, with its new value.
"""

import numpy as np

Array = np.ndarray


def sgd(param: Array, grad: Array, momentum_buffer: Array, decays: bool, keeps_momentum: bool,
        first_step: bool, nesterov: bool, weight_decay: float, momentum: float, damping: float, lr: float):
    """torch.optim.SGD; `damping` is 1 - dampening."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if decays:
            g = g + p * weight_decay
        if keeps_momentum:
            b = g if first_step else momentum_buffer[i] * momentum + g * damping
            momentum_buffer[i] = b
            g = g + b * momentum if nesterov else b
        param[i] = p - g * lr


def adam(param: Array, grad: Array, exp_avg_sum: Array, exp_avg_sq_sum: Array, max_exp_avg_sq_sum: Array,
         decays_weights: bool, decays: bool, amsgrad: bool, decay: float, weight_decay: float, beta1: float,
         beta2: float, denom_eps: float, step_size: float):
    """torch.optim.Adam and AdamW with the averages kept as sums (see `Adam.numbers`).

    `decays_weights` multiplies the parameter by `decay` first (adamw), `decays` adds `weight_decay * p` to
    the gradient (adam).
    """
    for i in range(param.shape[0]):
        p = param[i]
        if decays_weights:
            p = p * decay
        g = grad[i]
        if decays:
            g = g + p * weight_decay
        m = exp_avg_sum[i] * beta1 + g
        v = exp_avg_sq_sum[i] * beta2 + g * g
        exp_avg_sum[i] = m
        exp_avg_sq_sum[i] = v
        if amsgrad:
            v = np.maximum(max_exp_avg_sq_sum[i], v)
            max_exp_avg_sq_sum[i] = v
        param[i] = p - m / (np.sqrt(v) + denom_eps) * step_size


def rmsprop(param: Array, grad: Array, square_avg: Array, grad_avg: Array, momentum_buffer: Array,
            decays: bool, centered: bool, lerp_small: bool, keeps_momentum: bool, weight_decay: float,
            alpha: float, one_minus_alpha: float, lerp_weight: float, eps: float, momentum: float, lr: float):
    """torch.optim.RMSprop. The centered average follows torch's `lerp_` in its two forms: `a + (g - a) * w`
    when `lerp_small` (w < 0.5), else `g - (g - a) * lerp_weight` with `lerp_weight` = 1 - w."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if decays:
            g = g + p * weight_decay
        sq = square_avg[i] * alpha + g * one_minus_alpha * g
        square_avg[i] = sq
        if centered:
            a = grad_avg[i]
            a = a + (g - a) * lerp_weight if lerp_small else g - (g - a) * lerp_weight
            grad_avg[i] = a
            avg = np.sqrt(-a * a + sq) + eps
        else:
            avg = np.sqrt(sq) + eps
        if keeps_momentum:
            b = momentum_buffer[i] * momentum + g / avg
            momentum_buffer[i] = b
            param[i] = p - b * lr
        else:
            param[i] = p + g * -lr / avg


def adagrad(param: Array, grad: Array, sum: Array, decays: bool, weight_decay: float, eps: float, clr: float):
    """torch.optim.Adagrad; `clr` is the step's decayed learning rate."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if decays:
            g = g + p * weight_decay
        total = sum[i] + g * g
        sum[i] = total
        param[i] = p + g * -clr / (np.sqrt(total) + eps)
