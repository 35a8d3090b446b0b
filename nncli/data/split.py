"""Hold out a validation part of the training rows: seeded, stratified by class when labels are given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nncli.errors import DataError


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
        codes = (pd.factorize(np.asarray(labels))[0] + 1)[order]  # missing labels form class 0
        counts = np.bincount(codes)
        by_class = np.argsort(codes, kind="stable")
        starts = np.cumsum(counts) - counts
        rank = np.empty(n_rows, dtype=np.intp)
        rank[by_class] = np.arange(n_rows) - starts[codes[by_class]]
        held = rank < np.round(fraction * counts)[codes]
    in_valid = np.zeros(n_rows, dtype=bool)
    in_valid[order[held]] = True
    train, valid = np.flatnonzero(~in_valid), np.flatnonzero(in_valid)
    if not len(train) or not len(valid):
        empty = "validation" if not len(valid) else "training"
        raise DataError(f"too few rows ({n_rows}) to hold out a fraction of {fraction} for validation: "
                        f"the {empty} part would be empty; add rows, change the fraction, or set data.valid "
                        "to null (no validation) or to a CSV file", file=source, field="data.valid")
    return train, valid
