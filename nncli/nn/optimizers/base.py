"""The optimizer contract: update parameter arrays in place; keep the state as flat, savable arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nncli.nn.errors import StateError
from nncli.nn.optimizers import fused, passes
from nncli.registry import Configurable, Registry


class Optimizer(Configurable):
    """Updates parameters in place from their gradients, with torch.optim's single-tensor rules.

    Each optimizer names its update rule (`rule`, from `nncli.nn.optimizers.rules`) and gives it the step's
    `flags` and `numbers` by name. The rule runs as numpy passes or, for large arrays in a long enough run
    (`choose_engine`), as a compiled kernel: the same results bit for bit.

    `lr` is the current learning rate: a schedule sets `optimizer.lr` before each epoch, and `step` reads it
    every time. The per-parameter state arrays (`state_names()`: the rule's names for them, also their keys
    in `state_dict`) are allocated on the first `step`, shaped and typed like the parameters; work arrays
    too, so later steps allocate nothing. Hyperparameters are Python floats, so float32 parameters stay
    float32.
    """

    lr: float
    weight_decay: float
    rule: Callable[..., None]  # a function of `nncli.nn.optimizers.rules`, as a staticmethod

    def __init__(self) -> None:
        self.steps = 0
        # may large parameter arrays use the compiled kernels? A direct user gets them; `choose_engine` decides
        # from the size of a run
        self.compiled = True
        self._state: list[dict[str, np.ndarray]] = []  # per parameter, saved by state_dict
        self._work: list[list[np.ndarray]] = []  # per parameter, the numpy passes' work arrays, never saved
        self._plans: dict[tuple[bool, ...], passes.Plan] = {}  # by the values of `flags`

    def state_names(self) -> tuple[str, ...]:
        """Names of the per-parameter state arrays this configuration keeps."""
        return ()

    def initial_state_value(self, name: str) -> float:
        """The value a state array starts from."""
        return 0.0

    def flags(self, step: int) -> dict[str, bool]:
        """The rule's flags (which branches it takes) by name, for step `step` (from 1)."""
        raise NotImplementedError

    def numbers(self, lr: float, step: int) -> dict[str, float]:
        """The rule's numbers by name for step `step` at learning rate `lr`, worked out here in Python floats
        (double precision) before the rule combines them with the arrays."""
        raise NotImplementedError

    def choose_engine(self, parameters: int, steps: int) -> None:
        """Let compiled kernels update large parameter arrays if a run of `steps` steps over `parameters`
        parameters gains from them (`fused.worth_compiling`), else keep to the numpy passes."""
        self.compiled = fused.worth_compiling(parameters, steps)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update every parameter in place from its gradient (the gradients are not modified)."""
        if not self._work:
            self._allocate(params)
        self.steps += 1
        flags, numbers = self.flags(self.steps), self.numbers(float(self.lr), self.steps)
        numpy_passes = self._passes(flags)
        for param, grad, state, work in zip(params, grads, self._state, self._work, strict=True):
            kernel = fused.kernel(self.rule, param) if self.compiled else None
            if kernel is not None:
                kernel(param, grad, state, flags, numbers)
            else:
                numpy_passes.run(param, grad, state, work, numbers)

    def work_array_count(self) -> int:
        """Work arrays per parameter array the numpy passes need (the most of a first and a later step)."""
        return max(self._passes(self.flags(step)).work_arrays for step in (1, 2))

    def _passes(self, flags: dict[str, bool]) -> passes.Plan:
        key = tuple(flags.values())  # a quicker key than `passes.plan`'s, for a configuration that stays
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = passes.plan(self.rule, self.state_names(), flags)
        return found

    def _allocate(self, params: list[np.ndarray]) -> None:
        if not self._state:
            self._state = [{name: np.full_like(param, self.initial_state_value(name))
                            for name in self.state_names()} for param in params]
        elif len(self._state) != len(params) or any(
                array.shape != param.shape or array.dtype != param.dtype
                for state, param in zip(self._state, params, strict=False) for array in state.values()):
            raise StateError(f"{self.name} optimizer state does not match the model's parameters")
        # the flags may change after the first step (sgd's first step copies the gradient into the momentum
        # buffer): the passes of the next two steps are planned now, so that later steps allocate nothing
        size = max(self._passes(self.flags(step)).work_arrays for step in (self.steps + 1, self.steps + 2))
        self._work = [[np.empty_like(param) for _ in range(size)] for param in params]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The step count, the current lr and copies of the state arrays as `"<name>.<index>"`."""
        state = {"step": np.array(self.steps, dtype=np.int64), "lr": np.array(self.lr, dtype=np.float64)}
        for index, arrays in enumerate(self._state):
            for name, array in arrays.items():
                state[f"{name}.{index}"] = array.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned, so that the next `step` continues bit-identically."""
        keys = set(state)
        if not {"step", "lr"} <= keys:
            raise StateError(f"{self.name} optimizer state lacks 'step' or 'lr'")
        names = self.state_names()
        count = sum(1 for key in keys if names and key.startswith(names[0] + "."))
        expected = {"step", "lr"} | {f"{name}.{index}" for name in names for index in range(count)}
        if keys != expected:
            missing = sorted(expected - keys) or [f"{name}.<i>" for name in names]
            raise StateError(f"{self.name} optimizer state does not match its config: unexpected "
                                 f"{sorted(keys - expected)}, missing {missing} (written with other optimizer "
                                 "settings or by another nncli version: train without --resume)")
        self.steps = int(state["step"])
        self.lr = float(state["lr"])
        self._state = [{name: np.array(state[f"{name}.{index}"]) for name in names} for index in range(count)]
        self._work = []


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")

