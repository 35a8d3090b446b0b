"""What row weights (data.weight, training.class_weight) cost per epoch of `nncli.train.fit`.

    python benchmarks/weights_bench.py [--steps 300] [--repeats 15]

Each workload runs the training loop's step (gather the batch, forward, loss, backward, adam: what
`nncli.train.fit` runs per batch) on the same network with and without a row-weight vector. A figure is the
fastest of many timings of a few hundred steps in the process's CPU time (`time.process_time`: time spent
waiting for a core does not count; run it with OPENBLAS_NUM_THREADS=1 so no BLAS thread spins), per step, both
sides interleaved: on a shared machine the fastest run is the one least disturbed by other processes, so the
ratio weighted / unweighted is what the weights themselves cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from nncli.config.schema import Regularization, Training
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.train import Settings, batch_step

# name -> (rows, features, hidden units, outputs, loss, batch size)
WORKLOADS = {
    "small tabular, softmax + CE": (20000, 20, 64, 3, "categorical_crossentropy", 32),
    "small tabular, sigmoid + BCE": (20000, 20, 64, 1, "binary_crossentropy", 32),
    "small tabular, mse": (20000, 20, 64, 2, "mse", 32),
    "wider, softmax + CE": (20000, 100, 256, 10, "categorical_crossentropy", 128),
}


def data(rows: int, features: int, outputs: int, loss: str, rng: np.random.Generator):
    x = rng.normal(size=(rows, features)).astype(np.float32)
    if loss == "categorical_crossentropy":
        y = np.eye(outputs, dtype=np.float32)[rng.integers(0, outputs, rows)]
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(rows, 1)).astype(np.float32)
    else:
        y = rng.normal(size=(rows, outputs)).astype(np.float32)
    return x, y, rng.uniform(0.2, 3.0, size=rows).astype(np.float32)


def step_runner(workload, weighted: bool):
    """A closure running `steps` training steps of the workload as `fit` does (gather, forward, loss, backward,
    adam), the row weights gathered and passed when `weighted`."""
    rows, features, hidden, outputs, loss, batch = workload
    rng = np.random.default_rng(0)
    x, y, w = data(rows, features, outputs, loss, rng)
    output = {"categorical_crossentropy": "softmax", "binary_crossentropy": "sigmoid"}.get(loss, "linear")
    model = Model([{"type": "dense", "units": hidden, "activation": "relu"},
                   {"type": "dense", "units": outputs, "activation": output}], features, dtype=np.float32, rng=rng)
    objective = Objective(LOSSES.create(loss), model.output_activation)
    optimizer = OPTIMIZERS.create("adam", lr=1e-3)
    optimizer.choose_engine(model.flat_params.size, 10**6)
    settings = Settings(Training(epochs=1, batch_size=batch), Regularization())
    params, grads = [model.flat_params], [model.flat_grads]
    order = rng.permutation(rows)
    batch_x = np.empty((batch, features), dtype=np.float32)
    batch_y = np.empty((batch, y.shape[1]), dtype=np.float32)
    batch_w = np.empty(batch, dtype=np.float32)

    def run(steps: int) -> None:
        for step in range(steps):
            start = (step * batch) % (rows - batch)
            index = order[start:start + batch]
            xb = x.take(index, axis=0, out=batch_x, mode="clip")
            yb = y.take(index, axis=0, out=batch_y, mode="clip")
            wb = w.take(index, out=batch_w, mode="clip") if weighted else None
            batch_step(model, objective, xb, yb, settings, wb)
            optimizer.step(params, grads)

    return run


def best_seconds(run, steps: int, repeats: int) -> float:
    """The fastest of `repeats` CPU timings of `steps` steps, per step: the least disturbed by other processes."""
    run(steps)  # warm-up: buffers and compiled kernels
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run(steps)
        best = min(best, time.process_time() - started)
        time.sleep(0.02)
    return best / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"{'workload':32} {'unweighted us/step':>19} {'weighted us/step':>17} {'ratio':>7}")
    for name, workload in WORKLOADS.items():
        plain, weighted = step_runner(workload, False), step_runner(workload, True)
        times: dict[bool, float] = {False: float("inf"), True: float("inf")}
        for round_index in range(2):  # interleaved: a slow stretch of the machine hits both
            for flag in ((False, True) if round_index == 0 else (True, False)):
                runner = weighted if flag else plain
                times[flag] = min(times[flag], best_seconds(runner, args.steps, args.repeats))
        base, with_weights = times[False] * 1e6, times[True] * 1e6
        print(f"{name:32} {base:19.1f} {with_weights:17.1f} {with_weights / base:7.3f}")


if __name__ == "__main__":
    main()
