"""Scratch arrays kept from call to call, so that a training step allocates nothing once it has run once.

A layer, an activation or a loss owns one `Buffers`: it belongs to one layer (or one run), so its arrays
are never shared. The numpy helpers that need work space (`sigmoid`, `softmax`, `erf`, ...) take an optional
`Buffers` and fall back to fresh arrays without one.
"""

from __future__ import annotations

import numpy as np


class Buffers:
    """Named scratch arrays, reallocated only when a request no longer fits.

    `get(key, shape, dtype)` returns an uninitialised array of exactly that shape and dtype. The array kept
    under `key` is reused when its dtype and trailing dimensions match and it has at least `shape[0]` rows:
    a smaller batch (the last one of an epoch) gets a view of its first rows, so alternating batch sizes do
    not reallocate. A larger batch replaces it. The content is whatever the previous user left.
    """

    __slots__ = ("_arrays",)

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """The array under `key`, viewed or reallocated to `shape` and `dtype`."""
        array = self._arrays.get(key)
        if array is not None and array.dtype == dtype:
            if array.shape == shape:
                return array
            if shape and array.ndim == len(shape) and array.shape[1:] == shape[1:] \
                    and array.shape[0] >= shape[0]:
                return array[:shape[0]]  # C-contiguous, like the whole
        array = np.empty(shape, dtype=dtype)
        self._arrays[key] = array
        return array

    def like(self, key: str, array: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
        """An array under `key` with `array`'s shape (and dtype unless given)."""
        return self.get(key, array.shape, array.dtype if dtype is None else dtype)


def scratch(buffers: Buffers | None, key: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """`buffers.get(key, shape, dtype)`, or a fresh array when there is no holder."""
    if buffers is None:
        return np.empty(shape, dtype=dtype)
    return buffers.get(key, shape, dtype)
