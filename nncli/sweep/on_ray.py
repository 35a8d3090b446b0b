"""The Ray executor: the sweep's trials as Ray Tune trials of a function trainable that trains them with nncli.

The trials are the ones the local executor runs (drawn here, handed to Tune by number), so grid and random
sweeps give the same numbers on either executor. Each trial writes its run directory into the sweep directory
(on a cluster, `--out` must be on a filesystem every node sees); Tune reports each epoch's metric, which
`prune: asha` gives to Ray's ASHAScheduler; the driver writes the leaderboard as trials finish.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

from nncli.errors import NncliError
from nncli.sweep.asha import GRACE_EPOCHS, REDUCTION_FACTOR
from nncli.sweep.board import Board
from nncli.sweep.draw import planned_trials
from nncli.sweep.local import OnTrial, max_epochs
from nncli.sweep.spec import SweepSpec

RAY_INSTALL = 'pip install "nncli[ray]"'
RAY_DIR = "ray"


def require_ray() -> None:
    """--executor ray needs the `ray` extra: exit 2 naming the install command when it is missing."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        raise NncliError(f"--executor ray needs Ray Tune, which is not installed; install it with: {RAY_INSTALL}") \
            from None


def _trainable(params: dict[str, Any], *, spec: dict[str, Any]) -> None:
    """One trial inside Ray: nncli's training for its overrides, each epoch's metric reported to Tune."""
    from ray import tune

    from nncli.sweep.trial import run_trial

    number = params["trial"]
    metric = spec["metric"]

    def report(record: dict) -> bool:
        # not the last epoch: its report is the trial's record, so a stop Tune decides there loses nothing
        if record["epoch"] + 1 < spec["epochs"][str(number)]:
            tune.report({metric: _number(record.get(metric)), "epoch": record["epoch"] + 1})
        return True

    record = run_trial(spec["config"], number, spec["values"][str(number)], spec["dirs"][str(number)], metric,
                       spec["mode"], spec["folds"], on_epoch=report)
    tune.report({metric: _number(record.get("metric")), "record": json.dumps(record)})


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.nan


def _record_of(number: int, values: dict[str, Any], run_dir: str, result: dict[str, Any]) -> dict[str, Any]:
    """The trial's record from its last result; a trial Tune stopped before its end was pruned by ASHA."""
    if "record" in result and isinstance(result["record"], str):
        return json.loads(result["record"])
    seen = result.get("best_seen")
    return {"trial": number, "values": values, "run_dir": run_dir, "status": "pruned", "metric": seen,
            "error": f"stopped by ASHA after {result.get('epoch')} epochs", "seconds": result.get("time_total_s"),
            "epochs": result.get("epoch")}


def run_ray(spec: SweepSpec, board: Board, jobs: int, address: str | None, should_stop: Callable[[], bool],
            on_trial: OnTrial | None = None) -> bool:
    """Run the trials still to run as Ray Tune trials, `jobs` at a time; False (Tune handles Ctrl-C itself)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter is silent at verbose=0: stdout stays ours
    import ray
    from ray import tune

    planned = planned_trials(spec)
    if planned is None:
        raise NncliError("method: tpe runs on the local executor; use --executor local (grid and random run on "
                         "either)", file=spec.source, field="method")
    todo = [number for number in range(len(planned)) if not board.finished(number)]
    if not todo:
        return False
    for number in todo:
        board.start(number, planned[number])
    shared = {"config": str(spec.config_path.resolve()), "metric": spec.metric, "mode": spec.mode,
              "folds": spec.folds, "values": {str(number): planned[number] for number in todo},
              "dirs": {str(number): str(board.trial_dir(number).resolve()) for number in todo},
              "epochs": {str(number): planned[number].get("training.epochs", spec.base.training.epochs)
                         for number in todo}}
    started_here = not ray.is_initialized()
    if started_here:
        options = {"address": address} if address else {"num_cpus": jobs}
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **options)
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_trainable, spec=shared), {"cpu": 1}),
            param_space={"trial": tune.grid_search(todo)},
            tune_config=tune.TuneConfig(max_concurrent_trials=jobs, scheduler=_scheduler(spec),
                                        metric=spec.metric, mode=spec.mode),
            run_config=tune.RunConfig(storage_path=str((board.sweep_dir / RAY_DIR).resolve()), name="tune",
                                      verbose=0, callbacks=[_recorder(spec, board, shared, on_trial)]))
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    return False


def _scheduler(spec: SweepSpec) -> Any:
    if spec.prune != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs(spec), grace_period=GRACE_EPOCHS,
                         reduction_factor=REDUCTION_FACTOR)


def _recorder(spec: SweepSpec, board: Board, shared: dict[str, Any], on_trial: OnTrial | None) -> Any:
    """Driver side: each finished Tune trial becomes a record on the board (and the live leaderboard)."""
    from ray.tune import Callback

    best_seen: dict[str, float] = {}

    class Recorder(Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            value = result.get(spec.metric)
            if isinstance(value, float) and math.isfinite(value) and "record" not in result:
                previous = best_seen.get(trial.trial_id)
                if previous is None or (value > previous if spec.mode == "max" else value < previous):
                    best_seen[trial.trial_id] = value

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            finish(trial)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            finish(trial)

    def finish(trial: Any) -> None:
        number = trial.config["trial"]
        result = {**(trial.last_result or {}), "best_seen": best_seen.get(trial.trial_id)}
        record = _record_of(number, shared["values"][str(number)], shared["dirs"][str(number)], result)
        board.finish(record)
        if on_trial is not None:
            on_trial(record, board)

    return Recorder()
