"""Synthetic workloads for the benchmark: MNIST-shaped data, xor, an iris-sized set and a numeric CSV file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MNIST_WIDTHS = (784, 256, 128, 10)
LATENT = 32
CHUNK_ROWS = 4096


@dataclass(frozen=True)
class Classification:
    """Features, integer labels and the same labels one-hot (nncli's categorical_crossentropy targets)."""

    features: np.ndarray
    labels: np.ndarray
    onehot: np.ndarray

    def astype(self, dtype: np.dtype) -> Classification:
        return Classification(self.features.astype(dtype), self.labels, self.onehot.astype(dtype))


def one_hot(labels: np.ndarray, classes: int, dtype: np.dtype = np.float32) -> np.ndarray:
    """Rows of zeros with a one at each label."""
    result = np.zeros((labels.shape[0], classes), dtype=dtype)
    result[np.arange(labels.shape[0]), labels] = 1
    return result


def mnist_like(rows: int, seed: int = 0, classes: int = 10) -> Classification:
    """`rows` x 784 float32 inputs: a fixed random projection of class prototypes, plus noise.

    Built in row chunks straight into the float32 array, so the peak memory is the array plus a few MB
    (the memory workload measures the training run, not the generator).
    """
    rng = np.random.default_rng(seed)
    width = MNIST_WIDTHS[0]
    prototypes = rng.standard_normal((classes, LATENT), dtype=np.float32)
    projection = rng.standard_normal((LATENT, width), dtype=np.float32) / np.float32(np.sqrt(LATENT))
    labels = rng.integers(0, classes, rows)
    features = np.empty((rows, width), dtype=np.float32)
    latent = np.empty((CHUNK_ROWS, LATENT), dtype=np.float32)
    for start in range(0, rows, CHUNK_ROWS):
        block = features[start:start + CHUNK_ROWS]
        n = block.shape[0]
        rng.standard_normal(dtype=np.float32, out=block)
        block *= 0.8
        rng.standard_normal(dtype=np.float32, out=latent[:n])
        latent[:n] *= 0.5
        latent[:n] += prototypes[labels[start:start + n]]
        block += latent[:n] @ projection
    return Classification(features, labels, one_hot(labels, classes))


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The four xor rows (float32) and their 0/1 targets as a column."""
    features = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    targets = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return features, targets


def iris_like(seed: int = 0, rows: int = 150, classes: int = 3) -> Classification:
    """Iris-sized data: 150 x 4 float32, three Gaussian blobs."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), rows // classes)
    centers = rng.normal(0.0, 2.0, (classes, 4)).astype(np.float32)
    features = centers[labels] + rng.standard_normal((labels.size, 4), dtype=np.float32)
    return Classification(features, labels, one_hot(labels, classes))


def write_numeric_csv(path: Path, rows: int, columns: int = 21, seed: int = 0) -> Path:
    """A CSV of `columns - 1` float features `x0..` and a float `target` (a noisy linear function of them)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = rng.normal(0.0, 1.0, (rows, columns - 1)) * rng.uniform(0.1, 100.0, columns - 1)
    target = features @ rng.normal(0.0, 0.1, columns - 1) + rng.normal(0.0, 1.0, rows)
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(columns - 1)])
    frame["target"] = target
    frame.to_csv(path, index=False, float_format="%.6g")
    return path


def append_row_copy(source: Path, destination: Path) -> Path:
    """A copy of `source` with its last data row repeated once more: new content, so no cache can match it."""
    data = source.read_bytes()
    last_line = data[data.rstrip(b"\n").rfind(b"\n") + 1:]
    with open(destination, "wb") as handle:
        handle.write(data)
        handle.write(last_line if last_line.endswith(b"\n") else b"\n" + last_line + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return destination
