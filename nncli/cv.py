"""K-fold cross-validation: each fold a normal run directory under one cv directory, and their mean and spread.

    result = cv("configs/moons.yaml", folds=5, jobs=2)
    result.mean["accuracy"], result.std["accuracy"]      # over the folds' scores on their held-out rows
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nncli import runs
from nncli.build import prepare
from nncli.config import Config, config_from_dict, load_config
from nncli.data import FoldRows, training_folds
from nncli.errors import NncliError
from nncli.metrics import json_ready
from nncli.runner import train_into
from nncli.workers import worker_pool

CV_FILE = "cv.json"


@dataclass
class CvResult:
    """A finished cross-validation: each fold's outcome, and the mean and std (over the folds that finished)
    of the loss and every metric on the held-out fold."""

    cv_dir: Path
    folds: list[dict[str, Any]]
    mean: dict[str, float]
    std: dict[str, float]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The folds that did not finish (diverged or failed)."""
        return [fold for fold in self.folds if fold["status"] != "ok"]

    def to_json(self) -> dict[str, Any]:
        """What cv.json holds."""
        return json_ready({"cv_dir": str(self.cv_dir), "folds": self.folds, "mean": self.mean, "std": self.std})


def cv(config: str | Path | Config, folds: int, out: str | Path | None = None, overrides: Sequence[str] = (),
       jobs: int = 1, base: Path | None = None,
       on_fold: Callable[[dict[str, Any]], None] | None = None) -> CvResult:
    """Cross-validate a config over `folds` folds of its training file into `out` (else `runs/<name>-cv[-k]`
    under `base` or the working directory), `jobs` folds at a time; `on_fold` gets each fold's outcome."""
    resolved = config if isinstance(config, Config) else load_config(config, overrides)
    if folds < 2:
        raise NncliError(f"--folds: cross-validation needs at least 2 folds, got {folds}")
    rows = training_folds(resolved.data, folds, np.random.default_rng(resolved.seed), task=resolved.task,
                          dtype=resolved.dtype)
    raw = fold_config(resolved)
    prepare(config_from_dict(raw, source=_source_of(raw)), rows[0])  # bad data or network: exit 2, no folds run
    with runs.claim_run_dir(f"{resolved.name}-cv", None if out is None else Path(out), False, base) as cv_dir:
        return run_folds(raw, rows, cv_dir, jobs, on_fold)


def run_folds(raw: dict[str, Any], rows: list[FoldRows], cv_dir: Path, jobs: int,
              on_fold: Callable[[dict[str, Any]], None] | None = None,
              epoch_hook: Callable[[int, dict], bool] | None = None) -> CvResult:
    """Train every fold of `raw` (a resolved config as a dict) into `cv_dir/fold-<k>` and write cv.json."""
    outcomes: list[dict[str, Any]] = []
    with worker_pool(min(jobs, len(rows))) as pool:
        futures = [pool.submit(run_fold, raw, k, fold_rows, str(cv_dir / f"fold-{k}"))
                   for k, fold_rows in enumerate(rows)]
        for future in futures:
            outcomes.append(future.result())
            if on_fold is not None:
                on_fold(outcomes[-1])
    result = summarize(cv_dir, outcomes)
    runs.write_json(cv_dir / CV_FILE, result.to_json())
    return result


def fold_config(config: Config) -> dict[str, Any]:
    """The config each fold trains: the same, but its test part is its held-out fold (not data.test)."""
    raw = config.to_dict()
    raw["data"] = {**raw["data"], "test": None}
    return raw


def _source_of(raw: dict[str, Any]) -> str:
    return f"<{raw.get('name')}>"


def run_fold(raw: dict[str, Any], fold: int, rows: FoldRows, fold_dir: str) -> dict[str, Any]:
    """Train one fold into `fold_dir` (new, or continued from its checkpoint): its outcome and its scores on its
    held-out rows."""
    outcome: dict[str, Any] = {"fold": fold, "run_dir": fold_dir, "train_rows": len(rows.train),
                               "test_rows": len(rows.test), "status": "failed"}
    try:
        ran = train_into(config_from_dict(raw, source=_source_of(raw)), Path(fold_dir), rows)
    except NncliError as error:  # reported in cv.json; the other folds go on
        return {**outcome, "error": str(error)}
    if ran["status"] != "ok":
        return {**outcome, "status": ran["status"], "error": ran.get("error")}
    summary = ran["summary"]
    return {**outcome, "status": "ok", "scores": summary["test"], "best_epoch": summary["best_epoch"],
            "best": summary["best"], "seconds": summary["wall_seconds"]}


def summarize(cv_dir: Path, outcomes: list[dict[str, Any]]) -> CvResult:
    """Mean and std (numpy's, ddof=0) of each score over the folds that finished."""
    finished = [outcome["scores"] for outcome in outcomes if outcome["status"] == "ok"]
    names: list[str] = []
    for scores in finished:
        names.extend(name for name in scores if name not in names)
    mean, std = {}, {}
    for name in names:
        values = np.array([scores.get(name, np.nan) for scores in finished], dtype=float)
        mean[name], std[name] = float(np.mean(values)), float(np.std(values))
    return CvResult(cv_dir, sorted(outcomes, key=lambda outcome: outcome["fold"]), mean, std)
