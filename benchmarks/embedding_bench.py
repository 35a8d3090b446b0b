"""An embedding of 10000 categories x 16 against the one-hot equivalent, per epoch of `nncli.train.fit`.

    python benchmarks/embedding_bench.py [--rows 20000] [--repeats 5]

Three networks learn the same task (a label decided by a per-category effect and two numeric columns) with the
same head (dense 32 relu, dense 1 sigmoid, binary cross-entropy, adam, batch 128, shuffled):

- `embedding`: the category as an index array, `{type: embedding, dim: 16}` joined to the numbers by `concat`;
- `one-hot -> dense 16`: the category as a one-hot block (10001 columns, with the unknown one) into a bias-free
  linear dense layer of 16 units: the same lookup (one-hot @ W is row `index` of W) and parameter count (the
  two numbers go through that layer too, 2 of its 10003 inputs, since a column slice is not a layer);
- `one-hot input`: the one-hot block and the numbers as one input matrix straight into the dense 32 layer, the
  way a one-hot column usually enters the network.

Each figure is the fastest of `--repeats` epochs in the process's CPU time (`time.process_time`: waiting for a
core does not count), the three interleaved. A second table times the embedding's table gradient (a batch's
rows summed into a dense (10001, 16) table) by the ways that give the exact sum.
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

from nncli.build import build_schedule
from nncli.config.schema import Regularization, Training
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.split import Split
from nncli.train import Settings, TrainingState, fit

CATEGORIES, DIM, BATCH = 10000, 16, 128
HEAD = [{"type": "dense", "name": "hidden", "units": 32, "activation": "relu"},
        {"type": "dense", "name": "out", "units": 1, "activation": "sigmoid"}]


def task(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two numbers, a category index (1..CATEGORIES; 0 is the unknown row) and a 0/1 label."""
    numbers = rng.normal(size=(rows, 2)).astype(np.float32)
    index = rng.integers(1, CATEGORIES + 1, size=rows)
    effect = rng.normal(size=CATEGORIES + 1)
    label = (effect[index] + numbers[:, 0] - numbers[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    return numbers, index, label


def one_hot(index: np.ndarray) -> np.ndarray:
    block = np.zeros((len(index), CATEGORIES + 1), dtype=np.float32)
    block[np.arange(len(index)), index] = 1
    return block


def setups(rows: int) -> dict[str, tuple[Model, Split]]:
    numbers, index, label = task(rows, np.random.default_rng(0))
    block = one_hot(index)
    joined = [{"type": "concat", "name": "joined", "inputs": ["input", "category"]}]
    embedding = [{"type": "embedding", "name": "category", "column": "category", "dim": DIM}]
    linear = [{"type": "dense", "name": "category", "units": DIM, "use_bias": False, "inputs": ["input"]}]
    numeric_then_block = np.concatenate([numbers, block], axis=1)
    return {
        "embedding": (Model(embedding + joined + HEAD, 2, rng=np.random.default_rng(1),
                            categories={"category": CATEGORIES}),
                      Split(numbers, label, indices={"category": index})),
        # a column slice is not a layer: the numbers ride along in the dense 16 (2 of its 10003 inputs)
        "one-hot -> dense 16": (Model(linear + HEAD, numeric_then_block.shape[1], rng=np.random.default_rng(1)),
                                Split(numeric_then_block, label)),
        "one-hot input": (Model(HEAD, numeric_then_block.shape[1], rng=np.random.default_rng(1)),
                          Split(numeric_then_block, label)),
    }


def epoch_seconds(model: Model, split: Split, rng: np.random.Generator) -> float:
    """CPU seconds of one shuffled epoch of the real loop."""
    objective = Objective(LOSSES.create("binary_crossentropy"), model.output_activation)
    optimizer = OPTIMIZERS.get("adam").from_config({"type": "adam", "lr": 1e-3})
    settings = Settings(Training(epochs=1, batch_size=BATCH, shuffle=True), Regularization())
    started = time.process_time()
    for _ in fit(model, objective, optimizer, build_schedule({"type": "constant"}), split, None, settings, rng,
                 TrainingState(), base_lr=1e-3):
        pass
    return time.process_time() - started


def gradient_ways(rng: np.random.Generator) -> dict:
    """Exact ways to sum a batch's (BATCH, DIM) gradient rows into the dense table gradient."""
    index = rng.integers(0, CATEGORIES + 1, size=BATCH)
    grad_output = rng.normal(size=(BATCH, DIM)).astype(np.float32)
    table = np.zeros((CATEGORIES + 1, DIM), dtype=np.float32)

    def add_at():
        table.fill(0)
        np.add.at(table, index, grad_output)

    def sorted_reduceat():  # rows of one index summed in batch order, as add.at does: the same floats
        table.fill(0)
        order = np.argsort(index, kind="stable")
        keys = index[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        table[keys[starts]] = np.add.reduceat(grad_output[order], starts, axis=0)

    def one_hot_matmul():  # the one-hot block's weight gradient: block.T @ grad_output
        np.matmul(one_hot(index).T, grad_output, out=table)

    return {"np.add.at (used)": add_at, "argsort + np.add.reduceat": sorted_reduceat,
            "one-hot block.T @ grad": one_hot_matmul}


def best_of(function, repeats: int, calls: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(calls):
            function()
        times.append((time.process_time() - started) / calls)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = setups(args.rows)
    rng = np.random.default_rng(2)
    for model, split in cases.values():  # warm-up: buffers, BLAS threads
        epoch_seconds(model, split, rng)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, (model, split) in cases.items():
            times[name].append(epoch_seconds(model, split, rng))
    base = min(times["embedding"])
    print(f"{args.rows} rows, {CATEGORIES} categories, batch {BATCH}, adam; fastest of {args.repeats} epochs (CPU s)")
    print(f"{'network':<24}{'parameters':>12}{'epoch s':>10}{'x embedding':>13}")
    for name, (model, _) in cases.items():
        print(f"{name:<24}{model.parameter_count():>12,}{min(times[name]):>10.3f}{min(times[name]) / base:>13.1f}")
    print(f"\ntable gradient of one batch ({BATCH} x {DIM} into {CATEGORIES + 1} x {DIM}), fastest of 5 x 200 calls")
    for name, function in gradient_ways(np.random.default_rng(3)).items():
        print(f"{name:<28}{best_of(function, 5, 200) * 1e6:>10.1f} us")


if __name__ == "__main__":
    main()
