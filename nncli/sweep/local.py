"""The local executor: trials in `--jobs` spawned worker processes, each with its share of the BLAS threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from nncli.sweep.asha import RUNGS_FILE, Asha
from nncli.sweep.board import Board
from nncli.sweep.draw import TpeSampler, planned_trials
from nncli.sweep.spec import SweepSpec
from nncli.sweep.trial import run_trial
from nncli.workers import stop_source, stop_workers, stoppable_pool

OnTrial = Callable[[dict[str, Any], Board], None]


def max_epochs(spec: SweepSpec) -> int:
    """The most epochs a trial may run (the ASHA rungs go up to it)."""
    for dimension in spec.space:
        if dimension.path == "training.epochs":
            return int(max(dimension.values) if dimension.kind == "choice" else dimension.bounds()[1])
    return spec.base.training.epochs


def asha_of(spec: SweepSpec, board: Board) -> Asha | None:
    return None if spec.prune != "asha" else Asha(board.sweep_dir / RUNGS_FILE, spec.mode, max_epochs(spec))


class TrialSource:
    """The trials still to run, in order: planned ones not finished yet, or TPE's next asks."""

    def __init__(self, spec: SweepSpec, board: Board):
        self.spec, self.board = spec, board
        planned = planned_trials(spec)
        self.tpe: TpeSampler | None = None
        if planned is None:
            self.tpe = TpeSampler(spec)
            for record in board.records.values():
                if board.finished(record["trial"]):
                    self.tpe.replay(record["values"], record.get("metric") if record["status"] == "ok" else None)
            unfinished = [(number, record["values"]) for number, record in sorted(board.records.items())
                          if not board.finished(number)]
            self.queue: Iterator[tuple[int, dict[str, Any]]] = iter(unfinished)
        else:
            self.queue = iter([(number, values) for number, values in enumerate(planned)
                               if not board.finished(number)])
        self.asked_from = len(board.records)

    def next(self) -> tuple[int, dict[str, Any]] | None:
        item = next(self.queue, None)
        if item is not None:
            return item
        if self.tpe is None or self.asked_from >= self.spec.trials:
            return None
        number, self.asked_from = self.asked_from, self.asked_from + 1
        return number, self.tpe.ask(number)

    def tell(self, record: dict[str, Any]) -> None:
        if self.tpe is not None:
            self.tpe.tell(record["trial"], record.get("metric") if record["status"] == "ok" else None)


def run_local(spec: SweepSpec, board: Board, jobs: int, should_stop: Callable[[], bool],
              on_trial: OnTrial | None = None) -> bool:
    """Run every trial still to run; True when `should_stop()` turned true (the sweep can be resumed)."""
    source, asha = TrialSource(spec, board), asha_of(spec, board)
    pending: dict[Future, int] = {}
    stopping = False
    with stoppable_pool(jobs) as pool, stop_source(should_stop):
        while True:
            stopping = stopping or should_stop()
            while not stopping and len(pending) < jobs:
                item = source.next()
                if item is None:
                    break
                number, values = item
                board.start(number, values)
                future = pool.submit(run_trial, str(spec.config_path.resolve()), number, values,
                                     str(board.trial_dir(number)), spec.metric, spec.mode, spec.folds, asha)
                pending[future] = number
                stopping = stopping or should_stop()
            if not pending:
                break
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                del pending[future]
                record = future.result()
                board.finish(record)
                source.tell(record)
                if on_trial is not None:
                    on_trial(record, board)
            if not stopping and should_stop():
                stopping = True
                stop_workers(pool)
    return stopping
