"""The config's typed, frozen shape. Unknown keys are refused everywhere.

`RawConfig` is the top level as written (registry names not yet resolved); `Config` is the resolved result,
every default filled in.
"""

# No `from __future__ import annotations`: pydantic reads these annotations at class creation.
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import pydantic
from pydantic import BeforeValidator, ConfigDict, PlainValidator, PrivateAttr, ValidationInfo

from nncli.config.messages import show
from nncli.config.typed import LayerSpec, family, registries, sections
from nncli.nn.params import Bool, Name, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt


def _absolute(value: Any, info: ValidationInfo, words: str) -> Path:
    """A path, relative ones taken from the validation context's `base_dir` (else the working directory)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise ValueError(f"must be {words}, got {show(value)}")
    base = (info.context or {}).get("base_dir", ".")
    return Path(os.path.abspath(Path(base) / Path(value).expanduser()))


def _csv_path(value: Any, info: ValidationInfo) -> Path:
    return _absolute(value, info, "a CSV file path")


def _optional_csv_path(value: Any, info: ValidationInfo) -> Path | None:
    return None if value is None else _absolute(value, info, "a CSV file path or null")


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # text that YAML would read as a number unquoted


def _valid_split(value: Any, info: ValidationInfo) -> float | Path | None:
    words = "a fraction in (0, 1), a CSV file path or null"
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 < value < 1:
            raise ValueError(f"must be {words}, got {show(value)}")
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError(f"must be {words}, got the text {show(value)}: write a fraction as a number, without "
                         f"quotes ({value.strip()}), or give the path of a CSV file")
    return _absolute(value, info, words)


def _delimiter(value: Any) -> str:
    # pandas' C parser splits on one byte: 'é' (two bytes in UTF-8) made it fail with a raw ValueError
    if value == "auto" or (isinstance(value, str) and len(value) == 1 and value.isascii() and value not in "\r\n\"\0"):
        return value
    raise ValueError(f'must be auto or a single ASCII character (a tab is "\\t", quoted), got {show(value)}')


def _names(value: Any, what: str, allow_empty: bool) -> list[str]:
    if not isinstance(value, (list, tuple)) or any(not isinstance(name, str) or not name for name in value):
        raise ValueError(f"must be {what}, got {show(value)}")
    if not value and not allow_empty:
        raise ValueError(f"must be {what}, got []")
    twice = sorted({name for name in value if list(value).count(name) > 1})
    if twice:
        raise ValueError(f"lists {show(twice[0])} more than once")
    return list(value)


def _target(value: Any) -> str | list[str]:
    if isinstance(value, str) and value:
        return value
    return _names(value, "a column name or a list of column names", allow_empty=False)


def _features(value: Any) -> str | list[str]:
    return value if value == "all" else _names(value, "all or a list of column names", allow_empty=False)


def _categorical(value: Any) -> str | list[str]:
    return value if value == "auto" else _names(value, "auto or a list of column names", allow_empty=True)


def _weight_column(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return value
    raise ValueError(f"must be a column name or null, got {show(value)}")


def _class_weight(value: Any) -> str | dict[str, float] | None:
    """null, balanced, or {class label: non-negative weight}; labels are kept as text (`1` and `1.0` alike)."""
    words = "null, balanced or a mapping {class: weight}"
    if value is None or value == "balanced":
        return value
    if not isinstance(value, dict) or not value:
        raise ValueError(f"must be {words}, got {show(value)}")
    weights = {}
    for label, weight in value.items():
        if isinstance(label, bool) or label is None or label == "" or isinstance(label, (dict, list)):
            raise ValueError(f"must be {words}; {show(label)} is not a class label")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
            raise ValueError(f"gives class {show(label)} the weight {show(weight)}; weights are numbers >= 0")
        if str(label) in weights:
            raise ValueError(f"names class {show(label)} twice")
        weights[str(label)] = float(weight)
    return weights


def _na_values(value: Any) -> list[str]:
    """Cell texts read as missing; numbers (`-999`) are taken as the text YAML read them from."""
    words = "a list of cell texts, such as [\"?\", \"-\"]"
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"must be {words}, got {show(value)}")
    texts = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)) or item == "":
            raise ValueError(f"must be {words}, got {show(item)} in the list (empty cells are missing already)")
        texts.append(item if isinstance(item, str) else str(item))
    twice = sorted({text for text in texts if texts.count(text) > 1})
    if twice:
        raise ValueError(f"lists {show(twice[0])} more than once")
    return texts


MAX_NAME_BYTES = 200
"""Longest run name in UTF-8 bytes: file names stop at 255, and run directories add `-2`, `-cv`, `-k`."""


def _run_name(value: Any) -> str:
    # isprintable() is False for NUL, control characters and line breaks
    if (not isinstance(value, str) or value.strip() != value or value in ("", ".", "..")
            or any(char in value for char in "/\\") or not value.isprintable()):
        raise ValueError(f"must be a name usable as a directory name (no '/' or '\\'), got {show(value)}")
    size = len(value.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes to make a directory name, got {size} bytes: "
                         f"{show(value, limit=40)}")
    return value


def _mapping_if_null(value: Any) -> Any:
    """`training:` with every key commented out reads as null: take it as an empty mapping."""
    return {} if value is None else value


def _switch(value: Any) -> Any:
    """`early_stopping: true` turns it on with its defaults, `false` off."""
    return {} if value is True else None if value is False else value


RunName = Annotated[str, PlainValidator(_run_name, json_schema_input_type=str)]
CsvPath = Annotated[Path, PlainValidator(_csv_path, json_schema_input_type=str)]
OptionalCsvPath = Annotated[Path | None, PlainValidator(_optional_csv_path, json_schema_input_type=str | None)]
ValidSplit = Annotated[float | Path | None,
                       PlainValidator(_valid_split, json_schema_input_type=float | str | None)]
Delimiter = Annotated[str, PlainValidator(_delimiter, json_schema_input_type=str)]
TargetColumns = Annotated[str | list[str], PlainValidator(_target, json_schema_input_type=str | list[str])]
FeatureColumns = Annotated[str | list[str],
                           PlainValidator(_features, json_schema_input_type=Literal["all"] | list[str])]
CategoricalColumns = Annotated[str | list[str],
                               PlainValidator(_categorical, json_schema_input_type=Literal["auto"] | list[str])]

_FOUND = registries()
if TYPE_CHECKING:  # the unions are built from the registries at import; checkers see their common shape
    LayerConfig: TypeAlias = Any
    LossConfig: TypeAlias = Any
    OptimizerConfig: TypeAlias = Any
    ScheduleConfig: TypeAlias = Any
else:
    LayerConfig = family(_FOUND.layers, LayerSpec)
    LossConfig = family(_FOUND.losses)
    OptimizerConfig = family(_FOUND.optimizers)
    ScheduleConfig = family(_FOUND.schedules)


class Section(pydantic.BaseModel):
    """A frozen mapping of the config that refuses unknown keys."""

    # the docstring under each field is its description in the JSON Schema (`nncli schema`)
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DataConfig(Section):
    """Where the data is and how to read it; paths are absolute."""

    train: CsvPath
    """The training CSV file (or .gz/.bz2/.xz/.zst, .parquet), relative to the config file."""
    valid: ValidSplit = 0.2
    """A CSV path, a fraction of train held out (stratified for classification), or null."""
    delimiter: Delimiter = "auto"
    """Auto (sniffed among , ; tab |) or a single ASCII character."""
    missing: Literal["error", "drop", "impute"] = "error"
    """Missing feature cells: error, drop the rows, or impute (numeric: training mean; categorical: own category)."""
    test: OptionalCsvPath = None
    """An optional test CSV, evaluated once after training."""
    target: TargetColumns
    """The target column, or a list of columns (regression)."""
    features: FeatureColumns = "all"
    """All, or a list of the feature columns."""
    categorical: CategoricalColumns = "auto"
    """Auto (non-numeric columns) or a list; one-hot encoded unless an embedding layer takes it."""
    scale: Literal["standard", "minmax", "none"] = "standard"
    """Feature scaling; statistics from the training split only."""
    na_values: Annotated[list[str], PlainValidator(_na_values)] = []
    """More cell texts read as missing, e.g. ["?", "-"]."""
    missing_target: Literal["drop", "error"] = "drop"
    """Rows whose target is missing: drop them (counted in the summary) or error."""
    unknown_category: Literal["error", "ignore"] = "error"
    """A category unseen in training: error, or ignore (all-zero one-hot / unknown embedding row)."""
    min_frequency: PositiveInt = 1
    """Categories seen in fewer training rows share one "infrequent" column."""
    weight: Annotated[str | None, PlainValidator(_weight_column, json_schema_input_type=str | None)] = None
    """A column of non-negative per-row sample weights (not a feature); null: every row weighs 1."""
    target_scale: Literal["auto", "standard", "none"] = "auto"
    """Standardize regression targets for training (auto: standard for regression, none for classification)."""


class Regularization(Section):
    """Penalties on the weight matrices: l1·Σ|W| and l2/2·Σ‖W‖²."""

    l1: NonNegativeFloat = 0.0
    """Adds l1·Σ|W| over the weight matrices to the training loss."""
    l2: NonNegativeFloat = 0.0
    """Adds l2/2·Σ‖W‖² over the weight matrices (not the biases) to the training loss."""


class EarlyStopping(Section):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs."""

    monitor: Name = "val_loss"
    """The metrics.csv column watched, e.g. val_loss or val_accuracy."""
    patience: NonNegativeInt = 10
    """Epochs without improvement before training stops."""
    restore_best: Bool = True
    """Save the best epoch's weights rather than the last."""
    min_delta: NonNegativeFloat = 0.0
    """The least change that counts as an improvement."""


