"""A run trained to its outcome inside a worker: continued from its checkpoint when one is there, read back when
it already finished; divergence, pruning and interruption are outcomes, not exceptions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nncli import runs
from nncli.build import prepare
from nncli.config import Config
from nncli.data import FoldRows
from nncli.run import EpochFinished, RunDiverged, RunFinished, RunStopped, run_events
from nncli.workers import stop_requested

EpochHook = Callable[[dict], bool]  # gets each epoch's record; False stops the run (pruned)


def train_into(config: Config, run_dir: Path, rows: FoldRows | None = None,
               on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train `config` into `run_dir`, continuing it when it holds a checkpoint and reading it back when it is
    finished: `status` (ok, diverged, pruned, interrupted), `summary` or `error`, and the epoch `history`."""
    if (run_dir / runs.SUMMARY_FILE).is_file() and (run_dir / runs.MODEL_FILE).is_file():
        summary = json.loads((run_dir / runs.SUMMARY_FILE).read_text())
        return {"status": "ok", "summary": summary, "history": []}
    resume = (run_dir / runs.CHECKPOINT_FILE).is_file()
    prepared = prepare(config, rows)
    history: list[dict] = []
    pruned = False

    def should_stop() -> bool:
        return pruned or stop_requested()

    with runs.claim_run_dir(config.name, run_dir, resume) as directory:
        for event in run_events(prepared, directory, resume, should_stop=should_stop):
            if isinstance(event, EpochFinished):
                history.append(event.record)
                if on_epoch is not None and not on_epoch(event.record):
                    pruned = True
            elif isinstance(event, RunDiverged):
                return {"status": "diverged", "error": event.message, "history": history}
            elif isinstance(event, RunStopped):
                return {"status": "pruned" if pruned else "interrupted", "error": event.message, "history": history}
            elif isinstance(event, RunFinished):
                return {"status": "ok", "summary": event.result.summary, "history": history}
    return {"status": "failed", "error": "the run ended without a result", "history": history}
