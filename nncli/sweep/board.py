"""The sweep directory's record of trials: leaderboard.csv (best first), summary.json and best.yaml, rewritten
atomically as trials start and finish, so an interrupted sweep can be resumed from it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nncli import runs
from nncli.config import load_config
from nncli.errors import NncliError
from nncli.metrics import json_ready
from nncli.sweep.draw import overrides
from nncli.sweep.spec import SweepSpec

LEADERBOARD_FILE = "leaderboard.csv"
BEST_FILE = "best.yaml"
TRIALS_DIR = "trials"
FINISHED = ("ok", "pruned", "failed", "diverged")  # a resume reruns the others (running, interrupted)
_RANK = {"ok": 0, "pruned": 1}


@dataclass
class SweepResult:
    """A sweep's trials, best first, its best trial (None when none finished) and whether it was interrupted."""

    sweep_dir: Path
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    interrupted: bool


@contextlib.contextmanager
def claim_sweep_dir(name: str, out: Path | None, resume: bool, base: Path | None = None) -> Iterator[Path]:
    """A new sweep directory claimed as train claims a run directory, or with `resume` the one of an
    interrupted sweep (`--out`, else runs/<name>), held for the sweep."""
    if not resume:
        with runs.claim_run_dir(name, out, False, base) as directory:
            yield directory
        return
    directory = Path(out) if out is not None else runs.runs_folder(base) / name
    if not (directory / runs.SUMMARY_FILE).is_file() or not runs.is_marked(directory):
        raise NncliError("--resume: there is no sweep to continue here (no summary.json in a directory nncli "
                         "made); give the --out of an interrupted sweep, or start it without --resume",
                         file=str(directory))
    with runs.hold_run_dir(directory):
        yield directory


class Board:
    """Every trial's record by number; writes the sweep's files."""

    def __init__(self, spec: SweepSpec, sweep_dir: Path, settings: dict[str, Any], resume: bool):
        self.spec, self.sweep_dir, self.settings = spec, sweep_dir, settings
        self.records: dict[int, dict[str, Any]] = {}
        self.started = time.perf_counter()
        if resume:
            self._load()
        (sweep_dir / TRIALS_DIR).mkdir(exist_ok=True)

    def _load(self) -> None:
        try:
            summary = json.loads((self.sweep_dir / runs.SUMMARY_FILE).read_text())
            previous, trials = summary["sweep"], summary["trials"]
        except (OSError, ValueError, KeyError, TypeError):
            raise NncliError("--resume: summary.json is not a sweep's summary", file=str(self.sweep_dir)) from None
        if previous != json_ready(self.spec.to_json()):
            raise NncliError("--resume refuses a changed sweep file: the trials would not be the ones started; "
                             "restore it or start a new sweep", file=self.spec.source)
        self.records = {record["trial"]: record for record in trials}

    def trial_dir(self, number: int) -> Path:
        return self.sweep_dir / TRIALS_DIR / str(number)

    def finished(self, number: int) -> bool:
        return self.records.get(number, {}).get("status") in FINISHED

    def start(self, number: int, values: dict[str, Any]) -> None:
        self.records[number] = {"trial": number, "values": values, "run_dir": str(self.trial_dir(number)),
                                "status": "running", "metric": None, "error": None, "seconds": None}
        self.write()

    def finish(self, record: dict[str, Any]) -> None:
        self.records[record["trial"]] = record
        self.write()

    def ranked(self) -> list[dict[str, Any]]:
        """Trials best first: finished ones by the metric, then pruned ones, then the rest by number."""
        sign = -1 if self.spec.mode == "max" else 1

        def key(record: dict[str, Any]) -> tuple:
            value = record.get("metric")
            if isinstance(value, (int, float)) and math.isfinite(value):
                return _RANK.get(record["status"], 2), 0, sign * value, record["trial"]
            return _RANK.get(record["status"], 2), 1, 0, record["trial"]
        return sorted(self.records.values(), key=key)

    def best(self) -> dict[str, Any] | None:
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0]["status"] == "ok" and ranked[0]["metric"] is not None else None

    def write(self, status: str = "running") -> None:
        """leaderboard.csv and summary.json as the trials stand (best.yaml once a trial finished)."""
        runs.write_text(self.sweep_dir / LEADERBOARD_FILE, self._leaderboard())
        best = self.best()
        if best is not None:
            config = load_config(self.spec.config_path, overrides(best["values"]))
            runs.write_text(self.sweep_dir / BEST_FILE, config.to_yaml())
        runs.write_json(self.sweep_dir / runs.SUMMARY_FILE, json_ready({
            "sweep": self.spec.to_json(), "status": status, "metric": self.spec.metric, "mode": self.spec.mode,
            **self.settings, "best": best, "seconds": time.perf_counter() - self.started,
            "trials": [self.records[number] for number in sorted(self.records)]}))

    def _leaderboard(self) -> str:
        paths = [dimension.path for dimension in self.spec.space]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["trial", *paths, self.spec.metric, "status", "seconds"])
        for record in self.ranked():
            values = [_cell(record["values"].get(path)) for path in paths]
            seconds = record.get("seconds")
            writer.writerow([record["trial"], *values, _cell(record.get("metric")), record["status"],
                             "" if seconds is None else f"{seconds:.3f}"])
        return buffer.getvalue()

    def result(self, interrupted: bool) -> SweepResult:
        return SweepResult(self.sweep_dir, self.ranked(), self.best(), interrupted)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else json.dumps(value)
