"""The plain Python API under the CLI: everything `nncli` does is one function call away.

    from nncli import api
    result = api.train("configs/moons.yaml", overrides=["training.epochs=20"])
    trained = api.load_model(result.run_dir)
    predictions = trained.predict_frame(pandas.read_csv("new.csv"))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from nncli import runs
from nncli.checkpoint import checkpoint_config, read_checkpoint, restore_checkpoint, save_checkpoint
from nncli.config import Config, config_differences, config_error, load_config
from nncli.data import Preprocessor, load_datasets, read_table
from nncli.errors import ConfigError, ModelFileError, TrainingError
from nncli.metrics import classification_report, regression_report
from nncli.nn.losses import LOSSES, Loss
from nncli.nn.model import Model
from nncli.nn.optimizers import OPTIMIZERS, Optimizer
from nncli.nn.schedules import SCHEDULES, Schedule
from nncli.train import EarlyStopping, Interrupted, Settings, Split, TrainingState, evaluate_split, fit

RESUMABLE_CHANGES = {"training.epochs"}
CHECKPOINT_SECONDS = 1.0  # fast epochs share a checkpoint write; a kill loses at most this much work


def settings_from_config(config: Config) -> Settings:
    training = config.training
    early = training.early_stopping
    return Settings(
        epochs=training.epochs, batch_size=training.batch_size, shuffle=training.shuffle,
        clip_norm=training.clip_norm, l1=config.regularization.l1, l2=config.regularization.l2,
        metrics=tuple(config.metrics),
        early_stopping=None if early is None else EarlyStopping(
            monitor=early.monitor, patience=early.patience, min_delta=early.min_delta,
            restore_best=early.restore_best))


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


@dataclass
class TrainedModel:
    """Everything model.npz holds: the network, its preprocessing and the config it was trained with."""

    model: Model
    preprocessor: Preprocessor
    config: dict[str, Any]
    loss: Loss

    @property
    def task(self) -> str:
        return self.config["task"]

    def predict_arrays(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict(features)

    def predict_frame(self, frame: pd.DataFrame, source: str = "<data>") -> pd.DataFrame:
        """Predictions for a table aligned by column name; the target column may be absent."""
        frame = self.preprocessor.prepare(frame, source=source, require_target=False)
        outputs = self.model.predict(self.preprocessor.features(frame, self.model.dtype))
        return self.preprocessor.decode(outputs)

    def evaluate_frame(self, frame: pd.DataFrame, source: str = "<data>") -> dict[str, Any]:
        """Loss and the task's metrics on a table that holds the target."""
        frame = self.preprocessor.prepare(frame, source=source, require_target=True)
        split = Split(self.preprocessor.features(frame, self.model.dtype),
                      self.preprocessor.targets(frame, self.model.dtype))
        outputs = self.model.predict(split.features)
        loss_value = float(self.loss.forward(outputs, split.targets)[0])
        if self.task == "classification":
            report = classification_report(split.targets, outputs, [str(c) for c in self.preprocessor.classes])
        else:
            report = regression_report(split.targets, outputs, list(self.preprocessor.target_names))
        return {"loss": loss_value, **report}

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = dict(self.model.state_dict())
        arrays.update({f"meta.{key}": value for key, value in self.preprocessor.to_arrays().items()})
        arrays["meta.config"] = runs.json_array(self.config)
        arrays["meta.architecture"] = runs.json_array(self.model.specs)
        arrays["meta.input_width"] = np.array(self.model.input_width)
        arrays["meta.dtype"] = np.array(self.model.dtype.name)
        arrays["meta.versions"] = runs.json_array(runs.versions())
        return arrays

    def save(self, path: Path) -> None:
        runs.write_arrays(Path(path), self.to_arrays())


def load_model(path: str | Path) -> TrainedModel:
    """A model from a run directory or a model.npz file."""
    file = runs.model_path(Path(path))
    arrays = runs.read_arrays(file, display=str(file))
    try:
        config = runs.from_json_array(arrays["meta.config"])
        specs = runs.from_json_array(arrays["meta.architecture"])
        model = Model(specs, int(arrays["meta.input_width"]), dtype=str(arrays["meta.dtype"]),
                      rng=np.random.default_rng(0))
        preprocessor = Preprocessor.from_arrays(
            {key[5:]: value for key, value in arrays.items() if key.startswith("meta.")})
        loss = LOSSES.get(config["loss"]["type"]).from_config(config["loss"])
    except (KeyError, ValueError, TypeError, ConfigError) as error:
        raise ModelFileError(f"is not an nncli model or is damaged ({type(error).__name__}: {error})",
                             file=str(file)) from None
    model.load_state_dict({key: value for key, value in arrays.items() if key.startswith("layers.")},
                          source=str(file))
    return TrainedModel(model, preprocessor, config, loss)


def predict(model_path: str | Path, data_path: str | Path) -> pd.DataFrame:
    trained = load_model(model_path)
    return trained.predict_frame(read_table(Path(data_path), display_path=str(data_path)), source=str(data_path))


def evaluate(model_path: str | Path, data_path: str | Path) -> dict[str, Any]:
    return evaluate_model(load_model(model_path), data_path)


