"""A training run as a stream of events, in a run directory the caller has claimed.

    for event in run_events(prepared, run_dir, resume=False):
        match event:
            case EpochFinished(record=record): ...          # one per epoch, as metrics.csv gets it
            case RunStopped(message=message): ...           # should_stop() turned true: checkpoint written
            case RunDiverged(message=message): ...          # a loss or weight stopped being finite
            case RunFinished(result=result): ...            # model.npz and summary.json written

The consumer owns display, signals and exit codes; this module owns the files of the run (checkpoints,
metrics.csv, config.yaml, model.npz, summary.json) and when they are written.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nncli import runs
from nncli.build import Prepared, training_objects
from nncli.checkpoint import (
    checkpoint_config,
    checkpoint_fingerprint,
    checkpoint_wall_seconds,
    read_checkpoint,
    read_checkpoint_header,
    restore_checkpoint,
    save_checkpoint,
)
from nncli.config import Config, config_differences
from nncli.errors import ConfigError, ModelFileError, TrainingError
from nncli.modelfile import TrainedModel
from nncli.nn.model import Model
from nncli.nn.optimizers import Optimizer
from nncli.nn.schedules import Schedule
from nncli.train import Interrupted, TrainingState, batches_per_epoch, evaluate_split, fit, quiet_divergence

RESUMABLE_CHANGES = {"training.epochs"}
CHECKPOINT_SECONDS = 1.0  # fast epochs share a checkpoint write; a kill loses at most this much work


class Diverged(TrainingError):
    """Training cannot go on: a loss or the weights stopped being finite (exit 1)."""


@dataclass
class RunResult:
    """A finished run: its directory, epoch records, summary and the trained model."""

    run_dir: Path
    history: list[dict]
    summary: dict[str, Any]
    trained: TrainedModel = field(repr=False)


@dataclass(frozen=True)
class RunStarted:
    """The run's files are claimed and its config written; training starts at `first_epoch` (0-based)."""

    prepared: Prepared
    run_dir: Path
    first_epoch: int


@dataclass(frozen=True)
class EpochFinished:
    """One epoch's record: epoch, lr, loss, val_loss, each metric, seconds."""

    record: dict


@dataclass(frozen=True)
class CheckpointSaved:
    """checkpoint.npz and metrics.csv now hold the state before batch `batch` of epoch `epoch` (0-based)."""

    path: Path
    epoch: int
    batch: int


@dataclass(frozen=True)
class RunStopped:
    """`should_stop()` turned true: the checkpoint is written and `--resume` continues from it."""

    message: str


@dataclass(frozen=True)
class RunDiverged:
    """The loss or the weights stopped being finite; the last good checkpoint stays, model.npz is not written."""

    message: str


@dataclass(frozen=True)
class RunFinished:
    """model.npz and summary.json are written."""

    result: RunResult


Event = RunStarted | EpochFinished | CheckpointSaved | RunStopped | RunDiverged | RunFinished


