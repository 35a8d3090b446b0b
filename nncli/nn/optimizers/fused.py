"""The update rules compiled with numba, when numba is installed (`pip install "nncli[fast]"`).

An optimizer step in numpy is a sequence of whole-array passes (Adam: 10 over every parameter), each
reading and writing the parameter-sized arrays again; on a large network that is a quarter of an epoch,
and numpy runs it on one core. numba compiles each rule of `nncli.nn.optimizers.rules` as written, a loop
doing every operation of an element at once: the same operations in the same order and precision as the
passes derived from the same rule, so the parameters come out bit for bit the same (tests/test_fused.py
checks it), three to four times faster.

A kernel costs about 0.7 s once per process (importing numba and loading the kernel from numba's on-disk
cache; compiling it on the very first use, about a second more) and then saves about 1 ns per parameter and
step. The training loop therefore asks for them (`Optimizer.choose_engine`) only when the run plans at least
`MIN_WORK` parameter updates (`worth_compiling`), and they serve parameter arrays of at least `MIN_SIZE`
elements. `NNCLI_FUSED=0` in the environment turns them off.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

import numpy as np

from nncli.nn.optimizers import rules

MIN_SIZE = 10_000
MIN_WORK = 1e9  # parameters x steps: about 1 s saved for the 0.7 s a process spends to get the kernels


def worth_compiling(parameters: int, steps: int) -> bool:
    """Whether a run of `steps` optimizer steps over `parameters` parameters gains from the kernels."""
    return parameters >= MIN_SIZE and parameters * steps >= MIN_WORK


_kernels: dict[str, Callable] | None = None
_ready: dict[tuple[str, np.dtype], Kernel | None] = {}  # kernels that ran once for a dtype, or None
_NOT_KEPT: dict[np.dtype, np.ndarray] = {}  # an empty array for the state arrays a configuration lacks


def kernel(rule: Callable, param: np.ndarray) -> Kernel | None:
    """The compiled `rule` for this parameter array, or None to use the numpy passes.

    The kernels update flat views (`reshape(-1)`), so the parameter must be C-contiguous (optimizer state
    arrays always are): a copy would be updated instead.
    """
    if param.size < MIN_SIZE or not param.flags.c_contiguous or os.environ.get("NNCLI_FUSED", "1") == "0":
        return None
    slot = (rule.__name__, param.dtype)
    if slot not in _ready:
        _ready[slot] = _tried(rule, param.dtype)
    return _ready[slot]


class Kernel:
    """A compiled rule, called by its parameters' names."""

    def __init__(self, compiled: Callable, rule: Callable):
        self.compiled = compiled
        kinds = {name: parameter.annotation for name, parameter in inspect.signature(rule).parameters.items()}
        self.states = [name for name, kind in kinds.items() if kind is np.ndarray][2:]  # after param and grad
        self.flags = [name for name, kind in kinds.items() if kind is bool]
        self.numbers = [name for name, kind in kinds.items() if kind is float]
        if list(kinds) != ["param", "grad", *self.states, *self.flags, *self.numbers]:
            raise TypeError(f"rule {rule.__name__} must take param, grad, its state arrays, flags, then numbers")

    def __call__(self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], flags: dict[str, bool],
                 numbers: dict[str, float]) -> None:
        """Update `param` and `state` in place: the arrays go as flat views (an empty one for a state array
        the configuration does not keep, which the rule then leaves alone), the numbers in the parameter's
        dtype, as numpy casts them in the passes."""
        scalar = param.dtype.type
        not_kept = _NOT_KEPT.get(param.dtype)
        if not_kept is None:
            not_kept = _NOT_KEPT[param.dtype] = np.empty(0, dtype=param.dtype)
        self.compiled(param.reshape(-1), grad.reshape(-1),
                      *[state[name].reshape(-1) if name in state else not_kept for name in self.states],
                      *[flags[name] for name in self.flags], *[scalar(numbers[name]) for name in self.numbers])


def _tried(rule: Callable, dtype: np.dtype) -> Kernel | None:
    """The kernel after a first call on a few elements (which compiles it), or None if it cannot run here."""
    function = _compiled().get(rule.__name__)
    if function is None:
        return None
    values = {bool: True, float: dtype.type(0.5), np.ndarray: np.ones(4, dtype=dtype)}
    try:
        function(*(values[parameter.annotation] for parameter in inspect.signature(rule).parameters.values()))
    except Exception:  # numba present but unable to compile for this platform or dtype: numpy it is
        return None
    return Kernel(function, rule)


def _compiled() -> dict[str, Callable]:
    global _kernels
    if _kernels is None:
        try:
            import numba
        except ImportError:
            _kernels = {}
        else:  # NUMBA_DISABLE_JIT would run the loops in Python, a thousand times slower than numpy
            _kernels = {} if getattr(numba.config, "DISABLE_JIT", 0) else {
                rule.__name__: _jit(numba, rule) for rule in (rules.sgd, rules.adam, rules.rmsprop, rules.adagrad)}
    return _kernels


def _jit(numba, function: Callable) -> Callable:
    # error_model="numpy": a division by zero gives inf/nan as in numpy instead of raising, which also lets
    # the loop vectorize; no fastmath, so no reassociation and no fused multiply-add: numpy's exact results
    options = {"nogil": True, "error_model": "numpy", "boundscheck": False}
    try:
        return numba.njit(cache=True, **options)(function)
    except Exception:  # no writable cache directory: compile on every run instead
        return numba.njit(**options)(function)
