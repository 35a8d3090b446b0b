"""Cell-level helpers: numbers versus text, canonical labels, and the file line a row came from.

Every check here is vectorised: a column is factorised once (distinct values are few for text columns) and
the slow per-value work runs on the distinct values only, never per row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nncli.errors import quoted

MAX_LABEL_CHARS = 1000
"""The longest column name, category or class label: model.npz holds them in arrays as wide as the longest."""
# Parsing and preparing cost about a millisecond per column: a header of 500000 empty names took minutes.
MAX_COLUMNS = 10_000
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


def column_names_problem(names: Sequence[str], holder: str) -> str | None:
    """Why a table's column names are refused (too many, or one too long for model.npz), or None if they fit."""
    if len(names) > MAX_COLUMNS:
        return f"the {holder} has {len(names)} columns; nncli reads at most {MAX_COLUMNS}"
    for number, column in enumerate(names, start=1):
        if len(column) > MAX_LABEL_CHARS:
            return (f"the name of column {number} has {len(column)} characters; column names have at most "
                    f"{MAX_LABEL_CHARS}")
    return None


def short_number(number: float, digits: int | None = None) -> str:
    """A number as a person writes it (`1e39`, `0.25`): every digit it has, or `digits` significant ones."""
    text = repr(float(number)) if digits is None else f"{float(number):.{digits}g}"
    return text.replace("e+", "e")


