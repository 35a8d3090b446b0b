"""The trials of a sweep: every combination (grid), seeded draws (random), or optuna's TPE asking as it learns.

A trial's values become `--set` overrides, so a trial is the base config trained as `nncli train --set ...` would.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np

from nncli.errors import NncliError
from nncli.sweep.spec import Dimension, SweepSpec

TUNE_INSTALL = 'pip install "nncli[tune]"'


def yaml_text(value: Any) -> str:
    """`value` as YAML text that reads back as the same value (1e-05 becomes 1.0e-05: YAML 1.1 needs the dot)."""
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text if math.isfinite(value) else json.dumps(str(value))
    return json.dumps(value)


def overrides(values: dict[str, Any]) -> list[str]:
    """The `--set PATH=VALUE` texts of a trial's values."""
    return [f"{path}={yaml_text(value)}" for path, value in values.items()]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def draw_value(dimension: Dimension, rng: np.random.Generator) -> Any:
    """One value of `dimension` drawn from `rng`."""
    if dimension.kind == "choice":
        return dimension.values[int(rng.integers(len(dimension.values)))]
    low, high = dimension.bounds()
    if dimension.kind == "int":
        return int(rng.integers(int(low), int(high) + 1))
    if dimension.kind == "uniform":
        return float(rng.uniform(low, high))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def planned_trials(spec: SweepSpec) -> list[dict[str, Any]] | None:
    """Every trial's values, in order, for grid and random; None for tpe (asked one at a time)."""
    if spec.method == "grid":
        grids = [dimension.grid_values() for dimension in spec.space]
        return [{dimension.path: _plain(value) for dimension, value in zip(spec.space, combination, strict=False)}
                for combination in itertools.product(*grids)]
    if spec.method == "random":
        rng = np.random.default_rng(spec.seed)
        return [{dimension.path: draw_value(dimension, rng) for dimension in spec.space}
                for _ in range(spec.trials)]
    return None


def require_optuna(spec: SweepSpec) -> None:
    """method: tpe needs the `tune` extra: exit 2 naming the install command when it is missing."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise NncliError(f"method: tpe needs optuna, which is not installed; install it with: {TUNE_INSTALL}",
                         file=spec.source, field="method") from None


class TpeSampler:
    """optuna's TPE over the sweep's space, seeded by the sweep's seed; results told back as trials finish."""

    def __init__(self, spec: SweepSpec):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec = spec
        self.study = optuna.create_study(direction="maximize" if spec.mode == "max" else "minimize",
                                         sampler=optuna.samplers.TPESampler(seed=spec.seed))
        self.distributions = {dimension.path: _distribution(dimension) for dimension in spec.space}
        self.asked: dict[int, Any] = {}

    def ask(self, number: int) -> dict[str, Any]:
        """The values of trial `number`."""
        trial = self.study.ask(self.distributions)
        self.asked[number] = trial
        return {path: self._value(path, trial.params[path]) for path in self.distributions}

    def _value(self, path: str, value: Any) -> Any:
        dimension = next(dimension for dimension in self.spec.space if dimension.path == path)
        return dimension.values[value] if dimension.kind == "choice" else _plain(value)

    def tell(self, number: int, value: float | None) -> None:
        """Trial `number` finished with `value` (None: it failed)."""
        import optuna

        trial = self.asked.pop(number, None)
        if trial is None:
            return
        if value is None or not math.isfinite(value):
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def replay(self, values: dict[str, Any], value: float | None) -> None:
        """A trial finished before a resume: TPE learns from it as if it had asked for it."""
        import optuna

        params = {path: self._index(path, item) for path, item in values.items()}
        state = optuna.trial.TrialState.COMPLETE if value is not None and math.isfinite(value) else \
            optuna.trial.TrialState.FAIL
        self.study.add_trial(optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                       value=value if state.name == "COMPLETE" else None,
                                                       state=state))

    def _index(self, path: str, value: Any) -> Any:
        dimension = next(dimension for dimension in self.spec.space if dimension.path == path)
        return dimension.values.index(value) if dimension.kind == "choice" else value


def _distribution(dimension: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dimension.kind == "choice":  # by index: optuna's choices must be plain scalars, a choice may be a list
        return CategoricalDistribution(list(range(len(dimension.values))))
    low, high = dimension.bounds()
    if dimension.kind == "int":
        return IntDistribution(int(low), int(high))
    return FloatDistribution(float(low), float(high), log=dimension.kind == "loguniform")
