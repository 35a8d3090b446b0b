"""Learning-rate schedules by name: the learning rate of each epoch (from 0) given the optimizer's base lr."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np

from nncli.nn.errors import CoreError, StateError
from nncli.nn.params import Fraction, Name, NonNegativeFloat, NonNegativeInt, PositiveInt, UnitRate
from nncli.registry import Configurable, Registry


class Schedule(Configurable):
    """The learning rate of epoch `e`; pure except `plateau`, which learns from each epoch's record."""

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        """The learning rate for `epoch` (from 0) of a run of `total_epochs`."""
        raise NotImplementedError

    def observe(self, epoch: int, metrics: dict[str, float]) -> None:
        """Take the record of a finished epoch (`loss`, `val_loss`, ...); only `plateau` uses it."""

    def resolve_mode(self, higher_is_better: Callable[[str], bool]) -> None:
        """Settle a `mode: auto` by asking `higher_is_better(monitor)`; only `plateau` has a mode."""

    def state_dict(self) -> dict[str, np.ndarray]:
        """What `observe` has learnt, as arrays (empty for pure schedules)."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned."""
        if state:
            raise StateError(f"{self.name} schedule keeps no state, got {sorted(state)}")


SCHEDULES: Registry[Schedule] = Registry("schedule")


@SCHEDULES.register("constant")
class Constant(Schedule):
    """lr."""

    def __init__(self):
        pass

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        return float(base_lr)


@SCHEDULES.register("exponential")
class Exponential(Schedule):
    """lr * exp(-decay * e) (torch's ExponentialLR with gamma = exp(-decay))."""

    def __init__(self, decay: NonNegativeFloat = 0.01):
        self.decay = decay

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        return float(base_lr * math.exp(-self.decay * epoch))


@SCHEDULES.register("step")
class Step(Schedule):
    """lr * gamma ** floor(e / step_size) (torch's StepLR)."""

    def __init__(self, step_size: PositiveInt = 10, gamma: Fraction = 0.1):
        self.step_size = step_size
        self.gamma = gamma

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        return float(base_lr * self.gamma ** (epoch // self.step_size))


@SCHEDULES.register("cosine")
class Cosine(Schedule):
    """min_lr + (lr - min_lr) * (1 + cos(pi * e / epochs)) / 2 (torch's CosineAnnealingLR, T_max = epochs)."""

    def __init__(self, min_lr: NonNegativeFloat = 0.0):
        self.min_lr = min_lr

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        if total_epochs <= 0:
            return float(base_lr)
        return float(self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * epoch / total_epochs)) / 2)


@SCHEDULES.register("inverse_time")
class InverseTime(Schedule):
    """lr / (1 + decay * e)."""

    def __init__(self, decay: NonNegativeFloat = 0.01):
        self.decay = decay

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        return float(base_lr / (1 + self.decay * epoch))


# torch's ReduceLROnPlateau skips a reduction smaller than this
_MIN_LR_CHANGE = 1e-8


@SCHEDULES.register("plateau")
class Plateau(Schedule):
    """Multiply the lr by `factor` (not below `min_lr`) once `monitor` has not improved for `patience` epochs.

    Keras' ReduceLROnPlateau counting: each epoch without improvement adds one to `wait`, an improvement
    resets it; when `wait >= patience` the lr is reduced and `wait` restarts from 0. That is torch's
    ReduceLROnPlateau with `patience - 1` (torch reduces when its count *exceeds* its patience), for
    patience >= 1. Improvement is relative, as torch's `threshold_mode="rel"`: below `best * (1 - threshold)`
    (mode min) or above `best * (1 + threshold)` (mode max). Without `monitor` in the record (no validation
    data), it watches `loss`, lower being better.

    `auto` means "as the monitor's name says", which only the layer above the core knows (the metrics):
    whoever builds the schedule settles it with `resolve_mode` (`nncli.build.build_schedule` passes
    `nncli.metrics.higher_is_better`). A plateau left at `auto` cannot tell which way its monitor improves:
    observing the monitor is then a CoreError.
    """

    def __init__(self, monitor: Name = "val_loss", factor: UnitRate = 0.1, patience: NonNegativeInt = 10,
                 min_lr: NonNegativeFloat = 0.0, threshold: UnitRate = 1e-4,
                 mode: Literal["auto", "min", "max"] = "auto"):
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.min_lr = min_lr
        self.threshold = threshold
        self.mode = mode
        self.best = math.nan  # nan until the first observation
        self.wait = 0
        self.reductions = 0

    def _maximize(self, key: str) -> bool:
        if key != self.monitor:  # the fallback, loss
            return False
        if self.mode == "auto":
            raise CoreError(f"plateau mode 'auto' must be resolved to 'min' or 'max' for {self.monitor!r} "
                            "before training")
        return self.mode == "max"

    def resolve_mode(self, higher_is_better: Callable[[str], bool]) -> None:
        if self.mode == "auto":
            self.mode = "max" if higher_is_better(self.monitor) else "min"

    def lr_at(self, epoch: int, base_lr: float, total_epochs: int) -> float:
        # Replays the reductions one by one, as torch multiplies its lr in place.
        lr = float(base_lr)
        for _ in range(self.reductions):
            reduced = max(lr * self.factor, self.min_lr)
            if lr - reduced > _MIN_LR_CHANGE:
                lr = reduced
        return lr

    def observe(self, epoch: int, metrics: dict[str, float]) -> None:
        key = self.monitor if self.monitor in metrics else "loss"
        if key not in metrics:
            raise CoreError(f"the epoch record has neither {self.monitor!r} nor 'loss'")
        value = float(metrics[key])
        maximize = self._maximize(key)
        if math.isnan(self.best):  # the first epoch: anything but nan improves on it
            self.best = -math.inf if maximize else math.inf
        improved = value > self.best * (1 + self.threshold) if maximize else value < self.best * (1 - self.threshold)
        if improved:
            self.best = value
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.reductions += 1
            self.wait = 0

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"best": np.array(self.best, dtype=np.float64), "wait": np.array(self.wait, dtype=np.int64),
                "reductions": np.array(self.reductions, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != {"best", "wait", "reductions"}:
            raise StateError(f"plateau schedule state needs best, wait and reductions, got {sorted(state)}")
        self.best = float(state["best"])
        self.wait = int(state["wait"])
        self.reductions = int(state["reductions"])

