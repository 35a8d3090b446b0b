"""Cell-level helpers: numbers versus text, canonical labels, and the file line a row came from.

Every check here is vectorised: a column is factorised once (distinct values are few for text columns) and
the slow per-value work runs on the distinct values only, never per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Integral floats below this print without a decimal point ("3", not "3.0"); above it they lose precision.
_EXACT_INTEGERS = 2.0**53


def line_of(index: pd.Index, position: int) -> int | None:
    """The file line of the row at `position`: `read_table` labels each row with (its line - 2)."""
    label = index[position]
    if isinstance(label, (int, np.integer)):
        return int(label) + 2
    return None


def first_true(mask: np.ndarray) -> int | None:
    """Position of the first True in a boolean vector, or None."""
    return int(np.argmax(mask)) if mask.any() else None


def is_number_column(series: pd.Series) -> bool:
    """True when pandas already parsed the column as numbers (booleans are labels, not numbers)."""
    dtype = series.dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def number_text(numbers: np.ndarray) -> np.ndarray:
    """Canonical text of numbers: integral values without a decimal point, others in shortest form."""
    numbers = np.asarray(numbers, dtype=np.float64)
    text = numbers.astype(str)
    integral = np.isfinite(numbers) & (numbers == np.trunc(numbers)) & (np.abs(numbers) < _EXACT_INTEGERS)
    if integral.any():
        whole = np.where(integral, numbers, 0.0).astype(np.int64).astype(str)
        text = np.where(integral, whole, text)
    return text


def format_values(values: list, limit: int = 20) -> str:
    """`a, b, c` (shortened after `limit` values) for error messages."""
    shown = ", ".join(str(value) for value in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


@dataclass(frozen=True)
class Factor:
    """A column as codes into its distinct values: `codes` is -1 where the cell is missing."""

    codes: np.ndarray
    text: np.ndarray  # canonical text of each distinct value (numbers as `number_text`)
    numbers: np.ndarray  # each distinct value as a float, NaN where it is not a number

    def row_numbers(self) -> np.ndarray:
        """Per-row float values: NaN where the cell is missing or not a number."""
        return np.append(self.numbers, np.nan)[self.codes]

    def numeric_share(self) -> tuple[int, int]:
        """(cells that are numbers, non-missing cells)."""
        present = self.codes >= 0
        counts = np.bincount(self.codes[present], minlength=len(self.numbers))
        return int(counts[~np.isnan(self.numbers)].sum()), int(present.sum())


def factor(series: pd.Series, rows: np.ndarray | None = None) -> Factor:
    """Factorise a column (or its `rows`); cells that read as numbers get canonical text ("1.0" and "1" are one)."""
    codes, uniques = pd.factorize(series if rows is None else series.iloc[rows], use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.intp)
    if is_number_column(series):
        numbers = np.asarray(uniques, dtype=np.float64)
        return Factor(codes, number_text(numbers), numbers)
    objects = np.asarray(uniques, dtype=object)
    text = np.array([str(value) for value in objects], dtype=str) if len(objects) else np.array([], dtype=str)
    numbers = pd.to_numeric(pd.Series(objects, dtype=object), errors="coerce").to_numpy(np.float64, copy=True)
    is_bool = np.fromiter((isinstance(value, (bool, np.bool_)) for value in objects), bool, len(objects))
    numbers[is_bool] = np.nan
    parsed = ~np.isnan(numbers)
    if parsed.any():
        text = np.where(parsed, number_text(numbers), text)
    return Factor(codes, text, numbers)


@dataclass(frozen=True)
class BadCell:
    """The first offending cell of a column: its row position, the column and what is wrong."""

    position: int
    column: str
    message: str


def numeric_cells(series: pd.Series, column: str, rows: np.ndarray | None = None,
                  cells: Factor | None = None) -> tuple[np.ndarray, BadCell | None]:
    """The column (or its `rows`) as floats, NaN where missing, and its first cell that is not a finite number.

    Float columns keep their dtype (float32 stays float32, without a copy); others become float64.
    `cells` is the column's Factor when the caller already has it.
    """
    if is_number_column(series):
        if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
            values = series.to_numpy()
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values if rows is None else values[rows]
        bad_text = None
    else:
        cells = factor(series, rows) if cells is None else cells
        values = cells.row_numbers()
        not_number = (cells.codes >= 0) & np.isnan(values)
        position = first_true(not_number)
        bad_text = None if position is None else BadCell(
            position, column, f"expected a number, got {str(cells.text[cells.codes[position]])!r}")
    position = None if np.isfinite(values.sum()) else first_true(np.isinf(values))
    bad_inf = None if position is None else BadCell(
        position, column, f"infinite value {str(values[position])!r}; only finite numbers are allowed")
    candidates = [bad for bad in (bad_text, bad_inf) if bad is not None]
    return values, min(candidates, key=lambda bad: bad.position, default=None)


def sort_labels(text: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, bool]:
    """Distinct labels sorted numerically when all are numbers, else as text; and whether they are numbers."""
    numeric = bool(len(text)) and bool(np.isfinite(numbers).all())
    order = np.argsort(numbers, kind="stable") if numeric else np.argsort(text, kind="stable")
    return text[order], numeric


def label_values(text: np.ndarray, numeric: bool) -> list:
    """Labels as Python values: ints when all are integral numbers, floats for other numbers, else strings."""
    if not numeric:
        return [str(label) for label in text]
    numbers = text.astype(np.float64)
    if np.all(numbers == np.trunc(numbers)):
        return [int(number) for number in numbers]
    return [float(number) for number in numbers]
