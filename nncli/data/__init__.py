"""CSV to arrays: reading, preprocessing fitted on the training split only, and the validation split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nncli.data.preprocess import Preprocessor
from nncli.data.reading import read_table, sniff_delimiter
from nncli.data.split import split_indices
from nncli.errors import DataError

__all__ = ["Datasets", "Preprocessor", "Split", "load_datasets", "read_table", "sniff_delimiter", "split_indices",
           "target_encoding_for"]

CROSSENTROPY_ENCODINGS = {"binary_crossentropy": "binary", "categorical_crossentropy": "onehot"}


@dataclass(frozen=True)
class Split:
    """One part of the data as arrays; `frame_rows` holds each row's label in its CSV (file line - 2)."""

    features: np.ndarray
    targets: np.ndarray
    frame_rows: np.ndarray

    @property
    def rows(self) -> int:
        """Number of rows."""
        return self.features.shape[0]


@dataclass
class Datasets:
    """Training, validation and test arrays, and the preprocessor fitted on the training rows."""

    train: Split
    valid: Split | None
    test: Split | None
    preprocessor: Preprocessor


def resolve_task(task: str, loss: str) -> str:
    """`auto` means classification for the cross-entropy losses and regression otherwise."""
    if task == "auto":
        return "classification" if loss in CROSSENTROPY_ENCODINGS else "regression"
    return task


def target_encoding_for(task: str, loss: str, output_units: int | None = None) -> str:
    """How targets are laid out for this loss: "binary", "onehot" or "values".

    A regression loss on class targets (XOR with mse) gets a 0/1 column for a one-unit output, else one-hot.
    """
    if task == "regression":
        return "values"
    if loss in CROSSENTROPY_ENCODINGS:
        return CROSSENTROPY_ENCODINGS[loss]
    return "binary" if output_units == 1 else "onehot"


def load_datasets(config: Any, rng: np.random.Generator) -> Datasets:
    """Read the config's CSV files, hold out the validation rows (first use of `rng`), fit and apply preprocessing."""
    data = config.data
    dtype = np.dtype(config.dtype)
    loss = config.loss["type"]
    task = resolve_task(config.task, loss)
    encoding = target_encoding_for(task, loss, config.layers[-1].get("units"))
    targets = [data.target] if isinstance(data.target, str) else list(data.target)
    train_name = _display(data.train)
    frame = read_table(Path(data.train), data.delimiter, display_path=train_name)
    held_out = None
    if isinstance(data.valid, (int, float)) and not isinstance(data.valid, bool):
        labels = None
        if task == "classification" and targets[0] in frame.columns:
            labels = frame[targets[0]].to_numpy()
        train_rows, held_out = split_indices(len(frame), float(data.valid), rng, labels, source=train_name)
    else:
        train_rows = None
    preprocessor, prepared = Preprocessor.fit_prepare(
        frame, target=targets, features=data.features, categorical=data.categorical, scale=data.scale,
        missing=data.missing, task=task, target_encoding=encoding, source=train_name, rows=train_rows)
    train = _arrays(preprocessor, prepared, dtype)
    if held_out is not None:
        valid = _load_part(preprocessor, frame, train_name, dtype, held_out)
    else:
        valid = _read_part(preprocessor, data.valid, data.delimiter, dtype)
    test = _read_part(preprocessor, getattr(data, "test", None), data.delimiter, dtype)
    return Datasets(train, valid, test, preprocessor)


def _read_part(preprocessor: Preprocessor, path: Any, delimiter: str, dtype: np.dtype) -> Split | None:
    if path is None:
        return None
    name = _display(path)
    return _load_part(preprocessor, read_table(Path(path), delimiter, display_path=name), name, dtype)


def _load_part(preprocessor: Preprocessor, frame: pd.DataFrame, name: str, dtype: np.dtype,
               rows: np.ndarray | None = None) -> Split:
    prepared = preprocessor.prepare(frame, source=name, require_target=True, rows=rows)
    if prepared.empty:
        raise DataError("no rows left after dropping the rows with missing cells", file=name)
    return _arrays(preprocessor, prepared, dtype)


def _arrays(preprocessor: Preprocessor, prepared: pd.DataFrame, dtype: np.dtype) -> Split:
    return Split(preprocessor.features(prepared, dtype), preprocessor.targets(prepared, dtype),
                 np.asarray(prepared.index, dtype=np.int64))


def _display(path: Any) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)