class Training(Section):
    """How long and in which batches to train."""

    epochs: NonNegativeInt = 100
    """Epochs to train; 0 saves the initialised weights."""
    batch_size: PositiveInt = 32
    """Rows per batch."""
    shuffle: Bool = True
    """Shuffle the rows every epoch (false: batches in file order)."""
    early_stopping: Annotated[EarlyStopping | None, BeforeValidator(_switch)] = None
    """Null (off), true (the defaults) or its settings."""
    clip_norm: PositiveFloat | None = None
    """Clip the global gradient norm to this value; null: no clipping."""
    class_weight: Annotated[str | dict[str, float] | None, PlainValidator(
        _class_weight, json_schema_input_type=Literal["balanced"] | dict[str, NonNegativeFloat] | None)] = None
    """null, balanced (rows / (classes * rows of the class)), or a weight per class label."""


class RawConfig(Section):
    """The top level as written; layers, loss, metrics, optimizer and schedule are resolved afterwards."""

    name: RunName | None = None
    """The run name; default: the config file's stem."""
    seed: NonNegativeInt = 0
    """One seed drives init, shuffling, dropout and the validation split."""
    dtype: Literal["float32", "float64"] = "float32"
    """The floating-point type of the network."""
    task: Literal["auto", "classification", "regression"] = "auto"
    """Auto: from the loss."""
    data: Annotated[DataConfig | None, BeforeValidator(_mapping_if_null)] = None
    """Where the data is and how to read it (required to train from files; fit_arrays takes arrays instead)."""
    layers: Any
    loss: Any = None
    metrics: Any = None
    optimizer: Any = None
    schedule: Any = None
    regularization: Annotated[Regularization, BeforeValidator(_mapping_if_null)] = Regularization()
    """Penalties on the weight matrices."""
    training: Annotated[Training, BeforeValidator(_mapping_if_null)] = Training()
    """How long and in which batches to train."""


