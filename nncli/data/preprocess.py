"""Preprocessing fitted on the training split and saved with the model: checks, imputation, scaling, one-hot.

Inputs are laid out feature by feature in `feature_names` order: a numeric feature is one scaled column, a
categorical one a one-hot block (see `nncli.data.encoding`: a column per frequent training category, then the
shared `<infrequent>` one and, under `missing: impute`, a `<missing>` one).
Numbers are first rounded to the network's dtype, then scaled in float64 with statistics taken from those
rounded values: so a table parsed straight to float32 and one parsed to float64 give the same inputs. A number
too large for that dtype (1e39 in float32) is refused, and so is a feature matrix larger than `feature_limit()`.
Class labels keep the text the training CSV wrote them in (`6.0`), and compare by value (`6` is the same class).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from nncli.data.blocks import memory_quarter, worker_count
from nncli.data.cells import Marks, canonical_text, factor, float_column, label_values, line_of, size_text
from nncli.data.checks import (
    Cells,
    Factors,
    PreparedRows,
    as_labels,
    check_embedded,
    handle_missing,
    nothing_left,
    read_cells,
    require_columns,
    resolve_categorical,
    resolve_features,
    suspicious_features,
    unnamed_warning,
)
from nncli.data.encoding import (
    UNKNOWN_CATEGORY,
    Slots,
    check_classes,
    check_onehot_target,
    class_codes,
    embedding_categories,
    embedding_rows,
    slot_codes,
    split_frequent,
    vocabulary,
)
from nncli.data.saved import saved_arrays, saved_settings
from nncli.data.statistics import feature_statistics
from nncli.errors import ConfigError, DataError
from nncli.nn.graph import DATA_INPUT

ENCODINGS = {"classification": ("binary", "onehot"), "regression": ("values",)}
SCALES = ("standard", "minmax", "none")
MISSING = ("error", "drop", "impute")
MISSING_TARGET = ("drop", "error")
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
                 class_text: Sequence[str] | np.ndarray, classes_numeric: bool, task: str, target_encoding: str,
                 missing: str, scale: str, dtype: np.dtype | str = "float64",
                 infrequent: Mapping[str, Sequence[str]] | None = None, na_values: Sequence[str] = (),
                 missing_target: str = "drop", unknown_category: str = "error", embedded: Sequence[str] = ()):
        if task not in ENCODINGS or target_encoding not in ENCODINGS[task]:
            raise ValueError(f"task {task!r} does not take target encoding {target_encoding!r}")
        for setting, value, valid in (("scale", scale, SCALES), ("missing", missing, MISSING),
                                      ("missing_target", missing_target, MISSING_TARGET),
                                      ("unknown_category", unknown_category, UNKNOWN_CATEGORY)):
            if value not in valid:
                raise ValueError(f"{setting} must be one of {', '.join(valid)}, got {value!r}")
        self.feature_names = list(feature_names)
        self.categories = {name: list(categories[name]) for name in self.feature_names if name in categories}
        self.infrequent = {name: list((infrequent or {}).get(name, [])) for name in self.categories}
        self.impute_values = np.asarray(impute_values, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.divisor = np.asarray(divisor, dtype=np.float64)
        self.target_names = list(target_names)
        self.class_text = np.asarray(class_text, dtype=str)  # as the training CSV wrote them
        self.classes_numeric = bool(classes_numeric)
        self.classes = label_values(self.class_text, self.classes_numeric)
        self._class_keys = canonical_text(self.class_text)  # what a cell is compared with
        self.task, self.target_encoding, self.missing, self.scale = task, target_encoding, missing, scale
        self.na_values, self._marks = [str(text) for text in na_values], Marks.of(na_values)
        self.missing_target, self.unknown_category = missing_target, unknown_category
        self.dtype = np.dtype(dtype)  # the network's: numbers must be finite in it
        self.embedded = [name for name in self.categories if name in embedded]  # index arrays, not one-hot
        self._layout()

    def _layout(self) -> None:
        self.input_names: list[str] = []
        self._numeric = [name for name in self.feature_names if name not in self.categories]
        self._slots = {name: Slots(self.categories[name], self.infrequent[name], self.missing == "impute")
                       for name in self.categories}
        numeric_positions, self._onehot = [], []
        for name in self.feature_names:
            if name in self.embedded:
                continue
            if name in self.categories:
                slots = self._slots[name]
                self._onehot.append((name, len(self.input_names), slots.width))
                self.input_names += slots.names(name)
            else:
                numeric_positions.append(len(self.input_names))
                self.input_names.append(name)
        self.input_width = len(self.input_names)
        position_of = {name: position for position, name in enumerate(self.feature_names)}
        self._numeric_columns = [
            (name, slot, float(self.offset[position_of[name]]), float(self.divisor[position_of[name]]))
            for slot, name in zip(numeric_positions, self._numeric, strict=False)]

    def feature_slices(self) -> dict[str, slice]:
        """Each raw feature column's columns of the feature matrix: its one scaled column, or its whole one-hot
        block (an embedded column has none: its index array is its input)."""
        blocks = {name: slice(start, start + width) for name, start, width in self._onehot}
        blocks.update({name: slice(slot, slot + 1) for name, slot, *_ in self._numeric_columns})
        return {name: blocks[name] for name in self.feature_names if name in blocks}

    def embedding_categories(self) -> dict[str, int]:
        """Each embedded column's number of categories (its embedding table has one more row: row 0)."""
        return {name: embedding_categories(self._slots[name]) for name in self.embedded}

    def inputs(self, frame: pd.DataFrame, dtype: np.dtype | str) -> dict[str, np.ndarray]:
        """The network's named inputs for a prepared frame: the feature matrix as `input`, and `indices`."""
        return {DATA_INPUT: self.features(frame, dtype), **self.indices(frame)}

    def indices(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each embedded column's category index per row of a prepared frame (0: unknown or infrequent)."""
        return {name: embedding_rows(self._slots[name])[np.asarray(frame[name].cat.codes, dtype=np.intp) + 1]
                for name in self.embedded}

    # ----- fitting

    @classmethod
    def fit(cls, frame: pd.DataFrame, **settings: Any) -> Preprocessor:
        """Learn columns, categories, classes and statistics from the training frame (settings: see `fit_rows`)."""
        return cls.fit_rows(frame, **settings)[0]

    @classmethod
    def fit_prepare(cls, frame: pd.DataFrame, **settings: Any) -> tuple[Preprocessor, pd.DataFrame]:
        """`fit`, plus the training frame prepared by the fitted preprocessor (checked once, not twice)."""
        fitted, prepared = cls.fit_rows(frame, **settings)
        return fitted, prepared.frame

    @classmethod
    def fit_rows(cls, frame: pd.DataFrame, *, target: str | list[str], features: str | list[str],
                 categorical: str | list[str], scale: str, missing: str, task: str, target_encoding: str,
                 embedded: Sequence[str] = (),
                 source: str, rows: np.ndarray | None = None, dtype: np.dtype | str = "float64",
                 na_values: Sequence[str] = (), missing_target: str = "drop", unknown_category: str = "error",
                 min_frequency: int = 1, exclude: Sequence[str] = ()) -> tuple[Preprocessor, PreparedRows]:
        """Fit on the training frame (or its `rows`), and prepare it: the settings are the `data.` config keys.

        `exclude` names columns that are neither features nor targets (the sample weights), required all the same.

        `dtype` is the network's: the statistics are those of the numbers rounded to it, as `features` feeds them.
        """
        targets = [target] if isinstance(target, str) else list(target)
        if task == "classification" and len(targets) != 1:
            raise ConfigError(f"classification takes one target column, got {len(targets)}: "
                              f"{', '.join(targets)}", field="data.target")
        marks = Marks.of(na_values)
        feature_names, unnamed = resolve_features(frame, targets + list(exclude), features, source)
        factors: Factors = {}
        categorical_names = resolve_categorical(frame, feature_names, categorical, rows, factors, marks)
        check_embedded(embedded, frame, feature_names, categorical_names, not isinstance(categorical, str), source)
        numeric = [name for name in feature_names if name not in categorical_names]
        labels = categorical_names + (targets if task == "classification" else [])
        numeric_targets = targets if task == "regression" else []
        cells, index = read_cells(frame, numeric + numeric_targets, labels, source, rows, numeric_targets, factors,
                                  dtype, marks)
        warnings = [unnamed_warning(name) for name in unnamed]
        if features == "all":
            warnings += suspicious_features(cells, index, feature_names)
        cells, index, skipped = handle_missing(cells, index, missing, feature_names, targets, True, source,
                                               missing_target)
        if not len(index):
            raise DataError(nothing_left(skipped), file=source)
        vocabularies = {name: vocabulary(as_labels(cells[name]), name, source) for name in categorical_names}
        split = {name: split_frequent(vocab, min_frequency) for name, vocab in vocabularies.items()}
        impute, offset, divisor = feature_statistics(cells, feature_names, split, scale, source, np.dtype(dtype))
        class_text, classes_numeric = np.array([], dtype=str), False
        if task == "classification":
            classes = vocabulary(as_labels(cells[targets[0]]), targets[0], source)
            class_text, classes_numeric = classes.written, classes.numeric
            check_classes(class_text, targets[0], target_encoding, source)
        fitted = cls(feature_names=feature_names, categories={name: pair[0] for name, pair in split.items()},
                     infrequent={name: pair[1] for name, pair in split.items()}, impute_values=impute, offset=offset,
                     divisor=divisor, target_names=targets, class_text=class_text, classes_numeric=classes_numeric,
                     task=task, target_encoding=target_encoding, missing=missing, scale=scale, dtype=dtype,
                     na_values=na_values, missing_target=missing_target, unknown_category=unknown_category,
                     embedded=embedded)
        fitted._check_size(len(index), source)
        prepared, _ = fitted._assemble(cells, index, source, with_targets=True)
        return fitted, PreparedRows(prepared, skipped, warnings)

    # ----- applying

    def prepare(self, frame: pd.DataFrame, *, source: str, require_target: bool,
                rows: np.ndarray | None = None) -> pd.DataFrame:
        """Check and clean a table (or its `rows`): used columns only, numbers as floats, known categories."""
        return self.prepare_rows(frame, source=source, require_target=require_target, rows=rows).frame

    def prepare_rows(self, frame: pd.DataFrame, *, source: str, require_target: bool,
                     rows: np.ndarray | None = None) -> PreparedRows:
        """`prepare`, with the rows it skipped and why, and its warnings (see `PreparedRows`).

        Rows missing a target are skipped under `missing_target: drop` (targets are read only with
        `require_target`); rows missing a feature are skipped under `missing: drop` when the target is required
        (eval, validation and test data), and refused when predicting.
        """
        targets = self.target_names if require_target else []
        require_columns(frame, self.feature_names + targets, source)
        numeric_targets = targets if self.task == "regression" else []
        labels = list(self.categories) + (targets if self.task == "classification" else [])
        cells, index = read_cells(frame, self._numeric + numeric_targets, labels, source, rows, numeric_targets,
                                  dtype=self.dtype, marks=self._marks)
        cells, index, skipped = handle_missing(cells, index, self.missing, self.feature_names, targets,
                                               require_target, source, self.missing_target)
        self._check_size(len(index), source)
        prepared, warnings = self._assemble(cells, index, source, with_targets=require_target)
        return PreparedRows(prepared, skipped, warnings)

    def _check_size(self, rows: int, source: str) -> None:
        """Refuse, before they are built, a one-hot target matrix or a feature matrix over `feature_limit()`."""
        limit = feature_limit()
        if self.target_encoding == "onehot":
            check_onehot_target(self.target_names[0], len(self.classes), rows, self.dtype, limit, source)
        needed = rows * self.input_width * self.dtype.itemsize
        if needed <= limit or not self._onehot:
            return
        name, _, width = max(self._onehot, key=lambda onehot: onehot[2])
        raise DataError(
            f"column {name!r}: one-hot encoding its {len(self.categories[name])} distinct values makes the feature "
            f"matrix {rows} rows x {self.input_width} columns ({width} of them for this column) of {self.dtype.name}: "
            f"{size_text(needed)}, over the limit of {size_text(limit)}; leave the column out by listing the other "
            "columns in data.features", file=source)

    def _assemble(self, cells: Cells, index: pd.Index, source: str,
                  with_targets: bool) -> tuple[pd.DataFrame, list[str]]:
        """The prepared frame (a categorical feature as its one-hot positions, a class as its position among
        the classes) and the warnings about ignored unseen categories."""
        columns: dict[str, object] = {}
        warnings = []
        for position, name in enumerate(self.feature_names):
            cell = cells[name]
            if name in self.categories:
                slots = self._slots[name]
                codes, warning = slot_codes(as_labels(cell), slots, self.unknown_category, name, index, source,
                                            name in self.embedded)
                columns[name] = pd.Categorical.from_codes(codes, categories=pd.RangeIndex(slots.width))
                warnings += [warning] if warning is not None else []
            elif self.missing == "impute" and isinstance(cell, np.ndarray) and np.isnan(cell).any():
                columns[name] = np.where(np.isnan(cell), self.impute_values[position], cell)
            else:
                columns[name] = cell
        for name in self.target_names if with_targets else []:
            cell = cells[name]
            if self.task == "classification":
                codes = class_codes(as_labels(cell), self._class_keys, self.class_text, name, index, source)
                columns[name] = pd.Categorical.from_codes(codes, categories=pd.Index(list(self.class_text),
                                                                                     dtype=object))
            else:
                columns[name] = cell
        return pd.DataFrame(columns, index=index, copy=False), warnings

    def features(self, frame: pd.DataFrame, dtype: np.dtype | str) -> np.ndarray:
        """Network inputs (rows, input_width) from a prepared frame: numbers rounded to `dtype`, then scaled."""
        rows, dtype = len(frame), np.dtype(dtype)
        out = np.empty((rows, self.input_width), dtype=dtype)
        columns = [float_column(frame[name]) for name, *_ in self._numeric_columns]
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
            placed = codes >= 0  # -1: a category unseen in training, ignored: an all-zero block
            if placed.all():
                block[np.arange(rows), codes] = 1
            else:
                block[np.flatnonzero(placed), codes[placed]] = 1
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
            for values, (_, slot, offset, divisor) in zip(columns, self._numeric_columns, strict=False):
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
            codes = class_codes(factor(column, marks=self._marks), self._class_keys, self.class_text, name,
                                frame.index, None)
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
        """Predictions: one column per target (the class label as the training CSV wrote it, or the value), and
        `prob_<class>` per class."""
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
        # one type for all labels: an array of it; else (`1` and `2.5`) objects, each printing as written
        same_type = len({type(label) for label in self.classes}) == 1
        labels = np.asarray(self.classes, dtype=None if same_type else object)
        columns: dict[str, np.ndarray] = {self.target_names[0]: labels[chosen]}
        for j, text in enumerate(self.class_text):
            columns[f"prob_{text}"] = probabilities[:, j]
        return pd.DataFrame(columns)

    # ----- saving

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything predict needs, as plain arrays (no objects) for model.npz; keys without the `meta.` prefix."""
        return saved_arrays(self)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> Preprocessor:
        """The preprocessor `to_arrays` saved (a KeyError names a missing entry); see `saved_settings`."""
        return cls(**saved_settings(arrays))


def _row_ranges(rows: int, parts: int) -> list[tuple[int, int]]:
    """`parts` ranges of whole row blocks covering 0..rows (fewer when there are fewer blocks)."""
    blocks = max(1, -(-rows // _BLOCK_ROWS))
    bounds = [min(rows, (blocks * part // parts) * _BLOCK_ROWS) for part in range(parts + 1)]
    return [(first, last) for first, last in itertools.pairwise(bounds) if last > first] or [(0, rows)]

