"""Hold out a validation part of the training rows: seeded, stratified by class when labels are given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nncli.data.cells import number_text
from nncli.errors import DataError, quoted


def split_indices(n_rows: int, fraction: float, rng: np.random.Generator, labels: np.ndarray | None = None,
                  *, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) row positions, each in file order; each class holds out round(fraction * its count)."""
    if not 0 < fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1, got {fraction}", file=source)
    order = rng.permutation(n_rows)
    if labels is None:
        held = np.arange(n_rows) < round(fraction * n_rows)
    else:
        if len(labels) != n_rows:
            raise ValueError(f"{len(labels)} labels for {n_rows} rows")
        # Rank each row within its class in the shuffled order; the first round(fraction * count) are held out.
        codes, counts, rank, uniques = _class_ranks(order, labels)
        held_counts = np.round(fraction * counts)
        _check_classes_kept(counts, held_counts, uniques, fraction, source)
        held = rank < held_counts[codes]
    in_valid = np.zeros(n_rows, dtype=bool)
    in_valid[order[held]] = True
    train, valid = np.flatnonzero(~in_valid), np.flatnonzero(in_valid)
    if not len(train) or not len(valid):
        empty = "validation" if not len(valid) else "training"
        raise DataError(f"too few rows ({n_rows}) to hold out a fraction of {fraction} for validation: "
                        f"the {empty} part would be empty; add rows, change the fraction, or set data.valid "
                        "to null (no validation) or to a CSV file", file=source, field="data.valid")
    return train, valid


def fold_numbers(n_rows: int, folds: int, rng: np.random.Generator,
                 labels: np.ndarray | None = None) -> np.ndarray:
    """Each row's fold (0 to folds-1): rows shuffled by `rng`, dealt round-robin, within each class when
    `labels` are given (stratified: every fold holds each class's share, give or take one row)."""
    order = rng.permutation(n_rows)
    if labels is None:
        dealt = np.arange(n_rows) % folds
    else:
        if len(labels) != n_rows:
            raise ValueError(f"{len(labels)} labels for {n_rows} rows")
        codes, counts, rank, _ = _class_ranks(order, labels)
        # each class starts where the previous one stopped, so small classes do not all land in fold 0
        offsets = np.cumsum(counts) - counts
        dealt = (rank + offsets[codes]) % folds
    numbers = np.empty(n_rows, dtype=np.intp)
    numbers[order] = dealt
    return numbers


def _class_ranks(order: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the rows in shuffled `order`: class codes (0: missing label), rows per class, each row's rank within
    its class, and the class labels (code c is label c-1)."""
    codes, uniques = pd.factorize(np.asarray(labels))
    codes = (codes + 1)[order]  # missing labels form class 0
    counts = np.bincount(codes, minlength=len(uniques) + 1)
    by_class = np.argsort(codes, kind="stable")
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(order), dtype=np.intp)
    rank[by_class] = np.arange(len(order)) - starts[codes[by_class]]
    return codes, counts, rank, uniques


def _check_classes_kept(counts: np.ndarray, held_counts: np.ndarray, uniques: np.ndarray, fraction: float,
                        source: str | None) -> None:
    """A class whose every row would be held out is unknown to the trained model: refuse it, by name."""
    lost = np.flatnonzero((held_counts >= counts) & (counts > 0))
    lost = lost[lost > 0]  # class 0 holds the rows without a label
    if not lost.size:
        return
    smallest = int(lost[np.argmin(counts[lost])])
    label, count = _label_text(uniques[smallest - 1]), int(counts[smallest])
    others = f" (and {lost.size - 1} more such classes)" if lost.size > 1 else ""
    rows = "its only row" if count == 1 else f"all {count} of its rows"
    raise DataError(f"class {quoted(label)} has too few rows for a validation fraction of {fraction}: {rows} would be "
                    f"held out, leaving none to train on{others}; use a smaller fraction or add rows of that class",
                    file=source, field="data.valid")


def _label_text(value: object) -> str:
    """A class label as the data writes it: 3.0 read as a number is 3."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return str(number_text(np.array([value]))[0])
    return str(value)