def size_text(count: int) -> str:
    """Bytes for a person: `9.31 GiB`, `512 MiB`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


@dataclass(frozen=True)
class Factor:
    """A column as codes into its distinct values: `codes` is -1 where the cell is missing."""

    codes: np.ndarray
    text: np.ndarray  # canonical text of each distinct value (numbers as `number_text`)
    numbers: np.ndarray  # each distinct value as a float, NaN where it is not a number
    raw: np.ndarray | None = None  # the distinct values as read, for messages (numpy text drops trailing NULs)

    def shown(self, code: int) -> str:
        """Distinct value `code` for a message, quoted, exactly as read: `'0.571\\x00'`."""
        if self.raw is None or np.isfinite(self.numbers[code]):  # numbers in canonical form: '1.0' is '1'
            return quoted(self.text[code])
        return quoted(self.raw[code])

    def row_numbers(self) -> np.ndarray:
        """Per-row float values: NaN where the cell is missing or not a number."""
        return np.append(self.numbers, np.nan)[self.codes]

    def first_too_long(self) -> tuple[int, int] | None:
        """(row position, length) of the first cell longer than MAX_LABEL_CHARS (too long for a category or a
        label), or None."""
        if self.raw is None or not len(self.text) or np.char.str_len(self.text).max() <= MAX_LABEL_CHARS:
            return None
        too_long = np.append(np.char.str_len(self.text) > MAX_LABEL_CHARS, False)
        position = first_true(too_long[self.codes])
        return None if position is None else (position, len(str(self.raw[self.codes[position]])))

    def numeric_share(self) -> tuple[int, int]:
        """(cells that are numbers, non-missing cells)."""
        present = self.codes >= 0
        counts = np.bincount(self.codes[present], minlength=len(self.numbers))
        return int(counts[~np.isnan(self.numbers)].sum()), int(present.sum())


@dataclass(frozen=True)
class Marks:
    """Cell texts that mean "missing" beyond the empty cell and pandas' NA/NaN (`data.na_values`).

    A mark that reads as a number (`-999`) also matches that number however it is written (`-999.0`), as in
    pandas' `read_csv(na_values=...)`.
    """

    texts: frozenset[str] = frozenset()
    numbers: tuple[float, ...] = ()

    @classmethod
    def of(cls, na_values: Collection[str] = ()) -> Marks:
        """The marks for a list of cell texts."""
        numbers = pd.to_numeric(pd.Series(list(na_values), dtype=object), errors="coerce").dropna()
        return cls(frozenset(str(text) for text in na_values), tuple(float(number) for number in numbers))

    def __bool__(self) -> bool:
        return bool(self.texts)

    def number_mask(self, numbers: np.ndarray) -> np.ndarray:
        """True where a number equals a mark."""
        return np.isin(numbers, np.array(self.numbers, dtype=np.float64)) if self.numbers else \
            np.zeros(len(numbers), dtype=bool)


NO_MARKS = Marks()


def factor(series: pd.Series, rows: np.ndarray | None = None, marks: Marks = NO_MARKS) -> Factor:
    """Factorise a column (or its `rows`); cells that read as numbers get canonical text ("1.0" and "1" are one).

    Cells matching `marks` are missing (code -1).
    """
    codes, uniques = pd.factorize(series if rows is None else series.iloc[rows], use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.intp)
    if is_number_column(series):
        numbers = np.asarray(uniques, dtype=np.float64)
        return _unmarked(Factor(codes, number_text(numbers), numbers), marks.number_mask(numbers))
    objects = np.asarray(uniques, dtype=object)
    # A numpy text array is as wide as its longest value: a long cell (20 MB) is kept cut, one character past
    # the limit, so `first_too_long` still sees it; `raw` keeps it whole.
    text = np.array([str(value)[:MAX_LABEL_CHARS + 1] for value in objects], dtype=str) if len(objects) else \
        np.array([], dtype=str)
    numbers = pd.to_numeric(pd.Series(objects, dtype=object), errors="coerce").to_numpy(np.float64, copy=True)
    is_bool = np.fromiter((isinstance(value, (bool, np.bool_)) for value in objects), bool, len(objects))
    numbers[is_bool] = np.nan
    # compared whole, not as the cut text: a mark of any length still matches its cell exactly
    marked = (pd.Series(objects, dtype=object).astype(str).isin(marks.texts).to_numpy()
              | marks.number_mask(numbers)) if marks else None
    parsed = ~np.isnan(numbers)
    if parsed.any():
        text = np.where(parsed, number_text(numbers), text)
    return _unmarked(Factor(codes, text, numbers, objects), marked)


def _unmarked(cells: Factor, marked: np.ndarray | None) -> Factor:
    """The factor with the distinct values flagged in `marked` turned into missing cells."""
    if marked is None or not marked.any():
        return cells
    codes = np.where(np.append(marked, False)[cells.codes], -1, cells.codes)
    return Factor(codes, cells.text, cells.numbers, cells.raw)


def float_column(column: pd.Series) -> np.ndarray:
    """A numeric column as an array of floats, without a copy when it holds floats already."""
    values = column.to_numpy()
    return values if values.dtype.kind == "f" else column.to_numpy(dtype=np.float64, na_value=np.nan)


def canonical_text(texts: np.ndarray) -> np.ndarray:
    """Texts as `factor` compares them: those that read as numbers in canonical form ("6.0" -> "6")."""
    texts = np.asarray(texts, dtype=str)
    numbers = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(np.float64, copy=True)
    parsed = np.isfinite(numbers)
    return np.where(parsed, number_text(numbers), texts) if parsed.any() else texts


@dataclass(frozen=True)
class BadCell:
    """The first offending cell of a column: its row position, the column, what is wrong and what kind of
    problem it is: "text" (not a number), "infinite", or "overflow" (finite, but not in the run's dtype)."""

    position: int
    column: str
    message: str
    kind: str = "text"


def numeric_cells(series: pd.Series, column: str, rows: np.ndarray | None = None, cells: Factor | None = None,
                  dtype: np.dtype | str | None = None, marks: Marks = NO_MARKS) -> tuple[np.ndarray, BadCell | None]:
    """The column (or its `rows`) as floats, NaN where missing, and its first cell that is not a finite number.

    Float columns keep their dtype (float32 stays float32, without a copy); others become float64.
    `cells` is the column's Factor when the caller already has it. With `dtype` (the run's), a number that is
    finite as read but infinite in that dtype (1e39 in float32) is a problem too. Cells matching `marks` are missing.
    """
    bad_text = None
    if is_number_column(series):
        if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
            values = series.to_numpy()
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values if rows is None else values[rows]
        if marks.numbers:
            marked = marks.number_mask(values)
            values = np.where(marked, np.nan, values).astype(values.dtype, copy=False) if marked.any() else values
    else:
        cells = factor(series, rows, marks) if cells is None else cells
        values = cells.row_numbers()
        position = first_true((cells.codes >= 0) & np.isnan(values))
        if position is not None:
            bad_text = BadCell(position, column, f"expected a number, got {cells.shown(cells.codes[position])}")
    position = None if np.isfinite(values.sum()) else first_true(np.isinf(values))
    bad_inf = None if position is None else BadCell(
        position, column, f"infinite value {str(values[position])!r}; only finite numbers are allowed", "infinite")
    candidates = [bad for bad in (bad_text, bad_inf, _overflow(values, column, dtype)) if bad is not None]
    return values, min(candidates, key=lambda bad: bad.position, default=None)


def _overflow(values: np.ndarray, column: str, dtype: np.dtype | str | None) -> BadCell | None:
    """The first finite value that becomes infinite when cast to `dtype`."""
    if dtype is None or np.dtype(dtype).itemsize >= values.dtype.itemsize or not len(values):
        return None
    dtype = np.dtype(dtype)
    largest = float(np.finfo(dtype).max)
    # fmax and fmin skip missing cells; a column with none present compares False and takes the exact check
    if max(abs(np.fmax.reduce(values)), abs(np.fmin.reduce(values))) <= largest:
        return None
    with np.errstate(over="ignore"):
        position = first_true(np.isinf(values.astype(dtype)) & np.isfinite(values))
    if position is None:
        return None
    return BadCell(position, column, f"{short_number(values[position])} is too large for {dtype.name} (largest "
                   f"{short_number(largest, 2)}); use dtype: float64 or rescale the column", "overflow")


def sort_labels(text: np.ndarray, numbers: np.ndarray) -> tuple[np.ndarray, bool]:
    """Distinct labels sorted numerically when all are numbers, else as text; and whether they are numbers."""
    numeric = bool(len(text)) and bool(np.isfinite(numbers).all())
    order = np.argsort(numbers, kind="stable") if numeric else np.argsort(text, kind="stable")
    return text[order], numeric


def label_values(text: np.ndarray, numeric: bool) -> list:
    """Labels as Python values that print exactly as written: `6` an int, `6.0` and `0.5` floats, anything else
    (text labels, `1e3`, `06`) a string. So `str(value)` is always the label's text."""
    if not numeric:
        return [str(label) for label in text]
    return [_exact_value(str(label)) for label in text]


def _exact_value(text: str) -> int | float | str:
    try:
        whole = int(text)
        if str(whole) == text:
            return whole
    except ValueError:
        pass
    try:
        number = float(text)
        if repr(number) == text:
            return number
    except ValueError:
        pass
    return text


@dataclass(frozen=True)
class Options:
    """How cells are read: more missing-cell texts, and the columns kept as text."""

    na_values: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    def pandas(self, header: Collection[str]) -> dict:
        """The matching `pandas.read_csv` arguments for a file with these header names."""
        present = [name for name in self.text if name in header]
        return {"na_values": list(self.na_values) or None, "dtype": {name: str for name in present} or None}

    def key(self) -> dict:
        """The options as plain data, for the table cache's key (none when they are the defaults, so caches
        written before these options existed still serve)."""
        return {name: list(value) for name, value in (("na_values", self.na_values), ("text", self.text)) if value}
