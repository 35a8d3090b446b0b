"""Asynchronous successive halving (ASHA) across worker processes, the rule of Ray Tune's ASHAScheduler.

Rungs sit at `grace · eta^i` epochs. A trial reaching a rung is stopped when its metric is worse than the
(1 - 1/eta) quantile of what the trials before it recorded there; its own value is recorded either way.
The rungs live in a JSON file of the sweep directory, under an flock, so every worker sees the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nncli import runs

RUNGS_FILE = "asha.json"
GRACE_EPOCHS = 1
REDUCTION_FACTOR = 3


def milestones(max_epochs: int, grace: int = GRACE_EPOCHS, eta: int = REDUCTION_FACTOR) -> list[int]:
    """The rung epochs below `max_epochs`, smallest first (as Ray's ASHAScheduler places them)."""
    if max_epochs <= grace:
        return []
    count = int(math.log(max_epochs / grace) / math.log(eta) + 1)
    return [grace * eta ** k for k in range(count) if grace * eta ** k < max_epochs]


@dataclass(frozen=True)
class Asha:
    """The shared rungs of one sweep: `keep_going` decides at each rung epoch."""

    path: Path
    mode: str  # min | max
    max_epochs: int

    def keep_going(self, trial: int, epoch: int, value: float | None) -> bool:
        """Record `value` of `trial` at `epoch` (1-based) if it is a rung; False when the trial should stop."""
        if epoch not in milestones(self.max_epochs) or value is None:
            return True
        score = value if self.mode == "max" else -value
        with self._locked():
            rungs = json.loads(self.path.read_text()) if self.path.exists() else {}
            recorded = rungs.setdefault(str(epoch), {})
            if str(trial) in recorded:
                return True
            values = [item for item in recorded.values() if item is not None]
            cutoff = float(np.nanpercentile(values, (1 - 1 / REDUCTION_FACTOR) * 100)) if values else None
            recorded[str(trial)] = score if math.isfinite(score) else None
            runs.write_json(self.path, rungs)
        return cutoff is None or (math.isfinite(score) and score >= cutoff)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        handle = os.open(self.path.with_name(f".{RUNGS_FILE}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)
