"""One trial of a sweep, in a worker: the base config with the trial's overrides, trained (or cross-validated)
into its directory; a bad value or a divergence is an outcome, not a crash."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nncli.config import Config, load_config
from nncli.errors import NncliError, one_paragraph
from nncli.runner import train_into
from nncli.sweep.asha import Asha


def run_trial(config_path: str, trial: int, values: dict[str, Any], trial_dir: str, metric: str, mode: str,
              folds: int | None = None, asha: Asha | None = None,
              on_epoch: Callable[[dict], bool] | None = None) -> dict[str, Any]:
    """Trial `trial`: its record for the leaderboard (`metric` at the best epoch, or its mean over the folds).
    `on_epoch` (after ASHA's rungs) sees each epoch's record of a single run; False stops it (pruned)."""
    from nncli.sweep.draw import overrides

    started = time.perf_counter()
    record: dict[str, Any] = {"trial": trial, "values": values, "run_dir": trial_dir, "status": "failed",
                              "metric": None, "error": None}
    try:
        config = load_config(config_path, overrides(values))
        if folds is None:
            outcome = _single(config, Path(trial_dir), metric, mode, _epoch_hook(trial, metric, asha, on_epoch))
        else:
            outcome = _folds(config, Path(trial_dir), folds, metric)
        record.update(outcome)
    except NncliError as error:  # a value the config refuses: recorded, the sweep goes on
        record["error"] = str(error)
    except Exception as error:  # anything else fails this trial only
        record["error"] = one_paragraph(" ".join(f"{type(error).__name__}: {error}".split()))
    record["seconds"] = time.perf_counter() - started
    return record


def _epoch_hook(trial: int, metric: str, asha: Asha | None,
                on_epoch: Callable[[dict], bool] | None) -> Callable[[dict], bool] | None:
    if asha is None and on_epoch is None:
        return None

    def hook(record: dict) -> bool:
        keep = asha is None or asha.keep_going(trial, record["epoch"] + 1, record.get(metric))
        return (on_epoch is None or on_epoch(record)) and keep
    return hook


def _single(config: Config, trial_dir: Path, metric: str, mode: str, hook: Callable[[dict], bool] | None) -> dict:
    outcome = train_into(config, trial_dir, on_epoch=hook)
    if outcome["status"] == "ok":
        value = outcome["summary"]["best"].get(metric)
        return {"status": "ok", "metric": value, "epochs": outcome["summary"]["epochs_run"]}
    values = [record[metric] for record in outcome["history"] if _finite(record.get(metric))]
    best = (max if mode == "max" else min)(values) if values else None
    return {"status": outcome["status"], "metric": best, "error": outcome.get("error"),
            "epochs": len(outcome["history"])}


def _folds(config: Config, trial_dir: Path, folds: int, metric: str) -> dict:
    from nncli.cv import fold_config, run_folds
    from nncli.data import training_folds

    rows = training_folds(config.data, folds, np.random.default_rng(config.seed), task=config.task,
                          dtype=config.dtype)
    trial_dir.mkdir(parents=True, exist_ok=True)  # inside the sweep directory: nncli's own
    result = run_folds(fold_config(config), rows, trial_dir, jobs=1)
    if result.failed:
        first = result.failed[0]
        return {"status": first["status"], "error": f"fold {first['fold']}: {first.get('error')}"}
    values = [fold["best"].get(metric) for fold in result.folds]
    return {"status": "ok", "metric": float(np.mean(values)) if all(map(_finite, values)) else None,
            "folds": [fold["best"].get(metric) for fold in result.folds]}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
