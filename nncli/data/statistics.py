"""Per-feature statistics from the training rows: the imputation value and the scaling offset and divisor."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from nncli.data.checks import Cells, as_numbers
from nncli.errors import DataError


def feature_statistics(cells: Cells, feature_names: list[str], categories: Mapping, scale: str, source: str,
                dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per feature: the imputation value (training mean), and the scaling offset and divisor.

    They are taken, in float64, from the numbers rounded to the network's `dtype` (one column at a time).
    """
    count = len(feature_names)
    impute, offset, divisor = np.full(count, np.nan), np.zeros(count), np.ones(count)
    for position, name in enumerate(feature_names):
        if name in categories:
            continue
        values = as_numbers(cells[name]).astype(dtype, copy=False).astype(np.float64, copy=False)
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
