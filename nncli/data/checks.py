"""Which columns are used and what their cells hold: column choice, cell checks, the missing-cell policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nncli.data.cells import (
    MAX_LABEL_CHARS,
    NO_MARKS,
    BadCell,
    Factor,
    Marks,
    factor,
    is_number_column,
    line_of,
    numeric_cells,
)
from nncli.data.profile import ID_MIN_ROWS, is_id_like, is_index_like, is_unnamed, kind_warning
from nncli.errors import ConfigError, DataError, format_values
from nncli.registry import closest

Cells = dict[str, "np.ndarray | Factor"]  # a numeric column as floats (NaN = missing), a label column as a Factor
Factors = dict[str, Factor]  # columns already factorised, by name


def as_labels(cell: np.ndarray | Factor) -> Factor:
    """A label column's cells: `read_cells` factorises each column it reads as labels."""
    if not isinstance(cell, Factor):
        raise TypeError("a label column was read as numbers")
    return cell


def as_numbers(cell: np.ndarray | Factor) -> np.ndarray:
    """A numeric column's cells: `read_cells` reads each column that is not labels as floats."""
    if isinstance(cell, Factor):
        raise TypeError("a numeric column was read as labels")
    return cell


class MissingColumn(DataError):
    """A column the config or the model names is not in the table."""

    def __init__(self, column: str, available: Sequence[str], file: str | None):
        suggestion = closest(str(column), [str(name) for name in available])
        hint = "; " if suggestion is None else f"; did you mean {suggestion!r}? "
        self.detail = f"{hint}available columns: {format_values(list(available))}"
        super().__init__(f"column {column!r} not found{self.detail}", file=file)
        self.name = column  # (`column` is the error's position in a line)

    def in_file(self) -> str:
        """The message naming the file, for an error that points at the config instead."""
        return f"column {self.name!r} not found in {self.file}{self.detail}"


class EmbeddedColumnError(DataError):
    """A column an embedding layer names cannot be embedded (not a feature, or not categorical)."""

    def __init__(self, column: str, message: str, file: str | None):
        super().__init__(message, file=file)
        self.name = column


def check_embedded(embedded: Sequence[str], frame: pd.DataFrame, features: list[str], categorical: list[str],
                   listed: bool, source: str) -> None:
    """Each embedded column is a categorical feature of the table: a MissingColumn or EmbeddedColumnError if not.

    `listed`: data.categorical is a list (else auto: the non-numeric columns).
    """
    for name in embedded:
        require_columns(frame, [name], source)
        if name not in features:
            raise EmbeddedColumnError(name, f"column {name!r} is not a feature column; features: "
                                            f"{format_values(features)}", source)
        if name not in categorical:
            how = "add it to data.categorical" if listed else \
                f"list it in data.categorical (e.g. categorical: [{name}]) to read its values as categories"
            raise EmbeddedColumnError(name, f"column {name!r} is numeric, not categorical; an embedding takes a "
                                            f"categorical column: {how}", source)


def require_columns(frame: pd.DataFrame, names: Sequence[str], source: str) -> None:
    """Every name is a column of the frame; otherwise a MissingColumn naming it, the closest column name and the
    available ones."""
    for name in names:
        if name not in frame.columns:
            raise MissingColumn(name, list(frame.columns), source)


def resolve_features(frame: pd.DataFrame, targets: list[str], features: str | Sequence[str],
                     source: str) -> tuple[list[str], list[str]]:
    """The feature columns in order: every non-target column for "all" (except unnamed ones, which `to_csv()`
    writes for the row index), else the listed ones; and the unnamed columns left out."""
    require_columns(frame, targets, source)
    if len(set(targets)) != len(targets):
        raise ConfigError("a target column is listed twice", field="data.target")
    if isinstance(features, str):
        if features != "all":
            raise ConfigError(f"expected 'all' or a list of column names, got {features!r}", field="data.features")
        candidates = [name for name in frame.columns if name not in targets]
        names = [name for name in candidates if not is_unnamed(name)]
        if not names:
            unnamed = f" or has no name ({format_values(candidates)})" if candidates else ""
            raise DataError(f"there are no feature columns: every column is a target{unnamed}; list the features "
                            "in data.features", file=source)
        return names, [name for name in candidates if is_unnamed(name)]
    names = list(features)
    for name in names:
        if name in targets:
            raise ConfigError(f"column {name!r} is both a target and a feature", field="data.features")
        if names.count(name) > 1:
            raise ConfigError(f"column {name!r} is listed twice", field="data.features")
    if not names:
        raise ConfigError("the list of feature columns is empty", field="data.features")
    require_columns(frame, names, source)
    return names, []


def unnamed_warning(name: str) -> str:
    """What a user is told about an unnamed column left out of `features: all`."""
    return (f"column {name!r} has no name in the header (a row index DataFrame.to_csv() saved without "
            "index=False?): left out of the features; list it in data.features to use it, or drop it from the file")


