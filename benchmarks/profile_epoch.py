"""Where one nncli epoch of the MNIST-shaped workload spends its time.

    python benchmarks/profile_epoch.py [--rows N] [--float64] [--top K]

Two views: a cProfile of one `nncli.train.fit` epoch (top functions by own time; numpy's ufuncs such as
`matmul` are not profiled separately, so their time shows in the Python function that calls them), and a
phase breakdown of the same batch loop timed piece by piece (gather, forward, loss, backward, optimizer),
next to the bare matrix products of an epoch.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from engines import dense_specs, matmul_epochs, nncli_epochs
from workloads import MNIST_WIDTHS, mnist_like

ADAM = {"type": "adam", "lr": 1e-3}
BATCH = 128


def profile_fit(features: np.ndarray, onehot: np.ndarray, top: int) -> str:
    """cProfile of one epoch of `nncli.train.fit`, after one warm-up epoch."""
    run = nncli_epochs(features, onehot, MNIST_WIDTHS, hidden="relu", output="softmax",
                       loss="categorical_crossentropy", optimizer=ADAM, batch_size=BATCH)
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def phases(features: np.ndarray, onehot: np.ndarray, epochs: int = 2) -> dict[str, float]:
    """Seconds per epoch of each step of nncli's batch loop (as in `nncli.train.fit`), last of `epochs`."""
    from nncli.nn.losses import LOSSES
    from nncli.nn.model import Model
    from nncli.nn.objective import Objective
    from nncli.nn.optimizers import OPTIMIZERS

    rng = np.random.default_rng(0)
    model = Model(dense_specs(MNIST_WIDTHS, "relu", "softmax"), MNIST_WIDTHS[0], dtype=features.dtype, rng=rng)
    objective = Objective(LOSSES.create("categorical_crossentropy"), model.output_activation)
    optimizer = OPTIMIZERS.get("adam").from_config(ADAM)
    params = [param for _, param, _ in model.parameters]
    grads = [grad for _, _, grad in model.parameters]
    rows = features.shape[0]
    batch_x = np.empty((BATCH, features.shape[1]), dtype=features.dtype)
    batch_y = np.empty((BATCH, onehot.shape[1]), dtype=onehot.dtype)
    outputs = np.empty((rows, MNIST_WIDTHS[-1]), dtype=features.dtype)
    clock = time.perf_counter
    for _ in range(epochs):
        totals = dict.fromkeys(("shuffle + gather", "forward", "loss (fused softmax)", "backward",
                                "optimizer (adam)", "keep outputs"), 0.0)
        started = clock()
        order = rng.permutation(rows)
        for start in range(0, rows, BATCH):
            t0 = clock()
            index = order[start:start + BATCH]
            n = index.shape[0]
            x = np.take(features, index, axis=0, out=batch_x[:n])
            y = np.take(onehot, index, axis=0, out=batch_y[:n])
            t1 = clock()
            logits = model.forward(x, training=True)
            t2 = clock()
            _, grad = objective.value_and_grad(logits, y)
            t3 = clock()
            model.backward(grad)
            t4 = clock()
            optimizer.step(params, grads)
            t5 = clock()
            outputs[index] = logits
            t6 = clock()
            for key, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                totals[key] += seconds
        totals["epoch (this loop)"] = clock() - started
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--float64", action="store_true")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    data = mnist_like(args.rows)
    dtype = np.float64 if args.float64 else np.float32
    features, onehot = data.features.astype(dtype, copy=False), data.onehot.astype(dtype, copy=False)
    print(f"one nncli epoch: {args.rows} x 784, 784-256-128-10 relu, softmax + CE, adam, batch {BATCH}, "
          f"{np.dtype(dtype).name}\n")
    print(profile_fit(features, onehot, args.top))
    totals = phases(features, onehot)
    limit = matmul_epochs(features, MNIST_WIDTHS, batch_size=BATCH)
    limit()
    started = time.perf_counter()
    limit()
    matmul_seconds = time.perf_counter() - started
    epoch = totals["epoch (this loop)"]
    print("phase breakdown of the same loop (seconds per epoch, share of the epoch):")
    for key, seconds in totals.items():
        print(f"  {key:<22} {seconds:7.3f} s  {seconds / epoch:6.1%}")
    print(f"  {'bare matmuls (3 + 5)':<22} {matmul_seconds:7.3f} s  {matmul_seconds / epoch:6.1%}")


if __name__ == "__main__":
    main()
