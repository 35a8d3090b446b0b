"""The optimizer contract: update parameter arrays in place; keep the state as flat, savable arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from nncli.errors import ModelFileError
from nncli.nn.optimizers import fused
from nncli.registry import Configurable, Registry


class Optimizer(Configurable):
    """Updates parameters in place from their gradients, with torch.optim's single-tensor rules.

    `lr` is the current learning rate: a schedule sets `optimizer.lr` before each epoch, and `step`
    reads it every time. The per-parameter state (`state_names()`, torch's names) is allocated on the
    first `step`, shaped and typed like the parameters; scratch arrays too, so later steps allocate
    nothing. Hyperparameters are Python floats, so float32 parameters stay float32.
    """

    lr: float
    weight_decay: float

    def __init__(self) -> None:
        self.steps = 0
        # may large parameter arrays use the compiled kernels of `nncli.nn.optimizers.fused` (same results)?
        # The training loop decides from the run's size; a direct user gets them for large arrays.
        self.compiled = True
        self._state: list[dict[str, np.ndarray]] = []  # per parameter, saved by state_dict
        self._scratch: list[dict[str, np.ndarray]] = []  # per parameter, never saved

    def state_names(self) -> tuple[str, ...]:
        """Names of the per-parameter state arrays this configuration keeps."""
        return ()

    def scratch_names(self) -> tuple[str, ...]:
        """Names of the per-parameter work arrays `_update` uses."""
        return ("tmp",)

    def initial_state_value(self, name: str) -> float:
        """The value a state array starts from."""
        return 0.0

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update every parameter in place from its gradient (the gradients are not modified)."""
        if not self._scratch:
            self._allocate(params)
        self.steps += 1
        lr = float(self.lr)
        for param, grad, state, scratch in zip(params, grads, self._state, self._scratch, strict=True):
            self._update(param, grad, lr, state, scratch)

    def _update(self, param: np.ndarray, grad: np.ndarray, lr: float, state: dict[str, np.ndarray],
                scratch: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _fused_step(self, name: str, arrays: tuple[np.ndarray, ...], *arguments: float | bool) -> bool:
        """Run the compiled kernel `name` (`nncli.nn.optimizers.fused`) if this step may and one serves
        `arrays[0]`, the parameter; True when it ran. The kernel gets the arrays as flat views, then
        `arguments` with the floats in the parameter's dtype, as numpy casts them."""
        param = arrays[0]
        kernel = fused.kernel(name, param) if self.compiled else None
        if kernel is None:
            return False
        scalar = param.dtype.type
        kernel(*(array.reshape(-1) for array in arrays),
               *(scalar(value) if isinstance(value, float) else value for value in arguments))
        return True

    def _allocate(self, params: list[np.ndarray]) -> None:
        if not self._state:
            self._state = [{name: np.full_like(param, self.initial_state_value(name))
                            for name in self.state_names()} for param in params]
        elif len(self._state) != len(params) or any(
                array.shape != param.shape or array.dtype != param.dtype
                for state, param in zip(self._state, params) for array in state.values()):
            raise ModelFileError(f"{self.name} optimizer state does not match the model's parameters")
        self._scratch = [{name: np.empty_like(param) for name in self.scratch_names()} for param in params]

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
            raise ModelFileError(f"{self.name} optimizer state lacks 'step' or 'lr'")
        names = self.state_names()
        count = sum(1 for key in keys if names and key.startswith(names[0] + "."))
        expected = {"step", "lr"} | {f"{name}.{index}" for name in names for index in range(count)}
        if keys != expected:
            missing = sorted(expected - keys) or [f"{name}.<i>" for name in names]
            raise ModelFileError(f"{self.name} optimizer state does not match its config: unexpected "
                                 f"{sorted(keys - expected)}, missing {missing} (written with other optimizer "
                                 "settings or by another nncli version: train without --resume)")
        self.steps = int(state["step"])
        self.lr = float(state["lr"])
        self._state = [{name: np.array(state[f"{name}.{index}"]) for name in names} for index in range(count)]
        self._scratch = []


def add_weight_decay(grad: np.ndarray, param: np.ndarray, weight_decay: float, out: np.ndarray) -> np.ndarray:
    """`out = grad + weight_decay * param` (torch's `grad.add(param, alpha=weight_decay)`)."""
    np.multiply(param, weight_decay, out=out)
    return np.add(grad, out, out=out)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """`start += weight * (end - start)` in place, in torch's two forms (the exact one by weight)."""
    np.subtract(end, start, out=tmp)
    if weight < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


OPTIMIZERS: Registry[Optimizer] = Registry("optimizer")


def get_optimizer(spec: dict[str, Any]) -> Optimizer:
    """Build a optimizer from `{"type": name, **parameters}`, validating the parameters."""
    return OPTIMIZERS.build(spec, field="optimizer")
