"""One part of the data as arrays: the record the data layer produces and the training loop consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Feature and target arrays of one part of the data.

    `frame_rows`, for data read from a CSV file, holds each row's label in it (file line - 2). `weights`, when
    set, holds each row's weight in the loss (`data.weight` times `training.class_weight`).
    """

    features: np.ndarray
    targets: np.ndarray
    frame_rows: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def rows(self) -> int:
        """Number of rows."""
        return self.features.shape[0]
