"""Child process of the memory workload: train nncli through its Python API and print peak RSS as JSON.

    python benchmarks/memory_child.py --rows 60000 --epochs 2
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))  # nncli from this checkout when not installed


def peak_rss_bytes() -> int:
    """This process image's peak resident set size so far, in bytes.

    Linux: VmHWM of /proc/self/status, because ru_maxrss survives exec and so reports the parent's peak
    when the parent (the benchmark, with torch loaded) is larger than this child. Elsewhere: ru_maxrss.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from engines import nncli_epochs
    from workloads import MNIST_WIDTHS, mnist_like

    for module in ("nncli.nn.losses", "nncli.nn.model", "nncli.nn.optimizers", "nncli.nn.schedules", "nncli.train"):
        importlib.import_module(module)  # so that the baseline includes nncli's own imports
    baseline = peak_rss_bytes()
    data = mnist_like(args.rows)
    after_data = peak_rss_bytes()
    run = nncli_epochs(data.features, data.onehot, MNIST_WIDTHS, hidden="relu", output="softmax",
                       loss="categorical_crossentropy", optimizer={"type": "adam", "lr": 1e-3}, batch_size=128,
                       epochs=args.epochs)
    run()
    peak = peak_rss_bytes()
    print(json.dumps({"baseline": baseline, "after_data": after_data, "peak": peak,
                      "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "array_bytes": int(data.features.nbytes), "targets_bytes": int(data.onehot.nbytes),
                      "rows": args.rows, "epochs": args.epochs}))


if __name__ == "__main__":
    main()
