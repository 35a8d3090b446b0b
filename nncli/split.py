"""One part of the data as arrays: the record the data layer produces and the training loop consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from nncli.nn.graph import DATA_INPUT


@dataclass(frozen=True)
class Split:
    """Feature and target arrays of one part of the data.

    `frame_rows`, for data read from a CSV file, holds each row's label in it (file line - 2). `weights`, when
    set, holds each row's weight in the loss (`data.weight` times `training.class_weight`). `indices` holds each
    embedded column's category index per row (0: unknown or infrequent, 1..K: the column's vocabulary order).
    """

    features: np.ndarray
    targets: np.ndarray
    frame_rows: np.ndarray | None = None
    weights: np.ndarray | None = None
    indices: Mapping[str, np.ndarray] = field(default_factory=dict)

    def inputs(self) -> dict[str, np.ndarray]:
        """The model's named data inputs: the feature matrix as `input`, and each embedded column's indices."""
        return {DATA_INPUT: self.features, **self.indices}

    @property
    def rows(self) -> int:
        """Number of rows."""
        return self.features.shape[0]
