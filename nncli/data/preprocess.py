"""Preprocessing fitted on the training split and saved with the model: checks, imputation, scaling, one-hot.

Inputs are laid out feature by feature in `feature_names` order: a numeric feature is one scaled column, a
categorical one is one column per training category (sorted), plus one for "missing" under `missing: impute`.
Numbers are first rounded to the network's dtype, then scaled in float64 with statistics taken from those
rounded values: so a table parsed straight to float32 and one parsed to float64 give the same inputs. A number
too large for that dtype (1e39 in float32) is refused, and so is a feature matrix larger than `feature_limit()`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from nncli.data.blocks import memory_quarter, worker_count
from nncli.data.cells import Factor, factor, format_values, label_values, line_of, size_text, sort_labels
from nncli.data.checks import (
    Cells,
    Factors,
    handle_missing,
    label_codes,
    read_cells,
    require_columns,
    resolve_categorical,
    resolve_features,
)
from nncli.errors import ConfigError, DataError

ENCODINGS = {"classification": ("binary", "onehot"), "regression": ("values",)}
SCALES = ("standard", "minmax", "none")
MISSING = ("error", "drop", "impute")
_BLOCK_ROWS = 8192
_PARALLEL_ROWS = 8 * _BLOCK_ROWS  # below this, starting threads costs more than it saves
# The largest feature matrix built, in bytes; None: a quarter of the machine's physical memory (4 GiB where the
# system does not say). A wide one-hot encoding past it is refused before any memory goes to it.
MAX_FEATURE_BYTES: int | None = None


def feature_limit() -> int:
    """The largest feature matrix, in bytes, that preparing data may build (see MAX_FEATURE_BYTES)."""
    return memory_quarter() if MAX_FEATURE_BYTES is None else MAX_FEATURE_BYTES


class Preprocessor:
    """Turns a table into network inputs and targets, and network outputs back into predictions."""

    def __init__(self, *, feature_names: Sequence[str], categories: Mapping[str, Sequence[str]],
                 impute_values: np.ndarray, offset: np.ndarray, divisor: np.ndarray, target_names: Sequence[str],
                 class_text: Sequence[str], classes_numeric: bool, task: str, target_encoding: str,
                 missing: str, scale: str, dtype: np.dtype | str = "float64"):
        if task not in ENCODINGS or target_encoding not in ENCODINGS[task]:
            raise ValueError(f"task {task!r} does not take target encoding {target_encoding!r}")
        if scale not in SCALES or missing not in MISSING:
            raise ValueError(f"unknown scale {scale!r} or missing policy {missing!r}")
        self.feature_names = list(feature_names)
        self.categories = {name: list(categories[name]) for name in self.feature_names if name in categories}
        self.impute_values = np.asarray(impute_values, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.divisor = np.asarray(divisor, dtype=np.float64)
        self.target_names = list(target_names)
        self.class_text = np.asarray(class_text, dtype=str)
        self.classes_numeric = bool(classes_numeric)
        self.classes = label_values(self.class_text, self.classes_numeric)
        self.task, self.target_encoding, self.missing, self.scale = task, target_encoding, missing, scale
        self.dtype = np.dtype(dtype)  # the network's: numbers must be finite in it
        self._layout()

    def _layout(self) -> None:
        extra = int(self.missing == "impute")
        self.input_names: list[str] = []
        self._numeric = [name for name in self.feature_names if name not in self.categories]
        numeric_positions, self._onehot = [], []
        for name in self.feature_names:
            if name in self.categories:
                width = len(self.categories[name]) + extra
                self._onehot.append((name, len(self.input_names), width))
                self.input_names += [f"{name}={value}" for value in self.categories[name]]
                self.input_names += [f"{name}=<missing>"] * extra
            else:
                numeric_positions.append(len(self.input_names))
                self.input_names.append(name)
        self.input_width = len(self.input_names)
        self._numeric_columns = [
            (name, slot, float(self.offset[position]), float(self.divisor[position]))
            for slot, name in zip(numeric_positions, self._numeric)
            for position in [self.feature_names.index(name)]]

    # ----- fitting

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, target: str | list[str], features: str | list[str],
            categorical: str | list[str], scale: str, missing: str, task: str, target_encoding: str,
            source: str, rows: np.ndarray | None = None, dtype: np.dtype | str = np.float64) -> Preprocessor:
        """Learn columns, categories, classes and statistics from the training frame (or its `rows`).

        `dtype` is the network's: the statistics are those of the numbers rounded to it, as `features` feeds them.
        """
        return cls.fit_prepare(frame, target=target, features=features, categorical=categorical, scale=scale,
                               missing=missing, task=task, target_encoding=target_encoding, source=source,
                               rows=rows, dtype=dtype)[0]

    @classmethod
    def fit_prepare(cls, frame: pd.DataFrame, *, target: str | list[str], features: str | list[str],
                    categorical: str | list[str], scale: str, missing: str, task: str, target_encoding: str,
                    source: str, rows: np.ndarray | None = None,
                    dtype: np.dtype | str = np.float64) -> tuple[Preprocessor, pd.DataFrame]:
        """`fit`, plus the training frame prepared by the fitted preprocessor (checked once, not twice)."""
        targets = [target] if isinstance(target, str) else list(target)
        if task == "classification" and len(targets) != 1:
            raise ConfigError(f"classification takes one target column, got {len(targets)}: "
                              f"{', '.join(targets)}", field="data.target")
        feature_names = resolve_features(frame, targets, features, source)
        factors: Factors = {}
        categorical_names = resolve_categorical(frame, feature_names, categorical, rows, factors)
        numeric = [name for name in feature_names if name not in categorical_names]
        labels = categorical_names + (targets if task == "classification" else [])
        numeric_targets = targets if task == "regression" else []
        cells, index = read_cells(frame, numeric + numeric_targets, labels, source, rows, numeric_targets, factors,
                                  dtype)
        cells, index = handle_missing(cells, index, missing, feature_names, targets, True, source)
        if not len(index):
            raise DataError("no rows left after dropping the rows with missing cells", file=source)
        categories = {name: _vocabulary(cells[name], name, source)[0] for name in categorical_names}
        impute, offset, divisor = _statistics(cells, feature_names, categories, scale, source, np.dtype(dtype))
        class_text, classes_numeric = np.array([], dtype=str), False
        if task == "classification":
            class_text, classes_numeric = _vocabulary(cells[targets[0]], targets[0], source)
            _check_classes(class_text, targets[0], target_encoding, source)
        fitted = cls(feature_names=feature_names, categories=categories, impute_values=impute, offset=offset,
                     divisor=divisor, target_names=targets, class_text=class_text, classes_numeric=classes_numeric,
                     task=task, target_encoding=target_encoding, missing=missing, scale=scale, dtype=dtype)
        fitted._check_size(len(index), source)
        return fitted, fitted._assemble(cells, index, source, with_targets=True)

    # ----- applying

    def prepare(self, frame: pd.DataFrame, *, source: str, require_target: bool,
                rows: np.ndarray | None = None) -> pd.DataFrame:
        """Check and clean a table (or its `rows`): used columns only, numbers as floats, known categories."""
        targets = self.target_names if require_target else []
        require_columns(frame, self.feature_names + targets, source)
        numeric_targets = targets if self.task == "regression" else []
        labels = list(self.categories) + (targets if self.task == "classification" else [])
        cells, index = read_cells(frame, self._numeric + numeric_targets, labels, source, rows, numeric_targets,
                                  dtype=self.dtype)
        cells, index = handle_missing(cells, index, self.missing, self.feature_names, targets,
                                      require_target, source)
        self._check_size(len(index), source)
        return self._assemble(cells, index, source, with_targets=require_target)

    def _check_size(self, rows: int, source: str) -> None:
        """Refuse, before it is built, a feature matrix over `feature_limit()` that a one-hot encoding widens."""
        needed, limit = rows * self.input_width * self.dtype.itemsize, feature_limit()
        if needed <= limit or not self._onehot:
            return
        name, _, width = max(self._onehot, key=lambda onehot: onehot[2])
        raise DataError(
            f"column {name!r}: one-hot encoding its {len(self.categories[name])} distinct values makes the feature "
            f"matrix {rows} rows x {self.input_width} columns ({width} of them for this column) of {self.dtype.name}: "
            f"{size_text(needed)}, over the limit of {size_text(limit)}; leave the column out by listing the other "
            "columns in data.features", file=source)

    def _assemble(self, cells: Cells, index: pd.Index, source: str, with_targets: bool) -> pd.DataFrame:
        columns: dict[str, object] = {}
        for position, name in enumerate(self.feature_names):
            cell = cells[name]
            if name in self.categories:
                columns[name] = self._categorical(cell, self.categories[name], name, index, source, "category")
            elif self.missing == "impute" and np.isnan(cell).any():
                columns[name] = np.where(np.isnan(cell), self.impute_values[position], cell)
            else:
                columns[name] = cell
        for name in self.target_names if with_targets else []:
            cell = cells[name]
            columns[name] = (self._categorical(cell, self.class_text, name, index, source, "class")
                             if self.task == "classification" else cell)
        return pd.DataFrame(columns, index=index, copy=False)

    @staticmethod
    def _categorical(cell: Factor, labels: Sequence[str], name: str, index: pd.Index, source: str,
                     kind: str) -> pd.Categorical:
        codes = label_codes(cell, np.asarray(labels, dtype=str), name, index, source, kind)
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(labels), dtype=object))

    def features(self, frame: pd.DataFrame, dtype: np.dtype | str) -> np.ndarray:
        """Network inputs (rows, input_width) from a prepared frame: numbers rounded to `dtype`, then scaled."""
        rows, dtype = len(frame), np.dtype(dtype)
        out = np.empty((rows, self.input_width), dtype=dtype)
        columns = [_floats(frame[name]) for name, *_ in self._numeric_columns]
        # Row ranges scale on worker threads (numpy lets go of the GIL in each call): 2x on two cores
        ranges = _row_ranges(rows, worker_count() if rows >= _PARALLEL_ROWS else 1)
        if len(ranges) == 1:
            self._scale_rows(columns, out, *ranges[0])
        else:
            with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
                for job in [pool.submit(self._scale_rows, columns, out, *span) for span in ranges]:
                    job.result()
        for name, start, width in self._onehot:
            block = out[:, start:start + width]
            block.fill(0)
            codes = np.asarray(frame[name].cat.codes, dtype=np.intp)
            block[np.arange(rows), np.where(codes < 0, width - 1, codes)] = 1
        return out

    def _scale_rows(self, columns: list[np.ndarray], out: np.ndarray, first: int, last: int) -> None:
        """The numeric features of rows first..last-1 into `out`."""
        dtype = out.dtype
        scaled = np.empty(min(last - first, _BLOCK_ROWS), dtype=np.float64)
        rounded = np.empty(min(last - first, _BLOCK_ROWS), dtype=dtype)
        # Row blocks keep the strided writes into `out` within the cache: 3x faster than whole columns.
        for start in range(first, last, _BLOCK_ROWS):
            stop = min(last, start + _BLOCK_ROWS)
            buffer = scaled[:stop - start]
            for values, (_, slot, offset, divisor) in zip(columns, self._numeric_columns):
                part = values[start:stop]
                if part.dtype.itemsize > dtype.itemsize:  # round to the network's dtype first
                    part = rounded[:stop - start]
                    np.copyto(part, values[start:stop], casting="same_kind")
                np.subtract(part, offset, out=buffer, dtype=np.float64)
                out[start:stop, slot] = np.divide(buffer, divisor, out=buffer)

    def class_indices(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's class position in `classes` (classification only)."""
        if self.task != "classification":
            raise ValueError("class indices exist for classification only")
        name = self.target_names[0]
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) and list(column.cat.categories) == list(self.class_text):
            codes = np.asarray(column.cat.codes, dtype=np.intp)
        else:
            codes = label_codes(factor(column), self.class_text, name, frame.index, None, "class")
        if (codes < 0).any():
            raise DataError(f"column {name!r}: missing class label",
                            line=line_of(frame.index, int(np.argmax(codes < 0))))
        return codes.astype(np.int64)

    def targets(self, frame: pd.DataFrame, dtype: np.dtype | str) -> np.ndarray:
        """Network targets (rows, k): 0/1 for "binary", one column per class for "onehot", floats for "values"."""
        dtype = np.dtype(dtype)
        if self.task == "regression":
            return frame[self.target_names].to_numpy(dtype=dtype, copy=True)
        indices = self.class_indices(frame)
        if self.target_encoding == "binary":
            return (indices == len(self.classes) - 1).astype(dtype).reshape(-1, 1)
        out = np.zeros((len(indices), len(self.classes)), dtype=dtype)
        out[np.arange(len(indices)), indices] = 1
        return out

    def decode(self, outputs: np.ndarray) -> pd.DataFrame:
        """Predictions: one column per target (class label or value), and `prob_<class>` per class."""
        outputs = np.asarray(outputs)
        width = {"binary": 1, "onehot": len(self.classes), "values": len(self.target_names)}[self.target_encoding]
        if outputs.ndim != 2 or outputs.shape[1] != width:
            raise ValueError(f"expected outputs of shape (rows, {width}), got {outputs.shape}")
        if self.task == "regression":
            return pd.DataFrame({name: outputs[:, j] for j, name in enumerate(self.target_names)})
        if self.target_encoding == "binary":
            last = outputs[:, 0]
            probabilities = np.stack([1 - last, last], axis=1)
        else:
            probabilities = outputs
        chosen = np.argmax(probabilities, axis=1)  # a tie (p = 0.5) goes to the first class
        columns: dict[str, np.ndarray] = {self.target_names[0]: np.asarray(self.classes)[chosen]}
        for j, text in enumerate(self.class_text):
            columns[f"prob_{text}"] = probabilities[:, j]
        return pd.DataFrame(columns)

    # ----- saving

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything predict needs, as plain arrays (no objects) for model.npz; keys without the `meta.` prefix."""
        arrays = {
            "task": np.array(self.task), "target_encoding": np.array(self.target_encoding),
            "missing": np.array(self.missing), "scale": np.array(self.scale),
            "feature_names": _text_array(self.feature_names),
            "categorical": np.array([name in self.categories for name in self.feature_names], dtype=bool),
            "impute_values": self.impute_values.copy(), "scale_offset": self.offset.copy(),
            "scale_divisor": self.divisor.copy(), "target_names": _text_array(self.target_names),
            "classes": _text_array(self.class_text), "classes_numeric": np.array(self.classes_numeric),
            "dtype": np.array(self.dtype.name),
        }
        for name, values in self.categories.items():
            arrays[f"categories.{name}"] = _text_array(values)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Preprocessor:
        """The preprocessor `to_arrays` saved (a KeyError names a missing entry)."""
        names = [str(name) for name in arrays["feature_names"]]
        is_categorical = np.asarray(arrays["categorical"], dtype=bool)
        categories = {name: [str(value) for value in arrays[f"categories.{name}"]]
                      for name, flag in zip(names, is_categorical) if flag}
        return cls(feature_names=names, categories=categories, impute_values=arrays["impute_values"],
                   offset=arrays["scale_offset"], divisor=arrays["scale_divisor"],
                   target_names=[str(name) for name in arrays["target_names"]], class_text=arrays["classes"],
                   classes_numeric=bool(arrays["classes_numeric"]), task=str(arrays["task"]),
                   target_encoding=str(arrays["target_encoding"]), missing=str(arrays["missing"]),
                   scale=str(arrays["scale"]), dtype=str(arrays["dtype"]) if "dtype" in arrays else "float64")


def _row_ranges(rows: int, parts: int) -> list[tuple[int, int]]:
    """`parts` ranges of whole row blocks covering 0..rows (fewer when there are fewer blocks)."""
    blocks = max(1, -(-rows // _BLOCK_ROWS))
    bounds = [min(rows, (blocks * part // parts) * _BLOCK_ROWS) for part in range(parts + 1)]
    return [(first, last) for first, last in zip(bounds, bounds[1:]) if last > first] or [(0, rows)]


def _floats(column: pd.Series) -> np.ndarray:
    """A prepared numeric column as an array of floats, without a copy when it holds floats already."""
    values = column.to_numpy()
    return values if values.dtype.kind == "f" else column.to_numpy(dtype=np.float64, na_value=np.nan)


def _text_array(values: Sequence[str]) -> np.ndarray:
    return np.array([str(value) for value in values], dtype=str) if len(values) else np.array([], dtype="<U1")


def _vocabulary(cell: Factor, name: str, source: str) -> tuple[np.ndarray, bool]:
    """The distinct values present in a label column, sorted (numerically when all are numbers)."""
    present = np.unique(cell.codes[cell.codes >= 0])
    if not present.size:
        raise DataError(f"column {name!r} has no values in the training data", file=source)
    return sort_labels(cell.text[present], cell.numbers[present])


def _check_classes(class_text: np.ndarray, name: str, encoding: str, source: str) -> None:
    shown = format_values(list(class_text))
    if len(class_text) < 2:
        raise DataError(f"column {name!r} has a single class ({shown}); classification needs at least 2",
                        file=source)
    if encoding == "binary" and len(class_text) != 2:
        raise DataError(f"column {name!r} has {len(class_text)} classes ({shown}); binary_crossentropy needs "
                        "exactly 2: use categorical_crossentropy with a softmax output", file=source)


def _statistics(cells: Cells, feature_names: list[str], categories: dict, scale: str, source: str,
                dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per feature: the imputation value (training mean), and the scaling offset and divisor.

    They are taken, in float64, from the numbers rounded to the network's `dtype` (one column at a time).
    """
    count = len(feature_names)
    impute, offset, divisor = np.full(count, np.nan), np.zeros(count), np.ones(count)
    for position, name in enumerate(feature_names):
        if name in categories:
            continue
        values = cells[name].astype(dtype, copy=False).astype(np.float64, copy=False)
        total = values.sum()
        if np.isnan(total):  # a cell is missing (infinite ones were refused)
            missing = np.isnan(values)
            if missing.all():
                raise DataError(f"column {name!r} has no values in the training data", file=source)
            impute[position] = values[~missing].mean()
            values = np.where(missing, impute[position], values)
            mean = values.mean()
        else:
            impute[position] = mean = total / len(values)  # what values.mean() computes, without a second pass
        if scale == "standard":
            offset[position], spread = mean, values.std(mean=np.array([mean]))
        elif scale == "minmax":
            offset[position], spread = values.min(), values.max() - values.min()
        else:
            continue
        divisor[position] = spread if spread > 0 else 1.0
    return impute, offset, divisor
