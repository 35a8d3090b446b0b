"""Interleaved, repeated timing: every engine runs once per round, so a noisy stretch hits them all alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

PAUSE_SECONDS = 0.1  # lets the other library's BLAS/OpenMP threads stop spinning before the next call


def interleaved(calls: dict[str, Callable[[], None]], repeats: int, warmup: int = 1,
                before: Callable[[str, int], None] | None = None, rotate: bool = True) -> dict[str, list[float]]:
    """Seconds of each call, `repeats` rounds after `warmup` untimed ones; the order rotates every round
    unless `rotate` is false (when a call depends on the one before it).

    `before(name, round)` runs untimed before each call (round -1 .. -warmup for the warm-up rounds).
    """
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(-warmup, repeats):
        shift = round_index % len(names) if rotate and names else 0
        for name in names[shift:] + names[:shift]:
            if before is not None:
                before(name, round_index)
            time.sleep(PAUSE_SECONDS)
            started = time.perf_counter()
            calls[name]()
            elapsed = time.perf_counter() - started
            if round_index >= 0:
                times[name].append(elapsed)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """min-max of the timed rounds, for the reader to judge the noise."""
    return f"{min(values):.3g}-{max(values):.3g}"
