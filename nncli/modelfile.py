"""model.npz: save, load and validate a trained model (the network, its preprocessing and its config).

A model file may come from anyone. Loading reads the small `meta.` arrays first, builds the network their
architecture describes (after checking it is no larger than the file's arrays), compares every `layers.`
array's declared shape and dtype with it before reading any weights, then checks every value. A damaged model
is a ModelFileError `FILE: KEY: what is wrong and what was expected`, never silent nonsense.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nncli import runs
from nncli.build import build_model
from nncli.data import Preprocessor
from nncli.data.cells import line_of
from nncli.data.checks import skipped_text
from nncli.errors import DataError, ModelFileError
from nncli.metrics import classification_report, compute_metrics, regression_report
from nncli.modelmeta import check_preprocessing, check_target_scale
from nncli.nn.errors import CoreError
from nncli.nn.graph import DATA_INPUT, GRAPH_KEYS
from nncli.nn.layers import LAYERS
from nncli.nn.losses import LOSSES, Loss
from nncli.nn.model import Model
from nncli.nn.targetscale import scaled_loss
from nncli.npz import NpzFile
from nncli.split import Split

META_MAX_BYTES = 64 << 20  # per meta array: JSON documents, names and vocabularies
BUILD_SLACK = 1 << 20  # parameters the architecture may need beyond what the file holds (bias-free layers)
NETWORK_KEYS = ("meta.config", "meta.architecture", "meta.input_width", "meta.dtype")
DTYPES = ("float32", "float64")
DETAIL_KEYS = ("per_class", "per_target", "confusion_matrix")  # an evaluation's tables, after its numbers


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

    def predict_arrays(self, features: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """The model's outputs for a feature matrix or named inputs (see `Model.predict`)."""
        return self.model.predict(features)

    def predict_frame(self, frame: pd.DataFrame, source: str = "<data>",
                      keep: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predictions for a table aligned by column name; the target column may be absent.

        `keep` (columns of the same rows, such as an id) is copied in front of the predictions.
        `attrs["warnings"]` of the result lists what the user should hear (one line each, e.g. categories unseen
        in training that `unknown_category: ignore` encoded as zeros).
        """
        prepared = self.preprocessor.prepare_rows(frame, source=source, require_target=False)
        outputs = self.model.predict(self.preprocessor.inputs(prepared.frame, self.model.dtype))
        check_finite(outputs, prepared.frame.index, source)
        predictions = self.preprocessor.decode(outputs)
        if keep is not None:
            clashes = [name for name in keep.columns if name in predictions.columns]
            if clashes:
                raise DataError(f"column {clashes[0]!r} is also a column of the predictions "
                                f"({', '.join(map(str, predictions.columns))}); keep other columns", file=source,
                                field="--keep")
            kept = keep.loc[prepared.frame.index].reset_index(drop=True)
            predictions = pd.concat([kept, predictions.reset_index(drop=True)], axis=1)
        predictions.attrs["warnings"] = prepared.warnings
        return predictions

    def evaluate_frame(self, frame: pd.DataFrame, source: str = "<data>") -> dict[str, Any]:
        """Loss, the task's metrics and every metric the config names, on the rows that can be scored.

        `rows` counts the rows scored and `rows_skipped` the others by why: `missing_target` (rows whose target
        is missing) and `missing_features` (rows with missing feature cells under `missing: drop`); `warnings`
        as in `predict_frame`.
        """
        prepared = self.preprocessor.prepare_rows(frame, source=source, require_target=True)
        skipped = prepared.skipped_counts
        if prepared.frame.empty:
            raise DataError(f"no rows to score: {len(frame)} rows, all skipped ({skipped_text(skipped)})",
                            file=source)
        split = Split(self.preprocessor.features(prepared.frame, self.model.dtype),
                      self.preprocessor.targets(prepared.frame, self.model.dtype),
                      indices=self.preprocessor.indices(prepared.frame))
        outputs = self.model.predict(split.inputs())
        check_finite(outputs, prepared.frame.index, source)
        report: dict[str, Any] = {"loss": scaled_loss(self.loss, self.model.target_scale, outputs, split.targets)}
        if self.task == "classification":
            report.update(classification_report(split.targets, outputs, [str(c) for c in self.preprocessor.classes]))
        else:
            report.update(regression_report(split.targets, outputs, list(self.preprocessor.target_names)))
        details = {key: report.pop(key) for key in DETAIL_KEYS if key in report}
        for name in self.config.get("metrics") or []:
            if name not in report:
                report[name] = compute_metrics([name], split.targets, outputs)[name]
        return {**report, "rows": int(split.rows), "rows_skipped": skipped, **details, "warnings": prepared.warnings}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of model.npz (SPEC: `layers.<i>.<name>` and `meta.<name>`)."""
        arrays = dict(self.model.state_dict())
        arrays.update({f"meta.{key}": value for key, value in self.preprocessor.to_arrays().items()})
        arrays["meta.config"] = runs.json_array(self.config)
        arrays["meta.architecture"] = runs.json_array(self.model.specs)
        arrays["meta.input_width"] = np.array(self.model.input_width)
        arrays["meta.dtype"] = np.array(self.model.dtype.name)
        arrays["meta.versions"] = runs.json_array(runs.versions())
        if self.model.target_scale is not None:
            arrays["meta.target_offset"] = self.model.target_scale.offset.copy()
            arrays["meta.target_divisor"] = self.model.target_scale.divisor.copy()
        return arrays

    def save(self, path: Path) -> None:
        """Write model.npz atomically."""
        runs.write_arrays(Path(path), self.to_arrays())


def check_finite(outputs: np.ndarray, index: pd.Index, source: str) -> None:
    """Finite weights can still overflow on far-out inputs: a row without a finite output is an error at its line,
    not a blank."""
    finite = np.isfinite(outputs).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise DataError("the network's output for this row is not a finite number (it overflowed): its features are "
                        "far outside what the model learned from, or the model's weights are damaged", file=source,
                        line=line_of(index, row))


def load_model(path: str | Path) -> TrainedModel:
    """A model from a run directory or a model.npz file, checked completely before it is used."""
    file = runs.model_path(Path(path))
    if Path(path).is_dir() and not file.exists() and (Path(path) / runs.CHECKPOINT_FILE).is_file():
        raise ModelFileError("no model.npz: the run was interrupted before it finished; finish it with "
                             f"nncli train CONFIG --out {path} --resume", file=str(path))
    with NpzFile(file, str(file)) as archive:
        for key in archive.members:
            if not key.startswith(("meta.", "layers.")):
                raise archive.error(key, "is not an array of an nncli model (they are named layers.* and meta.*)")
        meta = _read_meta(archive)
        config, loss = _config_and_loss(archive, meta)
        model = _build_network(archive, meta, _embedding_categories(archive, meta))
        _load_weights(archive, model)
    meta_arrays = {key[5:]: value for key, value in meta.items()}
    preprocessor = check_preprocessing(meta_arrays, model, config["task"],
                                       lambda key, message: archive.error(f"meta.{key}", message))
    model.target_scale = check_target_scale(meta_arrays, model, config["task"],
                                            lambda key, message: archive.error(f"meta.{key}", message))
    return TrainedModel(model, preprocessor, config, loss)


def _read_meta(archive: NpzFile) -> dict[str, np.ndarray]:
    for key in NETWORK_KEYS:
        if key not in archive.members:
            raise archive.error(key, "is missing: the file is not an nncli model or is damaged")
    meta = {}
    for key, member in archive.members.items():
        if key.startswith("meta."):
            if member.nbytes > META_MAX_BYTES:
                raise archive.error(key, f"holds {member.nbytes} bytes; nncli's meta arrays are at most "
                                         f"{META_MAX_BYTES >> 20} MiB")
            meta[key] = archive.read(key)
    return meta


def _json_member(archive: NpzFile, key: str, array: np.ndarray, kind: type) -> Any:
    """The JSON document of a 0-d text array, which must decode to a `kind` (dict or list)."""
    if array.dtype.kind != "U" or array.shape != ():
        raise archive.error(key, f"is a {array.dtype} array of shape {array.shape}; expected a JSON text")
    try:
        value = runs.from_json_array(array)
    except (ValueError, RecursionError) as error:
        raise archive.error(key, f"is not valid JSON ({error})") from None
    if not isinstance(value, kind):
        raise archive.error(key, f"is JSON of a {type(value).__name__}; expected a {kind.__name__}")
    return value


def _config_and_loss(archive: NpzFile, meta: dict[str, np.ndarray]) -> tuple[dict[str, Any], Loss]:
    config = _json_member(archive, "meta.config", meta["meta.config"], dict)
    try:
        loss = LOSSES.get(config["loss"]["type"]).from_config(config["loss"])
        if config["task"] not in ("classification", "regression"):
            raise ValueError(f"unknown task {config['task']!r}")
    except Exception as error:  # whatever fails, the file's config is to blame
        message = " ".join(f"{type(error).__name__}: {error}".split())
        raise archive.error("meta.config", f"is not the config of a trained model ({message})") from None
    return config, loss


def _embedding_categories(archive: NpzFile, meta: dict[str, np.ndarray]) -> dict[str, int]:
    """Each embedded column's number of categories, from its vocabulary in meta (checked again, with the rest of
    the preprocessing, once the network is built)."""
    embedded = meta.get("meta.embedded")
    if embedded is None:
        return {}
    if embedded.dtype.kind != "U" or embedded.ndim != 1:
        raise archive.error("meta.embedded", f"is a {embedded.dtype} array of shape {embedded.shape}; expected a "
                                             "list of column names")
    impute = str(meta.get("meta.missing", "")) == "impute"
    categories = {}
    for name in map(str, embedded):
        vocabulary = meta.get(f"meta.categories.{name}")
        if vocabulary is None or vocabulary.ndim != 1:
            raise archive.error("meta.embedded", f"names {name!r}, which has no vocabulary "
                                                 f"(meta.categories.{name}); an embedded column is categorical")
        categories[name] = len(vocabulary) + impute  # as `nncli.data.encoding.embedding_categories`
    return categories


def _build_network(archive: NpzFile, meta: dict[str, np.ndarray], categories: dict[str, int]) -> Model:
    """The network of meta.architecture, once its size is known to fit the file's `layers.` arrays."""
    dtype = meta["meta.dtype"]
    if dtype.dtype.kind != "U" or dtype.shape != () or str(dtype) not in DTYPES:
        raise archive.error("meta.dtype", f"is {dtype!r}; expected one of {', '.join(DTYPES)}")
    width = meta["meta.input_width"]
    if width.dtype.kind not in "iu" or width.shape != () or int(width) < (0 if categories else 1):
        raise archive.error("meta.input_width", f"is {width!r}; expected a positive integer")
    specs = _json_member(archive, "meta.architecture", meta["meta.architecture"], list)
    itemsize = np.dtype(str(dtype)).itemsize
    stored = sum(member.nbytes for key, member in archive.members.items() if key.startswith("layers."))
    limit = 2 * stored // itemsize + BUILD_SLACK
    try:
        needed = parameter_bound(specs, int(width), limit, categories)
        if needed > limit:
            raise archive.error("meta.architecture", f"describes a network of at least {needed} parameters but "
                                                     f"the file's layers arrays hold {stored} bytes: the file is "
                                                     "damaged")
        return build_model(specs, int(width), str(dtype), np.random.default_rng(0), categories)
    except ModelFileError:
        raise
    except Exception as error:  # whatever fails, the file's architecture is to blame
        message = " ".join(f"{type(error).__name__}: {error}".split())
        raise archive.error("meta.architecture", f"does not describe a network nncli can build ({message})") from None


def parameter_bound(specs: list[dict[str, Any]], input_width: int, limit: int,
                    categories: dict[str, int] | None = None) -> int:
    """The number of parameters the network of `specs` holds, or more, found without allocating them.

    A layer with `units` (dense) holds at most (inputs + 1) × units parameters and is not built here. Any other
    layer (merge layers, dropout, batchnorm) holds at most 4 parameters per input, so once that fits under
    `limit` it is built to learn its exact output width. An embedding holds (categories + 1) × dim. Stops as
    soon as the count passes `limit`.
    """
    widths = {DATA_INPUT: input_width}
    previous, total = DATA_INPUT, 0
    for index, spec in enumerate(specs):
        input_widths = [widths[name] for name in spec.get("inputs", [previous])]
        if spec.get("type") == "embedding":
            dim, rows = spec.get("dim"), (categories or {}).get(str(spec.get("column")), 0) + 1
            if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
                raise ValueError(f"layer {index}: dim must be a positive integer, got {dim!r}")
            width, total = dim, total + rows * dim
        elif "units" in spec:
            units = spec["units"]
            if not isinstance(units, int) or isinstance(units, bool) or units < 1:
                raise ValueError(f"layer {index}: units must be a positive integer, got {units!r}")
            width, total = units, total + (sum(input_widths) + 1) * units
        elif total + 4 * sum(input_widths) > limit:
            return total + 4 * sum(input_widths)
        else:
            layer = LAYERS.get(spec["type"]).from_config({k: v for k, v in spec.items() if k not in GRAPH_KEYS})
            width = layer.build(input_widths, np.random.default_rng(0), np.dtype(np.float32))
            total += sum(param.size for param in layer.params.values())
        if total > limit:
            return total
        previous = spec.get("name", f"{spec['type']}_{index}")
        widths[previous] = width
    return total


def _load_weights(archive: NpzFile, model: Model) -> None:
    """Every `layers.` array: shape and dtype from its header first, then its values, into the model."""
    expected = model.state_dict()
    for key in archive.members:
        if key.startswith("layers.") and key not in expected:
            raise archive.error(key, "is not part of the network meta.architecture describes (expected "
                                     f"{_listing(expected)})")
    arrays = {}
    for key, target in expected.items():
        member = archive.members.get(key)
        if member is None:
            raise archive.error(key, "is missing: the network meta.architecture describes needs it")
        if member.shape != target.shape:
            raise archive.error(key, f"has shape {member.shape}; the architecture needs {target.shape}")
        if member.dtype.kind != "f" or member.dtype.itemsize != model.dtype.itemsize:
            raise archive.error(key, f"holds {_kind_name(member.dtype)} ({member.dtype}); expected {model.dtype}, "
                                     "the model's dtype")
        value = archive.read(key)
        bad = int(np.count_nonzero(~np.isfinite(value)))
        if bad:
            raise archive.error(key, f"holds {bad} non-finite value{'s' if bad > 1 else ''} (NaN or infinity); "
                                     "a trained model's arrays are finite")
        arrays[key] = value
    try:
        model.load_state_dict(arrays)
    except CoreError as error:
        raise ModelFileError(error.message, file=archive.name) from None


def _kind_name(dtype: np.dtype) -> str:
    return {"b": "booleans", "i": "integers", "u": "integers", "c": "complex numbers", "U": "text",
            "f": "floats"}.get(dtype.kind, "values")


def _listing(keys: Any, limit: int = 8) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "") if keys else "none"