def suspicious_features(cells: Cells, index: pd.Index, names: Sequence[str]) -> list[str]:
    """Warnings for features that look like a saved row index or an ID (unique per row), one line each."""
    warnings = []
    for name in names:
        kind = _suspicious_kind(cells[name], index, name)
        if kind is not None:
            warnings.append(kind_warning(name, kind) or "")
    return warnings


def _suspicious_kind(cell: np.ndarray | Factor, index: pd.Index, name: str) -> str | None:
    rows = len(index)
    if has_missing(cell) or rows < 3:
        return None
    if isinstance(cell, Factor):  # factorised from these very rows: each distinct value is used
        return "id-like" if is_id_like(len(cell.text), rows, False, False) else None
    positions = index.to_numpy() if index.dtype.kind in "iu" else None
    if is_index_like(name, pd.Series(cell, copy=False), positions):
        return "index-like"
    if rows <= ID_MIN_ROWS or not bool((cell == np.floor(cell)).all()):
        return None
    head = cell[:1000]
    if len(np.unique(head)) < len(head):  # a repeat among the first rows: not unique, no need to look further
        return None
    return "id-like" if is_id_like(len(np.unique(cell)), rows, True, True) else None


def mostly_numbers(series: pd.Series, rows: np.ndarray | None = None, factors: Factors | None = None,
                   marks: Marks = NO_MARKS) -> bool:
    """A column is numeric when most of its non-missing cells (among `rows`) read as numbers."""
    if is_number_column(series):
        return True
    cells = factor(series, rows, marks)
    if factors is not None:
        factors[series.name] = cells
    numbers, present = cells.numeric_share()
    return 2 * numbers > present


def resolve_categorical(frame: pd.DataFrame, features: list[str], categorical: str | Sequence[str],
                        rows: np.ndarray | None = None, factors: Factors | None = None,
                        marks: Marks = NO_MARKS) -> list[str]:
    """The features to one-hot encode: the non-numeric ones for "auto", else the listed ones (in feature order).

    Columns factorised on the way are left in `factors` for `read_cells`.
    """
    if isinstance(categorical, str):
        if categorical != "auto":
            raise ConfigError(f"expected 'auto' or a list of column names, got {categorical!r}",
                              field="data.categorical")
        return [name for name in features if not mostly_numbers(frame[name], rows, factors, marks)]
    listed = list(categorical)
    for name in listed:
        if name not in features:
            raise ConfigError(f"column {name!r} is not a feature column; features: {format_values(features)}",
                              field="data.categorical")
    return [name for name in features if name in listed]


def read_cells(frame: pd.DataFrame, numeric: list[str], labels: list[str], source: str,
               rows: np.ndarray | None = None, numeric_targets: Sequence[str] = (),
               factors: Factors | None = None, dtype: np.dtype | str | None = None,
               marks: Marks = NO_MARKS) -> tuple[Cells, pd.Index]:
    """Numeric columns as floats and label columns as Factors, for `rows` (all when None), and their index.

    Cells matching `marks` (data.na_values) are missing. The earliest cell that is not a number, is infinite, or
    (with the run's `dtype`) is too large for that dtype, in a numeric column, is a DataError.
    """
    index = frame.index if rows is None else frame.index[rows]
    cells: Cells = {}
    problems: list[BadCell] = []
    for name in numeric:
        cells[name], problem = numeric_cells(frame[name], name, rows, (factors or {}).get(name), dtype, marks)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise _cell_error(min(problems, key=lambda problem: problem.position), frame, index, numeric_targets,
                          source)
    for name in labels:
        known = (factors or {}).get(name)
        cells[name] = label_cells = factor(frame[name], rows, marks) if known is None else known
        too_long = label_cells.first_too_long()
        if too_long is not None:
            raise DataError(f"column {name!r}: a value of {too_long[1]} characters; categories and class labels "
                            f"have at most {MAX_LABEL_CHARS} (a column of free text cannot be a category or a class)",
                            file=source, line=line_of(index, too_long[0]))
    return cells, index


def _cell_error(problem: BadCell, frame: pd.DataFrame, index: pd.Index, numeric_targets: Sequence[str],
                source: str) -> DataError:
    hint, column = "", None
    if problem.kind == "text":
        hint = " (regression targets are numbers)" if problem.column in numeric_targets else " (the column is numeric)"
    elif problem.kind == "overflow":  # the cell holds a plain number: point at it
        position = frame.columns.get_loc(problem.column)
        column = position + 1 if isinstance(position, int) else None
    return DataError(f"column {problem.column!r}: {problem.message}{hint}", file=source,
                     line=line_of(index, problem.position), column=column)


