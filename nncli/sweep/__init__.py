"""Hyperparameter sweeps: a sweep file's trials, each a run (or cv) directory of one sweep directory, ranked.

    result = sweep("configs/moons-sweep.yaml", jobs=2)
    result.best["values"], result.best["metric"]        # and runs/moons-sweep/best.yaml trains as it is
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nncli.build import prepare
from nncli.errors import NncliError
from nncli.sweep.board import Board, SweepResult, claim_sweep_dir
from nncli.sweep.draw import require_optuna
from nncli.sweep.local import OnTrial, run_local
from nncli.sweep.spec import SweepSpec, load_sweep
from nncli.workers import cpu_count

__all__ = ["SweepResult", "SweepSpec", "load_sweep", "sweep"]

EXECUTORS = ("local", "ray")


def sweep(sweep_file: str | Path, out: str | Path | None = None, *, executor: str = "local",
          address: str | None = None, jobs: int | None = None, resume: bool = False,
          should_stop: Callable[[], bool] = lambda: False, on_trial: OnTrial | None = None,
          on_start: Callable[[Board], None] | None = None, base: Path | None = None) -> SweepResult:
    """Run the sweep file's trials into `out` (else runs/<name>), `jobs` at a time (default: the CPU count);
    `resume` continues an interrupted sweep without rerunning its finished trials."""
    spec = load_sweep(sweep_file)
    if executor not in EXECUTORS:
        raise NncliError(f"--executor: must be local or ray, got {executor!r}")
    jobs = cpu_count() if jobs is None else jobs
    if jobs < 1:
        raise NncliError(f"--jobs: must be at least 1, got {jobs}")
    if spec.method == "tpe":
        require_optuna(spec)
    if executor == "ray":
        from nncli.sweep.on_ray import require_ray

        require_ray()
    prepare(spec.base)  # the base config's data and network: a problem there is exit 2, not a failed trial each
    settings = {"executor": executor, "jobs": jobs}
    with claim_sweep_dir(spec.name, None if out is None else Path(out), resume, base) as sweep_dir:
        board = Board(spec, sweep_dir, settings, resume)
        board.write()
        if on_start is not None:
            on_start(board)
        if executor == "ray":
            from nncli.sweep.on_ray import run_ray

            interrupted = run_ray(spec, board, jobs, address, should_stop, on_trial)
        else:
            interrupted = run_local(spec, board, jobs, should_stop, on_trial)
        board.write("interrupted" if interrupted else "finished")
        return board.result(interrupted)
