"""Workloads 3-5: CSV loading against pandas, peak memory of a training run, and `nncli --help` start-up."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from report import Target, megabytes, seconds, table
from timing import interleaved, median, spread
from workloads import append_row_copy, write_numeric_csv

HERE = Path(__file__).resolve().parent
CACHE_MODULES = ("nncli.data.cache", "nncli.cache")
CSV_ROWS, CSV_COLUMNS = 500_000, 21
SECOND = "nncli second load (cached)"


def cache_module() -> str | None:
    """The module of nncli's binary CSV cache, if it exists yet."""
    for name in CACHE_MODULES:
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except ModuleNotFoundError:
            continue
    return None


def _cache_state(name: str | None) -> str:
    if name is None:
        return "none (no nncli.data.cache or nncli.cache module)"
    enabled = getattr(importlib.import_module(name), "enabled", None)
    state = "" if enabled is None else (", enabled" if enabled() else ", DISABLED by the environment")
    return f"{name}{state}"


def bench_csv(quick: bool, repeats: int, tmp: Path) -> tuple[str, list[Target], dict]:
    """Workload 3: pandas.read_csv alone vs nncli's first load (read_table + preprocessing) and cached load.

    Each round loads a fresh copy of the file with one row appended, so no cache (beside the file or keyed by
    its content) can serve the "first" load; the copy is written and fsync'd before the clock starts.
    """
    import pandas as pd

    from nncli.config import config_from_dict
    from nncli.data import load_datasets, read_table

    source = write_numeric_csv(tmp / "numeric.csv", CSV_ROWS, CSV_COLUMNS)
    cache = cache_module()
    rounds: dict[str, Path] = {}

    def fresh_copy(name: str, round_index: int) -> None:
        if name not in ("nncli read_table", "nncli first load"):
            return  # pandas reads the original; the second load reads this round's first-load copy
        old = rounds.pop(name, None)
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
        folder = tmp / f"round{round_index + 1}-{name.split()[1]}"
        folder.mkdir()
        rounds[name] = append_row_copy(source, folder / "numeric.csv")

    def load(name: str) -> None:
        config = config_from_dict({"data": {"train": str(rounds[name]), "target": "target", "valid": None},
                                   "layers": [{"type": "dense", "units": 1}], "loss": "mse"}, base_dir=tmp)
        load_datasets(config.data, np.random.default_rng(0), task="regression", encoding="values", dtype=np.float32)

    calls = {"pandas.read_csv": lambda: pd.read_csv(source),
             "nncli read_table": lambda: read_table(rounds["nncli read_table"]),
             "nncli first load": lambda: load("nncli first load")}
    if cache is not None:
        calls[SECOND] = lambda: load("nncli first load")
    pd.read_csv(source)  # the page cache holds the file for everyone
    times = interleaved(calls, repeats, before=fresh_copy, rotate=False)
    for path in rounds.values():
        shutil.rmtree(path.parent, ignore_errors=True)
    medians = {name: median(values) for name, values in times.items()}
    pandas_time = medians["pandas.read_csv"]
    rows = [[name, f"{seconds(value)} ({spread(times[name])})", f"{value / pandas_time:.2f}"]
            for name, value in medians.items()]
    if cache is None:
        rows.append([SECOND, "n/a: no cache module yet", "-"])
    size = source.stat().st_size
    text = (f"3. CSV: {CSV_ROWS} x {CSV_COLUMNS} numeric file ({megabytes(size)}), warm page cache; "
            f"median of {repeats} (min-max)\n"
            "   first load = nncli.data.load_datasets (read_table + preprocessing to float32 arrays, "
            "scale: standard, valid: null) of a fresh copy; second load = the same call again\n"
            f"   cache: {_cache_state(cache)}\n"
            + table(["load", "time", "/ pandas"], rows))
    best = {name: min(values) for name, values in times.items()}
    second = medians.get(SECOND)
    targets = [Target("csv", "nncli first load / pandas.read_csv", medians["nncli first load"] / pandas_time, 1.5,
                      best=best["nncli first load"] / best["pandas.read_csv"]),
               Target("csv", "nncli second (cached) load / pandas.read_csv",
                      None if second is None else second / pandas_time, 0.1,
                      note="" if cache is not None else "n/a: no cache yet",
                      best=None if second is None else best[SECOND] / best["pandas.read_csv"])]
    return text, targets, {"file_bytes": size, "cache_module": cache, **medians}