def missing_mask(cell: np.ndarray | Factor) -> np.ndarray:
    """True where the cell is missing."""
    return cell.codes < 0 if isinstance(cell, Factor) else np.isnan(cell)


def has_missing(cell: np.ndarray | Factor) -> bool:
    """Whether any cell is missing."""
    if isinstance(cell, Factor):
        return bool((cell.codes < 0).any())
    # The sum of finite cells is finite (barring overflow, which only costs the full check).
    return not np.isfinite(cell.sum()) and bool(np.isnan(cell).any())


SKIP_REASONS = {"missing_target": "with a missing target", "missing_features": "with missing feature cells"}
"""Why rows are skipped, and how to say it: a missing target (data.missing_target: drop), a missing feature
(data.missing: drop)."""


def skipped_text(counts: dict[str, int]) -> str:
    """`3 with a missing target, 2 with missing feature cells` (the non-zero counts), or `none`."""
    parts = [f"{count} {SKIP_REASONS.get(reason, reason)}" for reason, count in counts.items() if count]
    return ", ".join(parts) or "none"


@dataclass
class PreparedRows:
    """A table prepared for the network, and what preparing it left out or noticed.

    `skipped` maps each reason in SKIP_REASONS (`missing_target`, `missing_features`) to the labels of the rows
    skipped for it (a row of a CSV file read by `read_table` is labelled with its file line - 2). `warnings` are
    one line each for the user (categories unseen in training under `unknown_category: ignore`, columns that
    look like a saved index or an ID).
    """

    frame: pd.DataFrame
    skipped: dict[str, pd.Index] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped_counts(self) -> dict[str, int]:
        """Rows skipped by reason, every reason present: `{"missing_target": 12, "missing_features": 0}`."""
        return {reason: len(self.skipped.get(reason, ())) for reason in SKIP_REASONS}


def handle_missing(cells: Cells, index: pd.Index, policy: str, features: list[str], targets: list[str],
                   can_drop: bool, source: str, missing_target: str = "drop") -> tuple[Cells, pd.Index, dict]:
    """Apply the missing-cell policies, and return the cells and index kept and the labels of the rows skipped,
    by reason (SKIP_REASONS; a row missing both its target and a feature counts as missing its target).

    Rows missing a target are skipped (`missing_target: drop`) or refused; rows missing a feature are refused,
    skipped (`policy` drop, when rows may be dropped) or left for imputing.
    """
    skipped = {reason: index[:0] for reason in SKIP_REASONS}
    drop = _missing_rows(cells, targets, len(index))
    if drop is not None and missing_target == "error":
        _refuse(cells, index, targets, drop, "missing target value (data.missing_target is 'error'; set it to "
                                             "'drop' to skip such rows)", source)
    if drop is not None:
        skipped["missing_target"] = index[drop]
    gaps = None if policy == "impute" else _missing_rows(cells, features, len(index))
    if gaps is not None and drop is not None:
        gaps &= ~drop
    if gaps is not None and gaps.any():
        if policy != "drop" or not can_drop:
            reason = ("data.missing is 'drop', but rows cannot be dropped when predicting" if policy == "drop" else
                      "data.missing is 'error'; set it to 'drop' or 'impute' to accept missing cells")
            _refuse(cells, index, features, gaps, f"missing value ({reason})", source)
        skipped["missing_features"] = index[gaps]
        drop = gaps if drop is None else drop | gaps
    if drop is None or not drop.any():
        return cells, index, skipped
    keep = ~drop
    return {name: _take(cell, keep) for name, cell in cells.items()}, index[keep], skipped


def nothing_left(skipped: dict[str, pd.Index]) -> str:
    """The message when every row was skipped: how many for each reason."""
    reasons = [f"{len(skipped[reason])} {what}" for reason, what in
               (("missing_target", "with a missing target"), ("missing_features", "with missing feature cells"))
               if len(skipped[reason])]
    return f"no rows left after skipping the rows {' and '.join(reasons)}"


def _missing_rows(cells: Cells, names: list[str], rows: int) -> np.ndarray | None:
    """True for the rows missing a cell in any of `names`; None when no such row exists."""
    masks = [missing_mask(cells[name]) for name in names if has_missing(cells[name])]
    if not masks:
        return None
    return np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]


def _refuse(cells: Cells, index: pd.Index, names: list[str], rows: np.ndarray, message: str, source: str) -> None:
    """The DataError for the first of `rows`, naming its first column with a missing cell."""
    row = int(np.argmax(rows))
    column = next(name for name in names if missing_mask(cells[name])[row])
    raise DataError(f"column {column!r}: {message}", file=source, line=line_of(index, row))


def _take(cell: np.ndarray | Factor, keep: np.ndarray) -> np.ndarray | Factor:
    if isinstance(cell, Factor):
        return Factor(cell.codes[keep], cell.text, cell.numbers, cell.raw)
    return cell[keep]
