"""Per-row sample weights from a column of the data (`data.weight`): non-negative numbers, not a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nncli.errors import DataError

FIRST_DATA_LINE = 2  # a row label is its file line minus 2 (the header is line 1)


def sample_weights(column: pd.Series, labels: np.ndarray, source: str, dtype: np.dtype) -> np.ndarray:
    """The weights of the rows labelled `labels` (file line - 2) from `column`, in `dtype`.

    A missing, non-numeric, infinite or negative weight is a DataError at its file line.
    """
    cells = column.loc[labels] if len(labels) else column.iloc[:0]
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64, copy=True)
    bad = ~(np.isfinite(numbers) & (numbers >= 0))
    if bad.any():
        first = int(np.argmax(bad))
        written = cells.iloc[first]
        if pd.isna(written):
            problem = "is missing"
        elif np.isnan(numbers[first]):
            problem = f"is {str(written)!r}, not a number"
        else:
            problem = f"is {written}; weights are finite numbers >= 0"
        raise DataError(f"the weight in column {column.name!r} {problem}", file=source,
                        line=int(labels[first]) + FIRST_DATA_LINE, field="data.weight")
    return numbers.astype(dtype)