def run_events(prepared: Prepared, run_dir: Path, resume: bool = False, *,
               should_stop: Callable[[], bool] = lambda: False,
               on_batch: Callable[[int], None] | None = None) -> Generator[Event, None, None]:
    """Train `prepared` into `run_dir` (claimed by the caller), yielding what happens as it happens.

    The stream ends with RunFinished, RunStopped or RunDiverged. Bad input (a checkpoint that does not match)
    raises before RunStarted.
    """
    config, model, rng = prepared.config, prepared.model, prepared.rng
    objects = training_objects(config, model)
    objective, optimizer, schedule, settings = objects.objective, objects.optimizer, objects.schedule, objects.settings
    fingerprint = data_fingerprint(prepared.datasets)
    checkpoint_path = run_dir / runs.CHECKPOINT_FILE
    state, wall_before = TrainingState(), 0.0
    if resume:
        state, wall_before = _resume(checkpoint_path, config, fingerprint, model, optimizer, schedule, rng)
        runs.remove_stale_temporaries(run_dir)
    runs.write_text(run_dir / runs.CONFIG_FILE, config.to_yaml())
    train_split, valid_split = prepared.datasets.train, prepared.datasets.valid
    progress = _Progress(settings.training.epochs, batches_per_epoch(train_split.rows, settings.training.batch_size))
    yield RunStarted(prepared, run_dir, state.epoch)
    started = time.perf_counter()
    saved_at = (state.epoch, state.batch)

    def save_checkpoint_now() -> CheckpointSaved:
        nonlocal saved_at
        if not _all_finite(model.state_dict()) or not _all_finite(state.best_weights or {}):
            raise Diverged(f"training diverged: the weights are no longer finite after "
                           f"{progress.last_batch(state)}; {_kept(checkpoint_path, progress, saved_at)}. "
                           f"{_divergence_hint(config)}")
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, schedule=schedule, state=state,
                        rng=rng, config=config.to_dict(), data_fingerprint=fingerprint,
                        wall_seconds=wall_before + time.perf_counter() - started)
        runs.write_metrics_csv(run_dir / runs.METRICS_FILE, state.history)
        saved_at = (state.epoch, state.batch)
        return CheckpointSaved(checkpoint_path, state.epoch, state.batch)

    try:
        if not resume:
            yield save_checkpoint_now()  # epoch 0 with the initial weights: a run cut in its first epoch can resume
        last_saved = time.monotonic()
        with quiet_divergence():
            for record in fit(model, objective, optimizer, schedule, train_split, valid_split, settings, rng, state,
                              base_lr=objects.base_lr, should_stop=should_stop, on_batch=on_batch):
                # The last epoch is saved before `fit` restores the best weights: the checkpoint holds the
                # last ones, so a resume with more epochs goes on from where training stopped.
                finished = state.epoch >= settings.training.epochs or state.stopped_early
                if finished or time.monotonic() - last_saved >= CHECKPOINT_SECONDS:
                    yield save_checkpoint_now()
                    last_saved = time.monotonic()
                yield EpochFinished(record)
    except Interrupted:
        try:
            yield save_checkpoint_now()
        except Diverged as diverged:
            yield RunDiverged(str(diverged))
            return
        yield RunStopped(f"stopped at {progress.position(state)}")
        return
    except Diverged as diverged:
        yield RunDiverged(str(diverged))
        return
    except TrainingError:
        # fit stops before the diverging batch changes anything: `state` still points at that batch
        yield RunDiverged(f"training diverged: the loss is not finite at {progress.position(state)}; "
                          f"{_kept(checkpoint_path, progress, saved_at)}. {_divergence_hint(config)}")
        return
    if not _all_finite(model.state_dict()):
        yield RunDiverged(f"training produced non-finite weights; model.npz was not written. "
                          f"{_divergence_hint(config)}")
        return
    trained = TrainedModel(model, prepared.datasets.preprocessor, config.to_dict(), objective.loss)
    trained.save(run_dir / runs.MODEL_FILE)
    test = prepared.datasets.test
    test_metrics = None if test is None else evaluate_split(model, objective.loss, test, settings.metrics)
    summary = _summary(run_dir, state, test_metrics, wall_before + time.perf_counter() - started)
    summary["rows_skipped"] = prepared.datasets.rows_skipped
    runs.write_json(run_dir / runs.SUMMARY_FILE, summary)
    yield RunFinished(RunResult(run_dir, state.history, summary, trained))


@dataclass(frozen=True)
class _Progress:
    """Positions in training as users see them: 1-based, out of the totals, as the display shows epochs."""

    epochs: int
    batches: int

    def at(self, epoch: int, batch: int) -> str:
        return f"epoch {epoch + 1}/{self.epochs}, batch {batch + 1}/{self.batches}"

    def position(self, state: TrainingState) -> str:
        """The batch the loop is at (the next one to run)."""
        return self.at(state.epoch, state.batch)

    def last_batch(self, state: TrainingState) -> str:
        """The batch the loop ran last."""
        if state.batch:
            return self.at(state.epoch, state.batch - 1)
        return self.at(state.epoch - 1, self.batches - 1)