def evaluate_model(trained: TrainedModel, data_path: str | Path) -> dict[str, Any]:
    return trained.evaluate_frame(read_table(Path(data_path), display_path=str(data_path)),
                                  source=str(data_path))


@dataclass
class Prepared:
    """A config with its data loaded and its network built: what `check` shows and `train` trains."""

    config: Config
    rng: np.random.Generator
    datasets: Any
    model: Model


def prepare(config: Config) -> Prepared:
    rng = np.random.default_rng(config.seed)
    datasets = load_datasets(config, rng)
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


def _split(part: Any) -> Split | None:
    return None if part is None else Split(part.features, part.targets)


def train(config_path: str | Path | Config, out: str | Path | None = None, overrides: Sequence[str] = (),
          resume: bool = False, on_epoch: Callable[[dict], None] | None = None,
          on_batch: Callable[[int], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False, base: Path | None = None,
          on_start: Callable[[Prepared, Path, int], None] | None = None) -> RunResult:
    """Train a config into a run directory; see SPEC.md for what the directory holds."""
    config = config_path if isinstance(config_path, Config) else load_config(config_path, overrides)
    prepared = prepare(config)
    run_dir = runs.choose_run_dir(config.name, None if out is None else Path(out), resume, base)
    model, rng = prepared.model, prepared.rng
    loss = LOSSES.get(config.loss["type"]).from_config(config.loss)
    optimizer: Optimizer = OPTIMIZERS.get(config.optimizer["type"]).from_config(config.optimizer)
    schedule: Schedule = SCHEDULES.get(config.schedule["type"]).from_config(config.schedule)
    state = TrainingState()
    if resume:
        state = _resume(run_dir, config, model, optimizer, schedule, rng)
    runs.write_text(run_dir / runs.CONFIG_FILE, config.to_yaml())
    train_split, valid_split = _split(prepared.datasets.train), _split(prepared.datasets.valid)
    settings = settings_from_config(config)
    if on_start is not None:
        on_start(prepared, run_dir, state.epoch)

    def save_checkpoint_now() -> None:
        save_checkpoint(run_dir / runs.CHECKPOINT_FILE, model=model, optimizer=optimizer, schedule=schedule,
                        state=state, rng=rng, config=config.to_dict())
        runs.write_metrics_csv(run_dir / runs.METRICS_FILE, state.history)

    started = time.perf_counter()
    if not resume:
        save_checkpoint_now()  # epoch 0 with the initial weights: a run cut in its first epoch can resume
    last_saved = time.monotonic()
    try:
        for record in fit(model, loss, optimizer, schedule, train_split, valid_split, settings, rng, state,
                          base_lr=config.optimizer["lr"], should_stop=should_stop, on_batch=on_batch):
            # after every epoch, but epochs faster than CHECKPOINT_SECONDS are saved together
            if time.monotonic() - last_saved >= CHECKPOINT_SECONDS:
                save_checkpoint_now()
                last_saved = time.monotonic()
            if on_epoch is not None:
                on_epoch(record)
    except Interrupted:
        save_checkpoint_now()
        raise
    if not all(np.isfinite(array).all() for array in model.state_dict().values()):
        raise TrainingError("training produced non-finite weights; nothing was saved as model.npz. "
                            "Try a lower optimizer.lr or set training.clip_norm")
    save_checkpoint_now()
    trained = TrainedModel(model, prepared.datasets.preprocessor, config.to_dict(), loss)
    trained.save(run_dir / runs.MODEL_FILE)
    test = _split(prepared.datasets.test)
    test_metrics = None if test is None else evaluate_split(model, loss, test, settings.metrics)
    summary = _summary(run_dir, state, test_metrics, time.perf_counter() - started)
    runs.write_json(run_dir / runs.SUMMARY_FILE, summary)
    return RunResult(run_dir, state.history, summary, trained)


def _resume(run_dir: Path, config: Config, model: Model, optimizer: Optimizer, schedule: Schedule,
            rng: np.random.Generator) -> TrainingState:
    path = run_dir / runs.CHECKPOINT_FILE
    arrays = read_checkpoint(path, display=str(path))
    old = Config.model_validate(checkpoint_config(arrays)) if "config" in arrays else None
    if old is None:
        raise ModelFileError("is not an nncli checkpoint", file=str(path))
    differences = config_differences(old, config, RESUMABLE_CHANGES)
    if differences:
        raise ConfigError("--resume refuses a changed config (only training.epochs may change); differences: "
                          + "; ".join(differences), file=str(path))
    return restore_checkpoint(arrays, model=model, optimizer=optimizer, schedule=schedule, rng=rng,
                              source=str(path))


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
    return {"run_dir": str(run_dir), "epochs_run": len(history), "best_epoch": best.get("epoch"),
            "stopped_early": state.stopped_early,
            "final": {k: v for k, v in final.items() if k not in ("epoch", "seconds")},
            "best": {k: v for k, v in best.items() if k not in ("epoch", "seconds")},
            "test": test, "wall_seconds": wall, "versions": runs.versions()}
