"""Target standardization: the network learns `(y - offset) / divisor`, its outputs are mapped back.

Regression targets of any size (prices in the thousands) then meet a network initialised for values near 0:
the loss and its gradient are of order 1 from the first batch. The map is per output column and affine, so
predictions come back in the target's own units with `outputs · divisor + offset`.
"""

from __future__ import annotations

import numpy as np

from nncli.nn.losses import Loss


class TargetScale:
    """A per-column affine map between a target's own units and the standardized scale the network learns."""

    def __init__(self, offset: np.ndarray, divisor: np.ndarray, dtype: np.dtype | str):
        self.dtype = np.dtype(dtype)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.divisor = np.asarray(divisor, dtype=np.float64)
        # in the network's dtype, shaped (1, outputs) to broadcast over a batch without a temporary
        self._offset = self.offset.astype(self.dtype).reshape(1, -1)
        self._divisor = self.divisor.astype(self.dtype).reshape(1, -1)

    @classmethod
    def fit(cls, targets: np.ndarray, dtype: np.dtype | str) -> TargetScale:
        """Mean and standard deviation of each target column (a constant column keeps divisor 1)."""
        values = np.asarray(targets, dtype=np.float64)
        offset = values.mean(axis=0)
        divisor = values.std(axis=0)
        divisor[~(divisor > 0)] = 1.0
        return cls(offset, divisor, dtype)

    def standardize(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """`(values - offset) / divisor`, into `out` (which may be `values`) or a new array."""
        result = np.subtract(values, self._offset, out=out, dtype=self.dtype)
        result /= self._divisor
        return result

    def restore(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """`values · divisor + offset`: standardized outputs back in the target's own units."""
        result = np.multiply(values, self._divisor, out=out, dtype=self.dtype)
        result += self._offset
        return result


def scaled_loss(loss: Loss, scale: TargetScale | None, outputs: np.ndarray, targets: np.ndarray,
                weight: np.ndarray | None = None) -> float:
    """The loss of outputs and targets given in own units, taken on the scale the network learned (rows
    weighed by `weight`)."""
    if scale is None:
        return float(loss.forward(outputs, targets, weight=weight)[0])
    return float(loss.forward(scale.standardize(outputs), scale.standardize(targets), weight=weight)[0])
