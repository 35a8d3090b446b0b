"""Plain-text tables, target rows (ratio vs limit, PASS/FAIL) and the environment header."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NOT_INSTALLED = "not installed"
QUIET_CPUS = 0.25  # above this much CPU use by other processes, a 2-core BLAS benchmark is not trustworthy
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS")


@dataclass
class Target:
    """One of the issue's targets: `value` must be <= `limit` ("max") or >= `limit` ("min")."""

    workload: str
    label: str
    value: float | None
    limit: float
    kind: str = "max"
    note: str = ""
    best: float | None = None  # the same ratio from the fastest repeat of each side, for noisy machines

    @property
    def status(self) -> str:
        if self.value is None:
            return "skipped"
        ok = self.value <= self.limit if self.kind == "max" else self.value >= self.limit
        return "PASS" if ok else "FAIL"

    def row(self) -> list[str]:
        sign = "<=" if self.kind == "max" else ">="
        value = "-" if self.value is None else f"{self.value:.3g}"
        best = "-" if self.best is None else f"{self.best:.3g}"
        return [self.label, value, best, f"{sign} {self.limit:g}", self.status, self.note]


def table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    """Columns right-aligned, except the first and those with an empty header (notes)."""
    cells = [headers, *rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        parts = [str(cell).ljust(widths[i]) if i == 0 or not headers[i] else str(cell).rjust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append(indent + "  ".join(parts).rstrip())
        if index == 0:
            lines.append(indent + "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def target_table(targets: list[Target]) -> str:
    return table(["target", "ratio", "(best)", "limit", "result", ""], [target.row() for target in targets])


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1.0:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


def megabytes(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


class OtherLoad:
    """CPU time that other processes used while this one ran (Linux /proc/stat), in average CPUs busy."""

    def __init__(self) -> None:
        self.start_busy, self.start_own, self.start_wall = _busy_seconds(), _own_seconds(), time.perf_counter()

    def cpus(self) -> float | None:
        busy = _busy_seconds()
        if busy is None or self.start_busy is None:
            return None
        others = (busy - self.start_busy) - (_own_seconds() - self.start_own)
        return max(others, 0.0) / max(time.perf_counter() - self.start_wall, 1e-9)

    def describe(self) -> str:
        cpus = self.cpus()
        if cpus is None:
            return ""
        warning = " (NOISY: BLAS threads contend with them, figures unreliable)" if cpus > QUIET_CPUS else ""
        return f"; other processes kept {cpus:.2f} of {os.cpu_count()} CPUs busy meanwhile{warning}"


def wait_until_quiet(max_seconds: float, window: float = 3.0) -> float | None:
    """Wait (at most `max_seconds`) for a `window` in which other processes use under QUIET_CPUS CPUs."""
    deadline = time.perf_counter() + max_seconds
    while True:
        load = OtherLoad()
        time.sleep(window)
        cpus = load.cpus()
        if cpus is None or cpus < QUIET_CPUS or time.perf_counter() >= deadline:
            return cpus


def _busy_seconds() -> float | None:
    """user + nice + system + irq + softirq time of the whole machine so far."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except ImportError:
        return NOT_INSTALLED


def blas_lines() -> list[str]:
    """Which BLAS/OpenMP libraries numpy, torch and scikit-learn loaded, with their thread counts."""
    import numpy as np

    lines = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        lines.append(f"numpy BLAS: {blas.get('name', '?')} {blas.get('version', '')} (threadpoolctl not installed)")
    else:
        for info in threadpool_info():
            path = Path(info["filepath"])
            where = f"{path.parent.name}/{path.name}"
            arch = f", {info['architecture']}" if info.get("architecture") else ""
            lines.append(f"{info['internal_api']} {info.get('version') or ''}{arch}, "
                         f"{info['num_threads']} threads: {where}")
    try:
        import torch
    except ImportError:
        pass
    else:
        config = torch.__config__.show()
        blas = next((part.split("=", 1)[1] for part in config.replace(",", " ").split()
                     if part.startswith("BLAS_INFO=")), "?")
        onednn = "oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN"
        lines.append(f"torch: BLAS_INFO={blas}, {onednn}, {torch.get_num_threads()} intra-op threads "
                     f"(MKL is linked statically, so threadpoolctl does not list it)")
    return lines


def git_revision() -> str:
    """The checkout's commit, with "+ local changes" when the working tree differs from it."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" + local changes" if dirty else "")


def header(argv: list[str]) -> str:
    """Date, command, machine, versions, BLAS libraries and the BLAS environment variables."""
    env = ", ".join(f"{name}={os.environ[name]}" for name in BLAS_ENV if name in os.environ) or "none set"
    lines = [
        f"nncli benchmark, {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"command: python benchmarks/run.py {' '.join(argv)}".rstrip(),
        f"machine: {_cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
        (f"python {platform.python_version()} ({sys.executable}); numpy {_version('numpy')}, "
         f"pandas {_version('pandas')}, torch {_version('torch')}, scikit-learn {_version('sklearn')}, "
         f"nncli {_version('nncli')}"),
        f"nncli checkout: {git_revision()}",
        f"BLAS environment: {env}",
    ]
    lines += [f"  {line}" for line in blas_lines()]
    return "\n".join(lines)
