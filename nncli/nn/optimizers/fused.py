"""Single-pass optimizer updates compiled with numba, when numba is installed (`pip install "nncli[fast]"`).

An optimizer step in numpy is a sequence of whole-array passes (Adam: 10 over every parameter), each
reading and writing the parameter-sized arrays again; on a large network that is a quarter of an epoch,
and numpy runs it on one core. A compiled loop does every operation of an element at once: the same
operations in the same order and precision, so the parameters come out bit for bit as from the numpy
passes (tests/test_fused.py checks it), three to four times faster.

A kernel costs about 0.7 s once per process (importing numba and loading the kernel from numba's on-disk
cache; compiling it on the very first use, about a second more) and then saves about 1 ns per parameter and
step. The training loop therefore asks for them (`Optimizer.compiled`) only when the run plans at least
`MIN_WORK` parameter updates (`worth_compiling`), and they serve parameter arrays of at least `MIN_SIZE`
elements. `NNCLI_FUSED=0` in the environment turns them off.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

MIN_SIZE = 10_000
MIN_WORK = 1e9  # parameters x steps: about 1 s saved for the 0.7 s a process spends to get the kernels


def worth_compiling(parameters: int, steps: int) -> bool:
    """Whether a run of `steps` optimizer steps over `parameters` parameters gains from the kernels."""
    return parameters >= MIN_SIZE and parameters * steps >= MIN_WORK


_kernels: dict[str, Callable] | None = None
_ready: dict[tuple[str, np.dtype], Callable | None] = {}  # kernels that ran once for a dtype, or None


def kernel(name: str, param: np.ndarray) -> Callable | None:
    """The compiled kernel `name` for this parameter array, or None to use the numpy passes.

    The kernels update flat views (`reshape(-1)`), so the parameter must be C-contiguous (optimizer state
    arrays always are): a copy would be updated instead.
    """
    if param.size < MIN_SIZE or not param.flags.c_contiguous or os.environ.get("NNCLI_FUSED", "1") == "0":
        return None
    slot = (name, param.dtype)
    if slot not in _ready:
        _ready[slot] = _tried(name, param.dtype)
    return _ready[slot]


def _tried(name: str, dtype: np.dtype) -> Callable | None:
    """The kernel after a first call on a few elements (which compiles it), or None if it cannot run here."""
    function = _compiled().get(name)
    if function is None:
        return None
    try:
        function(*_TRIAL_ARGUMENTS[name](dtype))
    except Exception:  # numba present but unable to compile for this platform or dtype: numpy it is
        return None
    return function


def _compiled() -> dict[str, Callable]:
    global _kernels
    if _kernels is None:
        try:
            import numba
        except ImportError:
            _kernels = {}
        else:  # NUMBA_DISABLE_JIT would run the loops in Python, a thousand times slower than numpy
            _kernels = {} if numba.config.DISABLE_JIT else {
                name: _jit(numba, function) for name, function in _PYTHON_KERNELS.items()}
    return _kernels


def _jit(numba, function: Callable) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan as in numpy instead of raising, which also lets
    # the loop vectorize; no fastmath, so no reassociation and no fused multiply-add: numpy's exact results
    options = {"nogil": True, "error_model": "numpy", "boundscheck": False}
    try:
        return numba.njit(cache=True, **options)(function)
    except Exception:  # no writable cache directory: compile on every run instead
        return numba.njit(**options)(function)


def adam(param, grad, exp_avg_sum, exp_avg_sq_sum, max_exp_avg_sq_sum, amsgrad, decay, coupled_decay,
         beta1, beta2, denom_eps, step_size):
    """`nncli.nn.optimizers.adam.Adam._update` for one flat array; scalars in the arrays' dtype.

    `decay` multiplies the parameter first (adamw's decoupled weight decay, 1 otherwise); `coupled_decay`
    adds `coupled_decay * p` to the gradient (adam's weight decay, 0 otherwise).
    """
    for i in range(param.shape[0]):
        p = param[i]
        if decay != 1:
            p = p * decay
        g = grad[i]
        if coupled_decay != 0:
            g = g + p * coupled_decay
        m = exp_avg_sum[i] * beta1 + g
        v = exp_avg_sq_sum[i] * beta2 + g * g
        exp_avg_sum[i] = m
        exp_avg_sq_sum[i] = v
        if amsgrad:  # np.maximum(v_max, v): a NaN on either side is the result
            v_max = max_exp_avg_sq_sum[i]
            if v_max != v_max or (v == v and v_max >= v):
                v = v_max
            max_exp_avg_sq_sum[i] = v
        param[i] = p - m / (math.sqrt(v) + denom_eps) * step_size


def sgd(param, grad, momentum_buffer, use_momentum, first_step, momentum, damping, nesterov, weight_decay, lr):
    """`nncli.nn.optimizers.sgd.SGD._update` for one flat array; scalars in the arrays' dtype.

    `damping` is 1 - dampening; without `use_momentum`, `momentum_buffer` is not touched.
    """
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        if use_momentum:
            if first_step:
                b = g
            else:
                b = momentum_buffer[i] * momentum + g * damping
            momentum_buffer[i] = b
            if nesterov:
                g = g + b * momentum
            else:
                g = b
        param[i] = p - g * lr


def rmsprop(param, grad, square_avg, grad_avg, momentum_buffer, centered, use_momentum, alpha, one_minus_alpha,
            lerp_small, lerp_weight, eps, momentum, weight_decay, lr):
    """`nncli.nn.optimizers.rmsprop.RMSprop._update` for one flat array; scalars in the arrays' dtype.

    `grad_avg` (centered) and `momentum_buffer` (momentum > 0) are touched only when used. The centered
    average follows `lerp_`: `a + (g - a) * lerp_weight` when `lerp_small`, else `g - (g - a) * lerp_weight`
    (there the weight is 1 minus torch's).
    """
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        sq = square_avg[i] * alpha + g * one_minus_alpha * g
        square_avg[i] = sq
        if centered:
            a = grad_avg[i]
            if lerp_small:
                a = a + (g - a) * lerp_weight
            else:
                a = g - (g - a) * lerp_weight
            grad_avg[i] = a
            avg = math.sqrt(-a * a + sq) + eps
        else:
            avg = math.sqrt(sq) + eps
        if use_momentum:
            b = momentum_buffer[i] * momentum + g / avg
            momentum_buffer[i] = b
            param[i] = p - b * lr
        else:
            param[i] = p + g * -lr / avg


def adagrad(param, grad, state_sum, weight_decay, eps, clr):
    """`nncli.nn.optimizers.adagrad.Adagrad._update` for one flat array; scalars in the arrays' dtype."""
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            g = g + p * weight_decay
        total = state_sum[i] + g * g
        state_sum[i] = total
        param[i] = p + g * -clr / (math.sqrt(total) + eps)


_PYTHON_KERNELS = {"adam": adam, "sgd": sgd, "rmsprop": rmsprop, "adagrad": adagrad}


def _scalars(dtype: np.dtype, *values: float) -> tuple:
    return tuple(dtype.type(value) for value in values)


def _adam_trial(dtype: np.dtype) -> tuple:
    arrays = [np.ones(4, dtype=dtype) for _ in range(5)]
    return (*arrays, True, *_scalars(dtype, 0.5, 0.1, 0.9, 0.99, 1e-3, 1e-2))


def _sgd_trial(dtype: np.dtype) -> tuple:
    arrays = [np.ones(4, dtype=dtype) for _ in range(3)]
    return (*arrays, True, False, *_scalars(dtype, 0.9, 1.0), True, *_scalars(dtype, 0.1, 0.01))


def _rmsprop_trial(dtype: np.dtype) -> tuple:
    arrays = [np.ones(4, dtype=dtype) for _ in range(5)]
    return (*arrays, True, True, *_scalars(dtype, 0.99, 0.01), True, *_scalars(dtype, 0.01, 1e-8, 0.9, 0.1, 0.01))


def _adagrad_trial(dtype: np.dtype) -> tuple:
    return (*(np.ones(4, dtype=dtype) for _ in range(3)), *_scalars(dtype, 0.1, 1e-10, 0.01))


_TRIAL_ARGUMENTS = {"adam": _adam_trial, "sgd": _sgd_trial, "rmsprop": _rmsprop_trial, "adagrad": _adagrad_trial}
