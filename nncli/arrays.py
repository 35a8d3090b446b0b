"""Training on arrays you prepared yourself: the core without CSV files or a run directory.

    config = config_from_dict({"data": {"train": "unused.csv", "target": "y"},
                               "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                          {"type": "dense", "units": 1, "activation": "sigmoid"}],
                               "training": {"epochs": 50, "batch_size": 16}})
    model, history = fit_arrays(config, features, targets)        # targets shaped (rows, outputs)
    probabilities = model.predict(features)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from nncli.config import Config
from nncli.errors import ConfigError
from nncli.memory import check_network_fits
from nncli.metrics import higher_is_better
from nncli.nn.errors import CoreError
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS, Optimizer
from nncli.nn.schedules import SCHEDULES, Schedule
from nncli.split import Split
from nncli.train import EarlyStopping, Settings, TrainingState, fit, quiet_divergence


@dataclass
class TrainingObjects:
    """What a config's loss, optimizer and schedule keys build for a model."""

    objective: Objective
    optimizer: Optimizer
    schedule: Schedule
    settings: Settings
    base_lr: float


def build_model(layers: list[dict[str, Any]], input_width: int, dtype: Any, rng: np.random.Generator) -> Model:
    """The network of these resolved layer specs, initialised from `rng`.

    The core's errors become the ConfigError users see: `layers[<i>]: <message>`.
    """
    try:
        return Model(layers, input_width, dtype=dtype, rng=rng)
    except CoreError as error:
        field = None if error.layer is None else f"layers[{error.layer}]"
        raise ConfigError(error.message, field=field) from None


def build_schedule(spec: dict[str, Any]) -> Schedule:
    """The schedule of a config's `schedule` key, a `mode: auto` settled by the monitor's name."""
    schedule = SCHEDULES.get(spec["type"]).from_config(spec)
    schedule.resolve_mode(higher_is_better)
    return schedule


def training_objects(config: Config, model: Model) -> TrainingObjects:
    """The objective (the config's loss with `model`'s output activation), optimizer, schedule and settings."""
    training, early = config.training, config.training.early_stopping
    settings = Settings(
        epochs=training.epochs, batch_size=training.batch_size, shuffle=training.shuffle,
        clip_norm=training.clip_norm, l1=config.regularization.l1, l2=config.regularization.l2,
        metrics=tuple(config.metrics),
        early_stopping=None if early is None else EarlyStopping(
            monitor=early.monitor, patience=early.patience, min_delta=early.min_delta,
            restore_best=early.restore_best))
    loss = LOSSES.get(config.loss.type).from_config(config.loss.to_dict())
    return TrainingObjects(
        objective=Objective(loss, model.output_activation),
        optimizer=OPTIMIZERS.get(config.optimizer.type).from_config(config.optimizer.to_dict()),
        schedule=build_schedule(config.schedule.to_dict()), settings=settings, base_lr=config.optimizer.lr)


def fit_arrays(config: Config, features: np.ndarray, targets: np.ndarray,
               valid: tuple[np.ndarray, np.ndarray] | None = None,
               on_epoch: Callable[[dict], None] | None = None) -> tuple[Model, list[dict]]:
    """Build `config`'s network for these features and train it; returns the model and its epoch records.

    Targets are laid out as the loss expects: (rows, 1) 0/1 for binary_crossentropy, one-hot for
    categorical_crossentropy, values for regression. The config's `data` section is not read.
    """
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(config.seed)
    train = Split(np.ascontiguousarray(features, dtype=dtype), np.ascontiguousarray(targets, dtype=dtype))
    held_out = None if valid is None else Split(np.ascontiguousarray(valid[0], dtype=dtype),
                                                np.ascontiguousarray(valid[1], dtype=dtype))
    check_network_fits(config, train.features.shape[1], train.rows)
    model = build_model(config.layer_specs(), train.features.shape[1], dtype, rng)
    objects = training_objects(config, model)
    history = []
    with quiet_divergence():
        for record in fit(model, objects.objective, objects.optimizer, objects.schedule, train, held_out,
                          objects.settings, rng, TrainingState(), base_lr=objects.base_lr):
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
    return model, history
