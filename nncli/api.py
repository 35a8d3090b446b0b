"""The plain Python API under the CLI: everything `nncli` does is one function call away.

    from nncli import api
    result = api.train("configs/moons.yaml", overrides=["training.epochs=20"])
    trained = api.load_model(result.run_dir)
    predictions = trained.predict_frame(pandas.read_csv("new.csv"))
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from nncli import runs
from nncli.arrays import training_objects
from nncli.checkpoint import (
    checkpoint_config,
    checkpoint_fingerprint,
    checkpoint_wall_seconds,
    read_checkpoint,
    read_checkpoint_header,
    restore_checkpoint,
    save_checkpoint,
)
from nncli.config import Config, config_differences, config_error, load_config
from nncli.data import Preprocessor, load_datasets, read_table
from nncli.data.reading import read_table_keeping
from nncli.data.sources import display_name, rows_not_lines
from nncli.errors import ConfigError, ModelFileError, TrainingError
from nncli.memory import check_network_fits
from nncli.modelfile import TrainedModel, load_model
from nncli.nn.model import Model
from nncli.nn.optimizers import Optimizer
from nncli.nn.schedules import Schedule
from nncli.train import Interrupted, TrainingState, evaluate_split, fit

RESUMABLE_CHANGES = {"training.epochs"}
CHECKPOINT_SECONDS = 1.0  # fast epochs share a checkpoint write; a kill loses at most this much work


class Diverged(TrainingError):
    """Training cannot go on: a loss or the weights stopped being finite (exit 1)."""


def build_model(config: Config, input_width: int, rng: np.random.Generator) -> Model:
    """The network of `config.layers` for inputs of this width, initialised from `rng`."""
    return Model(config.layers, input_width, dtype=config.dtype, rng=rng)


def check_output_width(config: Config, model: Model, preprocessor: Preprocessor) -> None:
    """The output layer must fit the targets: a config error, not a shape crash later."""
    classes = len(preprocessor.classes)
    width = model.output_width
    field_name = f"layers[{len(config.layers) - 1}].units"
    if config.task == "regression":
        targets = len(preprocessor.target_names)
        if width != targets:
            raise config_error(config, field_name, f"the output has {width} units but there are {targets} "
                               "target columns: one unit per target")
        return
    if config.loss["type"] == "binary_crossentropy" or (width == 1 and classes == 2):
        if width != 1:
            raise config_error(config, field_name, f"binary_crossentropy needs one sigmoid output unit, got {width}")
        return
    if width != classes:
        labels = ", ".join(map(str, preprocessor.classes))
        raise config_error(config, field_name, f"the output has {width} units but the data has {classes} classes "
                           f"({labels}): one unit per class")


def predict(model_path: str | Path, data_path: str | Path, keep: Sequence[str] = ()) -> pd.DataFrame:
    """Predictions of a saved model for a data file (CSV, compressed CSV, Parquet, or `-` for standard input),
    with its `keep` columns (as the file holds them) in front."""
    trained = load_model(model_path)
    name = display_name(data_path)
    with rows_not_lines():
        if not keep:
            return trained.predict_frame(read_table(Path(data_path), display_path=name), source=name)
        frame, kept = read_table_keeping(Path(data_path), keep, display_path=name)
        return trained.predict_frame(frame, source=name, keep=kept)


def evaluate(model_path: str | Path, data_path: str | Path) -> dict[str, Any]:
    """The evaluation report of a saved model on a labelled data file (see `evaluate_model`)."""
    return evaluate_model(load_model(model_path), data_path)


def evaluate_model(trained: TrainedModel, data_path: str | Path) -> dict[str, Any]:
    """Loss and metrics of `trained` on a data file, rows scored and skipped (`TrainedModel.evaluate_frame`)."""
    name = display_name(data_path)
    with rows_not_lines():
        return trained.evaluate_frame(read_table(Path(data_path), display_path=name), source=name)


@dataclass
class Prepared:
    """A config with its data loaded and its network built: what `check` shows and `train` trains."""

    config: Config
    rng: np.random.Generator
    datasets: Any
    model: Model


def prepare(config: Config) -> Prepared:
    rng = np.random.default_rng(config.seed)
    with rows_not_lines():
        datasets = load_datasets(config, rng)
    check_network_fits(config, datasets.preprocessor.input_width, datasets.train.rows)
    model = build_model(config, datasets.preprocessor.input_width, rng)
    check_output_width(config, model, datasets.preprocessor)
    return Prepared(config, rng, datasets, model)


def check(config_path: str | Path, overrides: Sequence[str] = ()) -> Prepared:
    """Validate config and data and build the network; trains and writes nothing."""
    return prepare(load_config(config_path, overrides))


@dataclass
class RunResult:
    run_dir: Path
    history: list[dict]
    summary: dict[str, Any]
    trained: TrainedModel = field(repr=False)


def train(config_path: str | Path | Config, out: str | Path | None = None, overrides: Sequence[str] = (),
          resume: bool = False, on_epoch: Callable[[dict], None] | None = None,
          on_batch: Callable[[int], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False, base: Path | None = None,
          on_start: Callable[[Prepared, Path, int], None] | None = None) -> RunResult:
    """Train a config into a run directory; see SPEC.md for what the directory holds.

    Raises `Interrupted` (checkpoint written) when `should_stop()` turns true, and `TrainingError` when the
    training diverges (the checkpoint on disk stays the last one with finite weights).
    """
    config = config_path if isinstance(config_path, Config) else load_config(config_path, overrides)
    prepared = prepare(config)
    with runs.claim_run_dir(config.name, None if out is None else Path(out), resume, base) as run_dir:
        return _train_into(run_dir, prepared, resume, on_epoch, on_batch, should_stop, on_start)


def _train_into(run_dir: Path, prepared: Prepared, resume: bool, on_epoch: Callable[[dict], None] | None,
                on_batch: Callable[[int], None] | None, should_stop: Callable[[], bool],
                on_start: Callable[[Prepared, Path, int], None] | None) -> RunResult:
    """The training of `train` in a run directory this process holds."""
    config = prepared.config
    model, rng = prepared.model, prepared.rng
    objects = training_objects(config)
    loss, optimizer, schedule, settings = objects.loss, objects.optimizer, objects.schedule, objects.settings
    fingerprint = data_fingerprint(prepared.datasets)
    checkpoint_path = run_dir / runs.CHECKPOINT_FILE
    state, wall_before = TrainingState(), 0.0
    if resume:
        state, wall_before = _resume(checkpoint_path, config, fingerprint, model, optimizer, schedule, rng)
        runs.remove_stale_temporaries(run_dir)
    runs.write_text(run_dir / runs.CONFIG_FILE, config.to_yaml())
    train_split, valid_split = prepared.datasets.train, prepared.datasets.valid
    progress = _Progress(settings.epochs, batches_per_epoch(train_split.rows, settings.batch_size))
    if on_start is not None:
        on_start(prepared, run_dir, state.epoch)
    started = time.perf_counter()
    saved_at = (state.epoch, state.batch)

    def save_checkpoint_now() -> None:
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

    if not resume:
        save_checkpoint_now()  # epoch 0 with the initial weights: a run cut in its first epoch can resume
    last_saved = time.monotonic()
    try:
        # overflow is expected when training diverges, and reported as a TrainingError, not as warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for record in fit(model, loss, optimizer, schedule, train_split, valid_split, settings, rng, state,
                              base_lr=objects.base_lr, should_stop=should_stop, on_batch=on_batch):
                # The last epoch is saved before `fit` restores the best weights: the checkpoint holds the
                # last ones, so a resume with more epochs goes on from where training stopped.
                finished = state.epoch >= settings.epochs or state.stopped_early
                if finished or time.monotonic() - last_saved >= CHECKPOINT_SECONDS:
                    save_checkpoint_now()
                    last_saved = time.monotonic()
                if on_epoch is not None:
                    on_epoch(record)
    except Interrupted:
        save_checkpoint_now()
        raise Interrupted(f"stopped at {progress.position(state)}") from None
    except Diverged:
        raise
    except TrainingError:
        # fit stops before the diverging batch changes anything: `state` still points at that batch
        raise Diverged(f"training diverged: the loss is not finite at {progress.position(state)}; "
                       f"{_kept(checkpoint_path, progress, saved_at)}. {_divergence_hint(config)}") from None
    if not _all_finite(model.state_dict()):
        raise Diverged(f"training produced non-finite weights; model.npz was not written. "
                       f"{_divergence_hint(config)}")
    trained = TrainedModel(model, prepared.datasets.preprocessor, config.to_dict(), loss)
    trained.save(run_dir / runs.MODEL_FILE)
    test = prepared.datasets.test
    test_metrics = None if test is None else evaluate_split(model, loss, test, settings.metrics)
    summary = _summary(run_dir, state, test_metrics, wall_before + time.perf_counter() - started)
    runs.write_json(run_dir / runs.SUMMARY_FILE, summary)
    return RunResult(run_dir, state.history, summary, trained)


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """Batches in one epoch of `rows` training rows (the last batch may be smaller)."""
    return math.ceil(rows / min(batch_size, rows))


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
    return f"Try a lower optimizer.lr (it is {config.optimizer['lr']:g}) or {clip_hint}"


def _all_finite(arrays: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(array).all() for array in arrays.values() if array.dtype.kind in "fc")


def data_fingerprint(datasets: Any) -> str:
    """A digest of the training and validation arrays: a resume must see exactly the data it started with."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (datasets.train, datasets.valid):
        for array in () if part is None else (part.features, part.targets):
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _resume(path: Path, config: Config, fingerprint: str, model: Model, optimizer: Optimizer,
            schedule: Schedule, rng: np.random.Generator) -> tuple[TrainingState, float]:
    """The training state of the checkpoint at `path`, after checking it was made by this very config and data."""
    header = read_checkpoint_header(path, display=str(path))
    try:
        old = Config.model_validate(checkpoint_config(header))
    except Exception:  # noqa: BLE001  # any failure means the file is not a checkpoint nncli can continue
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
