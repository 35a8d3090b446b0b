"""Which columns are used and what their cells hold: column choice, cell checks, the missing-cell policy."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from nncli.data.cells import BadCell, Factor, factor, format_values, is_number_column, line_of, numeric_cells
from nncli.errors import ConfigError, DataError

Cells = dict[str, "np.ndarray | Factor"]  # a numeric column as floats (NaN = missing), a label column as a Factor
Factors = dict[str, Factor]  # columns already factorised, by name


def require_columns(frame: pd.DataFrame, names: Sequence[str], source: str) -> None:
    """Every name is a column of the frame; otherwise a DataError naming it and listing the available ones."""
    for name in names:
        if name not in frame.columns:
            raise DataError(f"column {name!r} not found; available columns: {format_values(list(frame.columns))}",
                            file=source)


def resolve_features(frame: pd.DataFrame, targets: list[str], features: str | Sequence[str],
                     source: str) -> list[str]:
    """The feature columns in order: every non-target column for "all", else the listed ones."""
    require_columns(frame, targets, source)
    if len(set(targets)) != len(targets):
        raise ConfigError("a target column is listed twice", field="data.target")
    if isinstance(features, str):
        if features != "all":
            raise ConfigError(f"expected 'all' or a list of column names, got {features!r}", field="data.features")
        names = [name for name in frame.columns if name not in targets]
        if not names:
            raise DataError("there are no feature columns: every column is a target", file=source)
        return names
    names = list(features)
    for name in names:
        if name in targets:
            raise ConfigError(f"column {name!r} is both a target and a feature", field="data.features")
        if names.count(name) > 1:
            raise ConfigError(f"column {name!r} is listed twice", field="data.features")
    if not names:
        raise ConfigError("the list of feature columns is empty", field="data.features")
    require_columns(frame, names, source)
    return names


def mostly_numbers(series: pd.Series, rows: np.ndarray | None = None, factors: Factors | None = None) -> bool:
    """A column is numeric when most of its non-missing cells (among `rows`) read as numbers."""
    if is_number_column(series):
        return True
    cells = factor(series, rows)
    if factors is not None:
        factors[series.name] = cells
    numbers, present = cells.numeric_share()
    return 2 * numbers > present


def resolve_categorical(frame: pd.DataFrame, features: list[str], categorical: str | Sequence[str],
                        rows: np.ndarray | None = None, factors: Factors | None = None) -> list[str]:
    """The features to one-hot encode: the non-numeric ones for "auto", else the listed ones (in feature order).

    Columns factorised on the way are left in `factors` for `read_cells`.
    """
    if isinstance(categorical, str):
        if categorical != "auto":
            raise ConfigError(f"expected 'auto' or a list of column names, got {categorical!r}",
                              field="data.categorical")
        return [name for name in features if not mostly_numbers(frame[name], rows, factors)]
    listed = list(categorical)
    for name in listed:
        if name not in features:
            raise ConfigError(f"column {name!r} is not a feature column; features: {format_values(features)}",
                              field="data.categorical")
    return [name for name in features if name in listed]


def read_cells(frame: pd.DataFrame, numeric: list[str], labels: list[str], source: str,
               rows: np.ndarray | None = None, numeric_targets: Sequence[str] = (),
               factors: Factors | None = None, dtype: np.dtype | str | None = None) -> tuple[Cells, pd.Index]:
    """Numeric columns as floats and label columns as Factors, for `rows` (all when None), and their index.

    The earliest cell that is not a number, is infinite, or (with the run's `dtype`) is too large for that dtype,
    in a numeric column, is a DataError.
    """
    index = frame.index if rows is None else frame.index[rows]
    cells: Cells = {}
    problems: list[BadCell] = []
    for name in numeric:
        cells[name], problem = numeric_cells(frame[name], name, rows, (factors or {}).get(name), dtype)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise _cell_error(min(problems, key=lambda problem: problem.position), frame, index, numeric_targets,
                          source)
    for name in labels:
        known = (factors or {}).get(name)
        cells[name] = factor(frame[name], rows) if known is None else known
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


def handle_missing(cells: Cells, index: pd.Index, policy: str, features: list[str], targets: list[str],
                   can_drop: bool, source: str) -> tuple[Cells, pd.Index]:
    """Apply the missing-cell policy: refuse, drop the rows (when rows may be dropped), or leave for imputing."""
    checked = features + targets if policy != "impute" else targets
    masks = [missing_mask(cells[name]) for name in checked if has_missing(cells[name])]
    if not masks:
        return cells, index
    any_missing = np.logical_or.reduce(masks)
    if not any_missing.any():
        return cells, index
    if policy == "drop" and can_drop:
        keep = ~any_missing
        kept = {name: _take(cell, keep) for name, cell in cells.items()}
        return kept, index[keep]
    row = int(np.argmax(any_missing))
    column = next(name for name in checked if missing_mask(cells[name])[row])
    if policy == "impute":
        reason = "targets are never imputed; set data.missing: drop to skip such rows"
    elif policy == "drop":
        reason = "data.missing is 'drop', but rows cannot be dropped when predicting"
    else:
        reason = "data.missing is 'error'; set it to 'drop' or 'impute' to accept missing cells"
    raise DataError(f"column {column!r}: missing value ({reason})", file=source, line=line_of(index, row))


def _take(cell: np.ndarray | Factor, keep: np.ndarray) -> np.ndarray | Factor:
    if isinstance(cell, Factor):
        return Factor(cell.codes[keep], cell.text, cell.numbers, cell.raw)
    return cell[keep]


def label_codes(cell: Factor, labels: np.ndarray, column: str, index: pd.Index, source: str | None,
                kind: str) -> np.ndarray:
    """Per-row positions in `labels` (-1 where missing); a value not among them is a DataError."""
    positions = np.append(pd.Index(labels).get_indexer(cell.text), -1)[cell.codes]
    unseen = (cell.codes >= 0) & (positions < 0)
    if unseen.any():
        row = int(np.argmax(unseen))
        raise DataError(f"column {column!r}: unknown {kind} {cell.shown(cell.codes[row])}; known: "
                        f"{format_values(list(labels))}",
                        file=source, line=line_of(index, row))
    return positions
