"""Label columns as the model sees them: vocabularies learnt on the training rows, and one-hot slots.

A categorical feature's one-hot block holds, in order: one column per frequent training category (sorted
numerically when all are numbers, else as text), one shared `<infrequent>` column when `data.min_frequency`
made any category infrequent (scikit-learn's OneHotEncoder rule: a category seen in fewer than k training
rows), and one `<missing>` column under `missing: impute`. A category never seen in training is an error under
`data.unknown_category: error`; under `ignore` it goes to the `<infrequent>` column when there is one (the
infrequent and the unknown share a slot, as an embedding's row 0 does), else to none: an all-zero block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nncli.data.cells import Factor, line_of, size_text, sort_labels
from nncli.errors import DataError, format_values

UNKNOWN_CATEGORY = ("error", "ignore")
EXAMPLES = 3  # unseen categories a warning names


@dataclass(frozen=True)
class Vocabulary:
    """The distinct values of a label column in the training rows: canonical text (sorted), row counts, and the
    text each was first written as (`6.0` for the class that compares as `6`)."""

    keys: np.ndarray
    counts: np.ndarray
    written: np.ndarray
    numeric: bool


def vocabulary(cell: Factor, name: str, source: str) -> Vocabulary:
    """The vocabulary of a label column; a column with no value at all is a DataError."""
    counts = np.bincount(cell.codes[cell.codes >= 0], minlength=len(cell.text))
    present = np.flatnonzero(counts)
    if not present.size:
        raise DataError(f"column {name!r} has no values in the training data", file=source)
    # "1" and "1.0" in a text column are two codes with one canonical text: they are one value
    keys, first, inverse = np.unique(cell.text[present], return_index=True, return_inverse=True)
    totals = np.bincount(inverse, weights=counts[present]).astype(np.int64)
    firsts = present[first]
    written = cell.text[firsts] if cell.raw is None else np.array([str(value) for value in cell.raw[firsts]],
                                                                    dtype=str)
    order_keys, numeric = sort_labels(keys, cell.numbers[firsts])
    order = pd.Index(keys).get_indexer(order_keys)
    return Vocabulary(keys[order], totals[order], written[order], numeric)


def split_frequent(vocab: Vocabulary, min_frequency: int) -> tuple[list[str], list[str]]:
    """(frequent, infrequent) categories: infrequent ones were seen in fewer than `min_frequency` training rows."""
    frequent = vocab.counts >= min_frequency
    return [str(key) for key in vocab.keys[frequent]], [str(key) for key in vocab.keys[~frequent]]


@dataclass(frozen=True)
class Slots:
    """Where a categorical feature's values go in its one-hot block (positions within the block)."""

    categories: Sequence[str]
    infrequent: Sequence[str]
    missing: bool  # a `<missing>` column (missing: impute)

    @property
    def infrequent_slot(self) -> int | None:
        return len(self.categories) if self.infrequent else None

    @property
    def missing_slot(self) -> int | None:
        return len(self.categories) + bool(self.infrequent) if self.missing else None

    @property
    def width(self) -> int:
        return len(self.categories) + bool(self.infrequent) + self.missing

    def names(self, column: str) -> list[str]:
        """The input names of the block: `city=Tartu`, `city=<infrequent>`, `city=<missing>`."""
        return ([f"{column}={value}" for value in self.categories] + [f"{column}=<infrequent>"] * bool(self.infrequent)
                + [f"{column}=<missing>"] * self.missing)


def embedding_categories(slots: Slots) -> int:
    """The categories an embedding of this column tells apart (its table has one more row, row 0): the frequent
    ones, and `<missing>` under `missing: impute` (its own category, the table's last row)."""
    return len(slots.categories) + slots.missing


def embedding_rows(slots: Slots) -> np.ndarray:
    """Each one-hot position's embedding row, indexed by position + 1 (so that -1, an ignored unseen category,
    comes first): row 0 for unknown and infrequent categories, 1..K for the categories in vocabulary order, and
    the last row for `<missing>` under `missing: impute`."""
    rows = [0, *range(1, len(slots.categories) + 1)] + [0] * bool(slots.infrequent)
    rows += [len(slots.categories) + 1] * slots.missing
    return np.array(rows, dtype=np.intp)