class Config(Section):
    """A validated config with every default filled in. Build it with `load_config` or `parse_config`."""

    name: RunName
    seed: NonNegativeInt = 0
    dtype: Literal["float32", "float64"] = "float32"
    task: Literal["classification", "regression"]
    data: DataConfig | None = None  # required to train from files (build.load_data), not by fit_arrays
    layers: list[LayerConfig]
    loss: LossConfig
    metrics: list[str]
    optimizer: OptimizerConfig
    schedule: ScheduleConfig = sections(_FOUND.schedules)["constant"](type="constant")
    regularization: Regularization = Regularization()
    training: Training = Training()

    _source: str | None = PrivateAttr(None)
    _locations: Any = PrivateAttr(None)  # nncli.config.locations.Locations of the text it was read from

    def __eq__(self, other: object) -> bool:
        # fields only: where the values were written (a private attribute) does not make configs differ
        if not isinstance(other, Config):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # holds lists

    def layer_specs(self) -> list[dict[str, Any]]:
        """The layers as plain `{type, name, inputs, **parameters}` mappings, the form the core builds from."""
        return [layer.to_dict() for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data (paths as strings), ready for JSON or YAML."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The resolved config as YAML; `parse_config` of it gives an equal Config."""
        from nncli.config.yamlio import Flow, FlowList, dump_yaml

        data = self.to_dict()
        data["layers"] = [Flow(layer) for layer in data["layers"]]
        for key in ("loss", "optimizer", "schedule"):
            data[key] = Flow(data[key])
        data["metrics"] = FlowList(data["metrics"])
        if data["training"]["early_stopping"] is not None:
            data["training"]["early_stopping"] = Flow(data["training"]["early_stopping"])
        return dump_yaml(data)
