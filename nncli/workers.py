"""Worker processes for cv folds and sweep trials: each spawned fresh, with its share of the BLAS threads.

The thread limits go into the worker's environment before it imports numpy (the initializer runs before any
task is unpickled), so parallel jobs never oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_threads(jobs: int) -> int:
    """Each of `jobs` workers' share of the CPUs (at least one)."""
    return max(1, cpu_count() // max(1, jobs))


def _limit_blas(threads: int) -> None:
    for name in BLAS_VARIABLES:
        os.environ[name] = str(threads)


class InlineExecutor(Executor):
    """Runs each task at once in this process: one job needs no worker."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future, as a pool does
            future.set_exception(error)
        return future


def worker_pool(jobs: int) -> Executor:
    """`jobs` spawned worker processes with the BLAS threads divided among them (inline for one job)."""
    if jobs <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_limit_blas, initargs=(blas_threads(jobs),))


def blas_environment() -> dict[str, str | None]:
    """This process's BLAS thread settings (for tests and reports)."""
    return {name: os.environ.get(name) for name in BLAS_VARIABLES}


_stop: dict[str, Any] = {"requested": False, "source": None}


def stop_requested() -> bool:
    """Whether this worker was asked to stop (SIGTERM from the sweep), or the inline caller's source says so."""
    source = _stop["source"]
    return _stop["requested"] or (source is not None and source())


@contextlib.contextmanager
def stop_source(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Tasks run inline (one job) stop when `should_stop()` turns true."""
    _stop["source"] = should_stop
    try:
        yield
    finally:
        _stop["source"] = None


def _on_stop(signal_number: int, frame: object) -> None:
    _stop["requested"] = True


def _stoppable_worker(threads: int) -> None:
    """A sweep worker: its BLAS share; Ctrl-C is the sweep's to handle, SIGTERM from it stops at a batch boundary."""
    _limit_blas(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_stop)


def stoppable_pool(jobs: int) -> Executor:
    """`worker_pool` whose workers stop their run (checkpoint written) on `stop_workers`."""
    if jobs <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_stoppable_worker, initargs=(blas_threads(jobs),))


def stop_workers(pool: Executor) -> None:
    """Ask every worker of `pool` to stop its run at the next batch (inline tasks read their stop source)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