def slot_codes(cell: Factor, slots: Slots, unknown: str, column: str, index: pd.Index,
               source: str | None, embedded: bool = False) -> tuple[np.ndarray, str | None]:
    """Each row's position in the block (-1: an all-zero block), and a warning line when categories unseen in
    training were ignored; an unseen category under `unknown: error` is a DataError naming it and its line.
    For an `embedded` column the messages name its embedding's row 0 instead of the one-hot encoding."""
    positions = pd.Index(list(slots.categories), dtype=object).get_indexer(cell.text)
    unseen = positions < 0
    if slots.infrequent:
        rare = pd.Index(list(slots.infrequent), dtype=object).get_indexer(cell.text) >= 0
        positions[rare] = slots.infrequent_slot
        unseen &= ~rare
    missing_slot = -1 if slots.missing_slot is None else slots.missing_slot
    per_row = unseen[cell.codes] & (cell.codes >= 0) if unseen.any() else None
    warning = None
    if per_row is not None and per_row.any():
        if unknown == "error":
            row = int(np.argmax(per_row))
            known = list(slots.categories) + list(slots.infrequent)
            raise DataError(f"column {column!r}: unknown category {cell.shown(cell.codes[row])}; known: "
                            f"{format_values(known)} (set data.unknown_category: ignore to encode categories unseen "
                            f"in training as {_unknown_encoding(slots, embedded)})",
                            file=source, line=line_of(index, row))
        warning = _unseen_warning(cell, per_row, unseen, slots, column, source, embedded)
        positions[unseen] = -1 if slots.infrequent_slot is None else slots.infrequent_slot
    return np.append(positions, missing_slot)[cell.codes], warning


def _unknown_encoding(slots: Slots, embedded: bool) -> str:
    """What an ignored unseen category becomes."""
    if embedded:
        return "the embedding's unknown row (row 0)"
    return "the infrequent column" if slots.infrequent else "all zeros"


def _unseen_warning(cell: Factor, per_row: np.ndarray, unseen: np.ndarray, slots: Slots, column: str,
                    source: str | None, embedded: bool) -> str:
    count = int(per_row.sum())
    examples = [cell.shown(code) for code in np.flatnonzero(unseen)[:EXAMPLES]]
    more = ", ..." if unseen.sum() > EXAMPLES else ""
    where = "the <infrequent> column" if slots.infrequent and not embedded else _unknown_encoding(slots, embedded)
    rows = "1 row holds a category" if count == 1 else f"{count} rows hold categories"
    prefix = f"{source}: " if source else ""
    return (f"{prefix}column {column!r}: {rows} not seen in training ({', '.join(examples)}{more}), encoded as "
            f"{where} (data.unknown_category: ignore)")


def class_codes(cell: Factor, keys: np.ndarray, written: np.ndarray, column: str, index: pd.Index,
                source: str | None) -> np.ndarray:
    """Per-row class positions among `keys` (canonical class texts, `written` as in the training CSV; -1 where
    missing); an unknown class is a DataError."""
    positions = np.append(pd.Index(keys, dtype=object).get_indexer(cell.text), -1)[cell.codes]
    unseen = (cell.codes >= 0) & (positions < 0)
    if unseen.any():
        row = int(np.argmax(unseen))
        raise DataError(f"column {column!r}: unknown class {cell.shown(cell.codes[row])}; known: "
                        f"{format_values(list(written))}", file=source, line=line_of(index, row))
    return positions


def check_classes(written: np.ndarray, name: str, encoding: str, source: str) -> None:
    """Classification needs two classes, binary cross-entropy exactly two."""
    shown = format_values(list(written))
    if len(written) < 2:
        raise DataError(f"column {name!r} has a single class ({shown}); classification needs at least 2",
                        file=source)
    if encoding == "binary" and len(written) != 2:
        raise DataError(f"column {name!r} has {len(written)} classes ({shown}); binary_crossentropy needs "
                        "exactly 2: use categorical_crossentropy with a softmax output", file=source)


def check_onehot_target(column: str, classes: int, rows: int, dtype: np.dtype, limit: int, source: str) -> None:
    """Refuse, before it is built, a one-hot target matrix of `rows` x `classes` over `limit` bytes."""
    needed = rows * classes * dtype.itemsize
    if needed > limit:
        raise DataError(f"column {column!r}: its {classes} classes make the one-hot target matrix {rows} rows x "
                        f"{classes} columns of {dtype.name}: {size_text(needed)}, over the limit of "
                        f"{size_text(limit)}; is it a number to predict? then use a regression loss such as mse",
                        file=source)


def text_array(values: Sequence[str] | np.ndarray) -> np.ndarray:
    """Texts as a numpy text array (for model.npz), empty ones included."""
    return np.array([str(value) for value in values], dtype=str) if len(values) else np.array([], dtype="<U1")
