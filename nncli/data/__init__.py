"""CSV to arrays: reading, preprocessing fitted on the training split only, and the validation split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nncli.data import cache
from nncli.data.checks import SKIP_REASONS, MissingColumn, PreparedRows, nothing_left, require_columns
from nncli.data.holdout import fold_numbers, split_indices
from nncli.data.preprocess import Preprocessor
from nncli.data.reading import read_table, sniff_delimiter
from nncli.data.weights import sample_weights
from nncli.errors import DataError
from nncli.split import Split

__all__ = ["SKIP_REASONS", "Datasets", "FoldRows", "MissingColumn", "PreparedRows", "Preprocessor", "Split",
           "load_datasets", "read_table", "sniff_delimiter", "split_indices", "target_encoding_for", "training_folds"]

CROSSENTROPY_ENCODINGS = {"binary_crossentropy": "binary", "categorical_crossentropy": "onehot"}
# Raised whenever preparing data refuses more than before: datasets cached by an older nncli then miss the cache.
# 2: numbers too large for the run's dtype.
_CHECKS = 2


@dataclass
class Datasets:
    """Training, validation and test arrays, and the preprocessor fitted on the training rows.

    `rows_skipped` counts, per part present (`train`, `valid`, `test`), the rows left out for each reason in
    SKIP_REASONS: `{"train": {"missing_target": 12, "missing_features": 0}, ...}`. `warnings` are one line each
    for the user (columns that look like a saved index or an ID, categories unseen in training that were ignored).
    """

    train: Split
    valid: Split | None
    test: Split | None
    preprocessor: Preprocessor
    rows_skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def target_encoding_for(task: str, loss: str, output_units: int | None = None) -> str:
    """How targets are laid out for this loss: "binary", "onehot" or "values".

    A regression loss on class targets (XOR with mse) gets a 0/1 column for a one-unit output, else one-hot.
    """
    if task == "regression":
        return "values"
    if loss in CROSSENTROPY_ENCODINGS:
        return CROSSENTROPY_ENCODINGS[loss]
    return "binary" if output_units == 1 else "onehot"


@dataclass(frozen=True)
class FoldRows:
    """One cross-validation fold: positions (0-based, in file order) of the training file's rows that train and
    of those that test."""

    train: np.ndarray
    test: np.ndarray


def training_folds(data: Any, folds: int, rng: np.random.Generator, *, task: str, dtype: Any) -> list[FoldRows]:
    """`folds` folds of the training file's rows, shuffled by `rng`, stratified by the (first) target's class
    for classification; fold k tests on its rows and trains on the others."""
    targets = [data.target] if isinstance(data.target, str) else list(data.target)
    name = _display(data.train)
    frame = read_table(Path(data.train), data.delimiter, display_path=name, numbers=np.dtype(dtype),
                       exact=targets, na_values=_cell_settings(data)["na_values"],
                       text=targets if task == "classification" else [])
    if len(frame) < folds:
        raise DataError(f"{len(frame)} rows cannot make {folds} folds: every fold needs at least one row",
                        file=name)
    labels = frame[targets[0]].to_numpy() if task == "classification" and targets[0] in frame.columns else None
    numbers = fold_numbers(len(frame), folds, rng, labels)
    return [FoldRows(np.flatnonzero(numbers != k), np.flatnonzero(numbers == k)) for k in range(folds)]


CELL_SETTINGS = {"na_values": [], "missing_target": "drop", "unknown_category": "error", "min_frequency": 1}
_NO_WEIGHT = None  # the column of sample weights, for a settings object from the Python API that has none


def _cell_settings(data: Any) -> dict[str, Any]:
    """The data settings on missing markers, missing targets and categories (their defaults where a settings
    object from the Python API lacks them)."""
    return {name: getattr(data, name, default) for name, default in CELL_SETTINGS.items()}


def load_datasets(data: Any, rng: np.random.Generator, *, task: str, encoding: str, dtype: Any,
                  rows: FoldRows | None = None, embedded: Sequence[str] = ()) -> Datasets:
    """Read the CSV files of the config's `data` section, hold out the validation rows (first use of `rng`), fit
    and apply preprocessing: targets laid out as `encoding` (see `target_encoding_for`), arrays in `dtype`.

    The result is cached (in the user's cache directory, see `nncli.data.cache`): a second call with the same
    files, data settings and `rng` state loads it, and leaves `rng` in the state the split would have. A column
    the settings name that a file lacks is a `MissingColumn` naming it.

    With `rows` (a cross-validation fold), only the rows at `rows.train` of the training file train (the
    validation part taken from them as configured) and the rows at `rows.test` are the test part, in place of
    `data.test`; nothing is cached. The `embedded` columns (categorical features an embedding layer takes) come
    as index arrays (`Split.indices`) instead of one-hot blocks.
    """
    dtype = np.dtype(dtype)
    targets = [data.target] if isinstance(data.target, str) else list(data.target)
    weight = getattr(data, "weight", _NO_WEIGHT)
    fraction = isinstance(data.valid, (int, float)) and not isinstance(data.valid, bool)
    stored = None if rows is not None else _cache_key(data, dtype, rng, task, encoding, targets, fraction,
                                                      list(embedded))
    if stored is not None:
        found = _load_cached(*stored, rng)
        if found is not None:
            return found
    # Numeric features may be parsed straight to the network's dtype: the table is what memory peaks on.
    # Class labels are read as text, so they come back as the file writes them.
    exact = targets + ([] if isinstance(data.categorical, str) else list(data.categorical))
    cells = _cell_settings(data)
    reading = {"numbers": dtype, "exact": exact, "na_values": cells["na_values"],
               "text": targets if task == "classification" else []}
    train_name = _display(data.train)
    frame = read_table(Path(data.train), data.delimiter, display_path=train_name, **reading)
    valid_frame = test_frame = None
    if rows is not None:
        columns, index = _columns(frame)
        del frame
        frame, test_frame = _take_rows(columns, index, [rows.train, rows.test])
    if fraction:
        labels = None
        if task == "classification" and targets[0] in frame.columns:
            labels = frame[targets[0]].to_numpy()
        train_rows, held_out = split_indices(len(frame), float(data.valid), rng, labels, source=train_name)
        columns, index = _columns(frame)
        del frame  # the table now lives in `columns` only, which the split empties as the parts fill
        frame, valid_frame = _take_rows(columns, index, [train_rows, held_out])
    preprocessor, prepared = Preprocessor.fit_rows(
        frame, target=targets, features=data.features, categorical=data.categorical, scale=data.scale,
        missing=data.missing, task=task, target_encoding=encoding, source=train_name, dtype=dtype,
        exclude=[] if weight is None else [weight], embedded=embedded, **cells)
    weight_column = None if weight is None else frame[weight]
    del frame  # `prepared` shares its numeric columns; nothing else keeps the table alive
    parts: dict[str, _Part | None] = {"train": _part(preprocessor, prepared, dtype, weight_column, train_name)}
    del prepared, weight_column
    if valid_frame is not None:
        parts["valid"] = _load_part(preprocessor, valid_frame, train_name, dtype, weight)
    else:
        parts["valid"] = _read_part(preprocessor, None if fraction else data.valid, "data.valid", data.delimiter,
                                    dtype, reading, weight)
    # the test split (a cv fold, or data.test) scores the model as `nncli eval` does: unweighted
    if test_frame is not None:
        parts["test"] = _load_part(preprocessor, test_frame, train_name, dtype, None)
    else:
        parts["test"] = _read_part(preprocessor, getattr(data, "test", None), "data.test", data.delimiter, dtype,
                                   reading, None)
    present = {name: part for name, part in parts.items() if part is not None}
    splits = {name: part.split for name, part in present.items()}
    datasets = Datasets(splits["train"], splits.get("valid"), splits.get("test"), preprocessor,
                        {name: part.skipped for name, part in present.items()},
                        [warning for part in present.values() for warning in part.warnings])
    if stored is not None:
        _store_cached(*stored, datasets, rng)
    return datasets


def _columns(frame: pd.DataFrame) -> tuple[dict[str, Any], pd.Index]:
    """The frame's columns as arrays, without copies, and its index."""
    return {name: column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
            for name, column in frame.items()}, frame.index


def _take_rows(columns: dict[str, Any], index: pd.Index, parts: list[np.ndarray]) -> list[pd.DataFrame]:
    """The rows at each of `parts` (positions) as frames; `columns` is emptied on the way, so each column's
    memory goes back as soon as its parts are taken (the table never exists twice)."""
    taken: list[dict[str, Any]] = [{} for _ in parts]
    for name in list(columns):
        values = columns.pop(name)
        for part, rows in zip(taken, parts, strict=False):
            part[name] = values[rows] if isinstance(values, np.ndarray) else values.take(rows)
    return [pd.DataFrame(part, index=index[rows], copy=False) for part, rows in zip(taken, parts, strict=False)]


def _cache_key(data: Any, dtype: np.dtype, rng: np.random.Generator, task: str, encoding: str,
               targets: list[str], fraction: bool, embedded: list[str]) -> tuple[Path, dict[str, Any]] | None:
    """Where the prepared datasets are cached and what they depend on; None when they are not cached."""
    target = cache.cache_path(Path(data.train), "datasets")
    if target is None:
        return None
    files: dict[str, Any] = {"valid": data.valid if fraction else None}
    for part in ("train", "valid", "test"):
        path = getattr(data, part, None)
        if path is not None and not (part == "valid" and fraction):
            if not Path(path).is_file():
                return None  # a pipe or device: reading it for a key would consume it
            files[part] = cache.file_key(Path(path))
            if files[part] is None:
                return None
    key = {"files": files, "delimiter": data.delimiter, "missing": data.missing, "target": targets,
           "features": data.features, "categorical": data.categorical, "scale": data.scale, **_cell_settings(data),
           "dtype": dtype.name, "task": task, "encoding": encoding, "weight": getattr(data, "weight", _NO_WEIGHT),
           "rng": rng.bit_generator.state if fraction else None,  # the split draws from `rng`
           "checks": _CHECKS, "embedded": embedded}
    return target, key


def _load_cached(target: Path, key: dict[str, Any], rng: np.random.Generator) -> Datasets | None:
    found = cache.load(target, key)
    if found is None:
        return None
    arrays, meta = found
    try:
        preprocessor = Preprocessor.from_arrays({name[4:]: value for name, value in arrays.items()
                                                 if name.startswith("pre.")})
        parts = {part: None if part not in meta["parts"] else Split(
            arrays[f"{part}.features"], arrays[f"{part}.targets"],
            arrays[f"{part}.rows"] if f"{part}.rows" in arrays else np.arange(*meta["rows"][part], dtype=np.int64),
            arrays.get(f"{part}.weights"),
            {name: arrays[f"{part}.index.{name}"] for name in preprocessor.embedded})
            for part in ("train", "valid", "test")}
        train = parts["train"]
        if train is None:  # every stored entry has its training part: this one is damaged
            return None
        skipped, warnings = meta["rows_skipped"], [str(line) for line in meta["warnings"]]
        if meta["rng"] is not None:
            rng.bit_generator.state = meta["rng"]
    except (KeyError, ValueError, TypeError):
        return None
    return Datasets(train, parts["valid"], parts["test"], preprocessor, skipped, warnings)


def _store_cached(target: Path, key: dict[str, Any], datasets: Datasets, rng: np.random.Generator) -> None:
    if any(cache.file_key(Path(file["path"])) != file for file in key["files"].values() if isinstance(file, dict)):
        return  # a file changed while it was read
    arrays = {f"pre.{name}": value for name, value in datasets.preprocessor.to_arrays().items()}
    parts = {"train": datasets.train, "valid": datasets.valid, "test": datasets.test}
    rows: dict[str, list[int]] = {}  # consecutive file rows (the usual case) as [start, stop]
    for part, split in parts.items():
        if split is None:
            continue
        arrays.update({f"{part}.features": split.features, f"{part}.targets": split.targets})
        arrays.update({f"{part}.index.{name}": index for name, index in split.indices.items()})
        if split.weights is not None:
            arrays[f"{part}.weights"] = split.weights
        labels = split.frame_rows
        assert labels is not None, "the parts of load_datasets know their file rows"
        if len(labels) and np.array_equal(labels, np.arange(labels[0], labels[0] + len(labels))):
            rows[part] = [int(labels[0]), int(labels[0]) + len(labels)]
        else:
            arrays[f"{part}.rows"] = labels
    meta = {"parts": [part for part, split in parts.items() if split is not None], "rows": rows,
            "rng": rng.bit_generator.state if key["rng"] is not None else None,
            "rows_skipped": datasets.rows_skipped, "warnings": datasets.warnings}
    cache.store(target, key, arrays, meta, background=True)


def _read_part(preprocessor: Preprocessor, path: Any, field_name: str, delimiter: str, dtype: np.dtype,
               reading: dict[str, Any], weight: str | None) -> _Part | None:
    if path is None:
        return None
    name = _display(path)
    try:
        frame = read_table(Path(path), delimiter, display_path=name, **reading)
    except DataError as error:
        if error.line is None and error.field is None:  # about the file as a whole: say which setting names it
            error.field = field_name
        raise
    return _load_part(preprocessor, frame, name, dtype, weight)


@dataclass
class _Part:
    """One part's arrays, its skipped-row counts and its warnings."""

    split: Split
    skipped: dict[str, int]
    warnings: list[str]


def _part(preprocessor: Preprocessor, prepared: PreparedRows, dtype: np.dtype, weight_column: pd.Series | None,
          source: str) -> _Part:
    split = _arrays(preprocessor, prepared.frame, dtype)
    if weight_column is not None:
        assert split.frame_rows is not None, "_arrays gives the file rows"
        split = replace(split, weights=sample_weights(weight_column, split.frame_rows, source, dtype))
    return _Part(split, prepared.skipped_counts, prepared.warnings)


def _load_part(preprocessor: Preprocessor, frame: pd.DataFrame, name: str, dtype: np.dtype,
               weight: str | None) -> _Part:
    if weight is not None:
        require_columns(frame, [weight], name)
    prepared = preprocessor.prepare_rows(frame, source=name, require_target=True)
    if prepared.frame.empty:
        raise DataError(nothing_left(prepared.skipped), file=name)
    return _part(preprocessor, prepared, dtype, None if weight is None else frame[weight], name)


def _arrays(preprocessor: Preprocessor, prepared: pd.DataFrame, dtype: np.dtype) -> Split:
    return Split(preprocessor.features(prepared, dtype), preprocessor.targets(prepared, dtype),
                 np.asarray(prepared.index, dtype=np.int64), indices=preprocessor.indices(prepared))


def _display(path: Any) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) if path.is_absolute() else str(path)
    except (ValueError, OSError, RuntimeError):  # outside it, a symlink loop (RuntimeError), no working directory
        return str(path)
