"""Child process of the memory workload: train nncli through its Python API and print peak RSS as JSON.

    python benchmarks/memory_child.py --rows 60000 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import resource
import sys


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    import numpy as np

    from engines import nncli_epochs
    from workloads import MNIST_WIDTHS, mnist_like
    import nncli.nn.losses, nncli.nn.model, nncli.nn.optimizers, nncli.nn.schedules, nncli.train  # noqa: E401,F401

    baseline = peak_rss_bytes()
    data = mnist_like(args.rows)
    after_data = peak_rss_bytes()
    run = nncli_epochs(data.features, data.onehot, MNIST_WIDTHS, hidden="relu", output="softmax",
                       loss="categorical_crossentropy", optimizer={"type": "adam", "lr": 1e-3}, batch_size=128,
                       epochs=args.epochs)
    run()
    peak = peak_rss_bytes()
    print(json.dumps({"baseline": baseline, "after_data": after_data, "peak": peak,
                      "array_bytes": int(data.features.nbytes), "targets_bytes": int(data.onehot.nbytes),
                      "rows": args.rows, "epochs": args.epochs, "dtype": str(np.float32.__name__)}))


if __name__ == "__main__":
    main()
