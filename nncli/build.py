"""From a validated config to the objects that train: data, network, objective, optimizer, schedule, settings.

One path for every caller: `nncli train` and `check`, `fit_arrays`, and runs started from the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nncli.config import Config, config_error
from nncli.config.graph import embedded_columns
from nncli.config.typed import create
from nncli.data import Datasets, FoldRows, MissingColumn, Preprocessor, load_datasets, target_encoding_for
from nncli.data.checks import EmbeddedColumnError
from nncli.data.sources import rows_not_lines
from nncli.errors import ConfigError
from nncli.memory import check_network_fits
from nncli.metrics import higher_is_better
from nncli.nn.errors import CoreError
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS, Optimizer
from nncli.nn.schedules import SCHEDULES, Schedule
from nncli.nn.targetscale import TargetScale
from nncli.train import Settings
from nncli.weights import weigh_datasets


@dataclass
class TrainingObjects:
    """What a config's loss, optimizer and schedule keys build for a model."""

    objective: Objective
    optimizer: Optimizer
    schedule: Schedule
    settings: Settings
    base_lr: float


def build_model(layers: list[dict[str, Any]], input_width: int, dtype: Any, rng: np.random.Generator,
                categories: dict[str, int] | None = None) -> Model:
    """The network of these resolved layer specs, initialised from `rng` (`categories`: each embedded column's
    number of categories, see `Model`).

    The core's errors become the ConfigError users see: `layers[<i>]: <message>`.
    """
    try:
        return Model(layers, input_width, dtype=dtype, rng=rng, categories=categories)
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
    settings = Settings(config.training, config.regularization, tuple(config.metrics))
    loss = create(LOSSES, config.loss)
    return TrainingObjects(
        objective=Objective(loss, model.output_activation, target_scale=model.target_scale),
        optimizer=create(OPTIMIZERS, config.optimizer),
        schedule=build_schedule(config.schedule.to_dict()), settings=settings, base_lr=config.optimizer.lr)


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
    if config.loss.type == "binary_crossentropy" or (width == 1 and classes == 2):
        if width != 1:
            raise config_error(config, field_name, f"binary_crossentropy needs one sigmoid output unit, got {width}")
        return
    if width != classes:
        labels = ", ".join(map(str, preprocessor.classes))
        raise config_error(config, field_name, f"the output has {width} units but the data has {classes} classes "
                           f"({labels}): one unit per class")


@dataclass
class Prepared:
    """A config with its data loaded and its network built: what `check` shows and `train` trains."""

    config: Config
    rng: np.random.Generator
    datasets: Datasets
    model: Model

    def summary(self) -> dict[str, Any]:
        """What `check --json` prints: the resolved config, rows per split, inputs, classes or targets, the
        embeddings (column, categories, dim, parameters), the model summary rows and the parameter count, and the
        data's warnings."""
        datasets, preprocessor = self.datasets, self.datasets.preprocessor
        splits = {"train": datasets.train, "valid": datasets.valid, "test": datasets.test}
        return {"config": self.config.to_dict(),
                "rows": {name: split.rows for name, split in splits.items() if split is not None},
                "rows_skipped": datasets.rows_skipped,
                "inputs": {"columns": list(preprocessor.feature_names), "width": preprocessor.input_width},
                "classes": [str(label) for label in preprocessor.classes] if preprocessor.classes else None,
                "targets": list(preprocessor.target_names),
                "embeddings": self.model.embeddings(),
                "layers": self.model.summary_rows(), "parameters": self.model.parameter_count(),
                "warnings": list(datasets.warnings)}


def load_data(config: Config, rng: np.random.Generator, rows: FoldRows | None = None) -> Datasets:
    """The config's datasets, targets laid out for its loss and output layer (first use of `rng`); with `rows`,
    a cross-validation fold of the training file (see `load_datasets`).

    A column the config names that a file lacks is a ConfigError at the config's line.
    """
    if config.data is None:
        raise config_error(config, "data", "required: the data section names the training file and the target, "
                                           "e.g. data: {train: train.csv, target: label}")
    encoding = target_encoding_for(config.task, config.loss.type, getattr(config.layers[-1], "units", None))
    embedded = embedded_columns(config.layer_specs())
    try:
        with rows_not_lines():
            return load_datasets(config.data, rng, task=config.task, encoding=encoding, dtype=config.dtype,
                                 rows=rows, embedded=list(embedded))
    except MissingColumn as error:
        field_name = column_field(config, error.name)
        if field_name is None:
            raise
        raise config_error(config, field_name, error.in_file()) from None
    except EmbeddedColumnError as error:
        raise config_error(config, f"layers[{embedded[error.name]}].column",
                           f"{error.message} (in {error.file})") from None


def column_field(config: Config, column: str) -> str | None:
    """The config entry that names `column` (`data.target`, `data.features[2]`, `layers[0].column`), if one does."""
    if config.data is None:
        return None
    if column == config.data.weight:
        return "data.weight"
    embedded = embedded_columns(config.layer_specs())
    if column in embedded:
        return f"layers[{embedded[column]}].column"
    for key in ("target", "features"):
        value = getattr(config.data, key)
        if value == column:
            return f"data.{key}"
        if isinstance(value, list) and column in value:
            return f"data.{key}[{value.index(column)}]"
    return None


def prepare(config: Config, rows: FoldRows | None = None) -> Prepared:
    """Data loaded, the network built and checked against the data: what `check` shows and `train` trains
    (with `rows`, one cross-validation fold: see `load_datasets`)."""
    rng = np.random.default_rng(config.seed)
    datasets = load_data(config, rng, rows)
    try:
        datasets = weigh_datasets(datasets, config.training.class_weight)
    except ConfigError as error:
        raise config_error(config, error.field or "training.class_weight", error.message) from None
    preprocessor = datasets.preprocessor
    categories = preprocessor.embedding_categories()
    check_network_fits(config, preprocessor.input_width, datasets.train.rows, categories)
    model = build_model(config.layer_specs(), preprocessor.input_width, config.dtype, rng, categories)
    check_output_width(config, model, datasets.preprocessor)
    if config.data is not None and config.data.target_scale == "standard":  # never None here: load_data requires it
        model.target_scale = TargetScale.fit(datasets.train.targets, config.dtype)
    return Prepared(config, rng, datasets, model)