def bench_memory(quick: bool, repeats: int, tmp: Path) -> tuple[str, list[Target], dict]:
    """Workload 4: peak RSS of a child process training nncli for 2 (quick: 1) epochs on 60000 x 784 float32."""
    epochs = 1 if quick else 2
    completed = subprocess.run([sys.executable, str(HERE / "memory_child.py"), "--rows", "60000",
                                "--epochs", str(epochs)], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{completed.stderr}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    array, baseline, peak = result["array_bytes"], result["baseline"], result["peak"]
    rows = [["float32 training array (60000 x 784)", megabytes(array), "1.00"],
            ["baseline RSS after imports", megabytes(baseline), f"{baseline / array:.2f}"],
            ["peak RSS after generating the data", megabytes(result["after_data"]),
             f"{result['after_data'] / array:.2f}"],
            [f"peak RSS after {epochs} training epoch(s)", megabytes(peak), f"{peak / array:.2f}"],
            ["peak - baseline", megabytes(peak - baseline), f"{(peak - baseline) / array:.2f}"]]
    text = (f"4. Memory: peak RSS of a child process training nncli through its Python API (nncli.train.fit, "
            f"{epochs} epoch(s), adam, batch 128)\n   peak = VmHWM from /proc/self/status (ru_maxrss would "
            "carry the parent's peak over exec)\n" + table(["quantity", "size", "/ array"], rows))
    targets = [Target("memory", "(peak - baseline after imports) / float32 array", (peak - baseline) / array, 3.0,
                      note=f"peak / array = {peak / array:.2f}")]
    return text, targets, result


def help_command() -> list[str] | None:
    """`nncli --help` through the console script, else `python -m nncli --help`; None if neither works."""
    script = Path(sys.executable).parent / "nncli"
    candidates = [[str(script), "--help"]] if script.exists() else []
    candidates.append([sys.executable, "-m", "nncli", "--help"])
    for command in candidates:
        if subprocess.run(command, capture_output=True, check=False).returncode == 0:
            return command
    return None


def _wall(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def heaviest_imports(count: int = 5) -> list[tuple[str, float]]:
    """The top-level imports of `python -m nncli --help` with the largest cumulative time (-X importtime)."""
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "nncli", "--help"],
                               capture_output=True, text=True, check=False)
    entries = []
    for line in completed.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("  "):
            entries.append((parts[2].strip(), int(parts[1]) / 1e6))
    return sorted(entries, key=lambda entry: -entry[1])[:count]


def bench_startup(quick: bool, repeats: int, tmp: Path) -> tuple[str, list[Target], dict]:
    """Workload 5: wall time of `nncli --help` in a subprocess, median of 5 after one warm-up."""
    command = help_command()
    if command is None:
        return "5. Startup: neither `nncli --help` nor `python -m nncli --help` exits 0", \
            [Target("startup", "nncli --help wall time (s)", None, 0.3)], {}
    _wall(command, 1)
    times = _wall(command, 5)
    bare = _wall([sys.executable, "-c", "pass"], 5)
    shown = " ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command))
    rows = [[shown, f"{seconds(median(times))} ({spread(times)})"],
            ["python -c pass (interpreter alone)", f"{seconds(median(bare))} ({spread(bare)})"]]
    imports = heaviest_imports()
    text = ("5. Startup: wall time in a subprocess, median of 5 (min-max)\n" + table(["command", "time"], rows)
            + "\n  heaviest top-level imports (-X importtime, cumulative): "
            + ", ".join(f"{name} {value * 1e3:.0f} ms" for name, value in imports))
    targets = [Target("startup", "nncli --help wall time (s)", median(times), 0.3)]
    return text, targets, {"command": command, "seconds": median(times), "python_seconds": median(bare),
                           "imports": imports}