def _kept(path: Path, progress: _Progress, saved_at: tuple[int, int]) -> str:
    epoch, batch = saved_at
    if (epoch, batch) == (0, 0):
        when = "the initial weights, before the first batch"
    elif batch == 0:
        when = f"saved after epoch {epoch}/{progress.epochs}"
    else:
        when = f"saved before {progress.at(epoch, batch)}"
    return f"{path} keeps the last good state ({when}) and model.npz was not written"


def _divergence_hint(config: Config) -> str:
    clip = config.training.clip_norm
    clip_hint = "set training.clip_norm (for example 1.0)" if clip is None else \
        f"lower training.clip_norm (it is {clip:g})"
    return f"Try a lower optimizer.lr (it is {config.optimizer.lr:g}) or {clip_hint}"


def _all_finite(arrays: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(array).all() for array in arrays.values() if array.dtype.kind in "fc")


def data_fingerprint(datasets: Any) -> str:
    """A digest of the training and validation arrays: a resume must see exactly the data it started with."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (datasets.train, datasets.valid):
        arrays = () if part is None else (part.features, part.targets)
        if part is not None and part.weights is not None:  # without weights: the digest of earlier versions
            arrays += (part.weights,)
        if part is not None:  # without embeddings: the digest of earlier versions
            arrays += tuple(part.indices[name] for name in sorted(part.indices))
        for array in arrays:
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _resume(path: Path, config: Config, fingerprint: str, model: Model, optimizer: Optimizer,
            schedule: Schedule, rng: np.random.Generator) -> tuple[TrainingState, float]:
    """The training state of the checkpoint at `path`, after checking it was made by this very config and data."""
    header = read_checkpoint_header(path, display=str(path))
    try:
        old = Config.model_validate(checkpoint_config(header))
    except Exception:  # any failure means the file is not a checkpoint nncli can continue
        raise ModelFileError("is not an nncli checkpoint or is damaged (its config cannot be read)",
                             file=str(path)) from None
    differences = config_differences(old, config, RESUMABLE_CHANGES)
    if differences:
        raise ConfigError("--resume refuses a changed config: the run would not be the one that was interrupted "
                          "(only training.epochs may change). Differences (checkpoint -> now): "
                          + "; ".join(differences), file=str(path))
    if checkpoint_fingerprint(header) not in (None, fingerprint):
        raise ConfigError("--resume refuses changed data: the training or validation rows differ from the ones "
                          "the run started with (a data file was edited); restore the data or train a new run",
                          file=str(path))
    arrays = read_checkpoint(path, model=model, optimizer=optimizer, schedule=schedule, display=str(path))
    state = restore_checkpoint(arrays, model=model, optimizer=optimizer, schedule=schedule, rng=rng,
                               source=str(path))
    epochs = config.training.epochs
    if epochs < state.epoch or (epochs == state.epoch and state.batch > 0):
        done = f"{state.epoch} epochs" + (f" and {state.batch} batches" if state.batch else "")
        raise ConfigError(f"--resume: the checkpoint has already run {done}, more than training.epochs = {epochs}; "
                          "training.epochs may only be raised", file=str(path))
    return state, checkpoint_wall_seconds(header)


def _summary(run_dir: Path, state: TrainingState, test: dict | None, wall: float) -> dict[str, Any]:
    history = state.history
    final = history[-1] if history else {}
    best_index = None
    if state.best_epoch is not None:
        best_index = next(i for i, record in enumerate(history) if record["epoch"] == state.best_epoch)
    elif history:
        key = "val_loss" if "val_loss" in final else "loss"
        best_index = int(np.argmin([record[key] for record in history]))
    best = history[best_index] if best_index is not None else {}
    # `fit` loads the best weights back when early stopping keeps them (restore_best)
    restored = state.best_weights is not None and state.best_epoch is not None
    return {"run_dir": str(run_dir), "epochs_run": len(history), "best_epoch": best.get("epoch"),
            "weights_epoch": state.best_epoch if restored else final.get("epoch"), "weights_restored": restored,
            "stopped_early": state.stopped_early,
            "final": {k: v for k, v in final.items() if k not in ("epoch", "seconds")},
            "best": {k: v for k, v in best.items() if k not in ("epoch", "seconds")},
            "test": test, "wall_seconds": wall, "versions": runs.versions()}
