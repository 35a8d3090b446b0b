"""nncli's speed benchmark (issue 5): nncli side by side with PyTorch, scikit-learn, pandas and the BLAS limit.

    python benchmarks/run.py [--quick] [--only NAME[,NAME...]] [--repeats K] [--wait-quiet SECONDS] [--json FILE]

Workloads: mnist, small, csv, memory, startup (see benchmarks/README.md). Every workload is generated in a
temporary directory; each timing is the median of K interleaved repeats, and the issue's targets are checked
as ratios measured in the same run. PyTorch and scikit-learn are optional.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # nncli from this checkout when it is not installed

from io_bench import bench_csv, bench_memory, bench_startup
from report import OtherLoad, Target, header, target_table, wait_until_quiet
from training_bench import bench_mnist, bench_small

WORKLOADS = {"mnist": bench_mnist, "small": bench_small, "csv": bench_csv, "memory": bench_memory,
             "startup": bench_startup}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (N=20000 for mnist), 3 repeats")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these workloads (repeatable or comma-separated): {', '.join(WORKLOADS)}")
    parser.add_argument("--repeats", type=int, default=None, metavar="K",
                        help="timed repeats per measurement (default 7, 3 with --quick)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each workload, wait up to SECONDS for other processes to go idle")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    names = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; valid: {', '.join(WORKLOADS)}")
    args.only = names or list(WORKLOADS)
    args.repeats = args.repeats or (3 if args.quick else 7)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the chosen workloads, print their tables and the target summary; 0 when every target passes."""
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401  (imported first so the header lists its libraries)
    print(header(argv), flush=True)
    targets: list[Target] = []
    results: dict = {}
    whole_run = OtherLoad()
    with tempfile.TemporaryDirectory(prefix="nncli-bench-") as tmp:
        os.environ["NNCLI_CACHE_DIR"] = str(Path(tmp) / "cache")  # its CSV copies' caches go with them
        for name in args.only:
            if args.wait_quiet > 0:
                wait_until_quiet(args.wait_quiet)
            started, load = time.perf_counter(), OtherLoad()
            bench = WORKLOADS[name]
            if name in ("mnist", "small"):
                text, found, result = bench(args.quick, args.repeats)
            else:
                folder = Path(tmp) / name
                folder.mkdir()
                text, found, result = bench(args.quick, args.repeats, folder)
            print(f"\n{text}\n  ({time.perf_counter() - started:.0f} s for this workload{load.describe()})",
                  flush=True)
            targets += found
            results[name] = result
    print("\nTargets (issue 5), ratios measured side by side in this run\n" + target_table(targets))
    failed = [target for target in targets if target.status == "FAIL"]
    print(f"\n{sum(t.status == 'PASS' for t in targets)} passed, {len(failed)} failed, "
          f"{sum(t.status == 'skipped' for t in targets)} skipped{whole_run.describe()}")
    if args.json is not None:
        results["targets"] = [{**vars(target), "status": target.status} for target in targets]
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


def main() -> None:
    argv = sys.argv[1:]
    sys.exit(run(parse_args(argv), argv))


if __name__ == "__main__":
    main()
