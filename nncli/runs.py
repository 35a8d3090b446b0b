"""The run directory: atomic writes of model.npz, checkpoint.npz, metrics.csv, summary.json, config.yaml."""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import platform
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nncli import __version__, npz
from nncli.errors import NncliError

MODEL_FILE = "model.npz"
CHECKPOINT_FILE = "checkpoint.npz"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"
RUN_FILES = (MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE, SUMMARY_FILE, CONFIG_FILE)
# Created when nncli claims a run directory, and locked (flock) while a run writes there: the files of a
# directory holding it are nncli's. A lock dies with its process, so a killed run never blocks the next one.
RUN_MARKER = ".nncli-run"
MARKER_TEXT = "nncli run directory: nncli wrote the run files here and may rewrite them (train --resume).\n"
LOCK_PATIENCE = 0.5  # seconds


class FileWriteError(NncliError):
    """A file could not be written (the environment failed, not the input): exit 1."""

    exit_code = 1


# What the system says of a path as given (a name over 255 bytes, a symlink loop): the input is wrong, exit 2.
_UNUSABLE_PATH = {errno.ENAMETOOLONG, errno.ELOOP}
_TEMPORARY_NAME_BYTES = 200  # of the final name kept in a temporary's: with the suffixes, under the 255 allowed


def _write_error(error: OSError, path: Path) -> NncliError:
    """Why `path` could not be written: a FileWriteError, or bad usage when the path itself is unusable."""
    kind = NncliError if error.errno in _UNUSABLE_PATH else FileWriteError
    return kind(f"cannot write the file: {error.strerror or error}", file=str(path))


def _temporary_prefix(path: Path) -> str:
    """`.NAME.` for a temporary written next to `path`; `.nncli.` when NAME is near the system's length limit."""
    return f".{path.name}." if len(os.fsencode(path.name)) <= _TEMPORARY_NAME_BYTES else ".nncli."


def write_atomically(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`.

    A run killed at any moment leaves either the old file or the new one, never a torn one. A failure to
    write (a missing directory, a full disk) is a FileWriteError naming the file; no temporary file is left.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise _write_error(error, path) from None
    try:
        # mkstemp makes the file private (0600): keep the mode of the file replaced, or give a plain open()'s
        mode = _existing_mode(path)
        os.fchmod(handle, 0o666 & ~_umask() if mode is None else mode)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _write_error(error, path) from None
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _existing_mode(path: Path) -> int | None:
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def write_new_text(path: Path, text: str) -> None:
    """Write a file that must not exist: whole or not at all, never over a file (or link) there, even one made
    meanwhile. An existing `path` is an NncliError (exit 2)."""
    path = Path(path)
    temporary = path.with_name(f"{_temporary_prefix(path)}{os.getpid()}.new")
    try:
        write_text(temporary, text)
    except NncliError as error:  # about the file asked for, not its temporary
        raise type(error)(error.message, file=str(path)) from None
    try:
        os.link(temporary, path)  # fails when anything is at `path`, where a rename would replace it
    except FileExistsError:
        raise NncliError("the file exists already; nncli never writes over it: give another -o or move it "
                         "away", file=str(path)) from None
    except OSError as error:
        raise _write_error(error, path) from None
    finally:
        temporary.unlink(missing_ok=True)


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # numpy's stubs read `**arrays` as its `allow_pickle` keyword; the arrays are saved under their keys
    write_atomically(path, lambda stream: np.savez(stream, **arrays))  # type: ignore[arg-type]


def read_arrays(path: Path, display: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz file, refusing pickled data; a clear ModelFileError for anything broken."""
    return npz.read_arrays(path, display)


def json_array(value: Any) -> np.ndarray:
    """A JSON document as a 0-d unicode array: loads without pickle."""
    return np.array(json.dumps(value, sort_keys=True))


def from_json_array(array: np.ndarray) -> Any:
    return json.loads(str(array[()]))


def versions() -> dict[str, str]:
    return {"nncli": __version__, "numpy": np.__version__, "python": platform.python_version()}


def metrics_columns(columns: list[str]) -> list[str]:
    """metrics.csv's column order: epoch, lr, loss, val_loss, the metrics, seconds."""
    ordered = [c for c in ("epoch", "lr", "loss", "val_loss") if c in columns]
    return ordered + [c for c in columns if c not in ordered and c != "seconds"] + ["seconds"]


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    columns: list[str] = []
    for record in history:
        columns.extend(key for key in record if key not in columns)
    ordered = metrics_columns(columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ordered, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({key: record.get(key, "") for key in ordered})
    write_text(path, buffer.getvalue())


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def choose_run_dir(name: str, out: Path | None, resume: bool, base: Path | None = None) -> Path:
    """The run directory for `train`, checked, created and marked as nncli's (`claim_run_dir` also locks it).

    `--out` exactly: a new or empty directory, or with `--resume` a run directory nncli marked; else the first
    free `runs/<name>[-k]`.
    """
    if out is None:
        if resume:
            raise NncliError("--resume needs --out DIR: the run directory to continue")
        directory = _fresh_run_dir(name, base)
    else:
        directory = Path(out)
        if directory.exists() and not directory.is_dir():
            raise NncliError("--out: is a file, not a directory; give the run directory to write",
                             file=str(directory))
        if resume:
            _check_resumable(directory)
            return directory
        _check_unused(directory)
        make_directory(directory, parents=True, exist_ok=True)
    _mark(directory)
    return directory


@contextlib.contextmanager
def claim_run_dir(name: str, out: Path | None, resume: bool, base: Path | None = None) -> Iterator[Path]:
    """The run directory of `choose_run_dir`, held for the run: a second `train` on it is refused (exit 2).

    The hold is an exclusive flock on the marker: the kernel drops it when the process ends however it ends,
    so a killed run leaves no stale lock behind.
    """
    directory = choose_run_dir(name, out, resume, base)
    with hold_run_dir(directory):
        if not resume:
            _check_unused(directory, holding=True)  # again: a run that took the directory meanwhile shows
        yield directory


@contextlib.contextmanager
def hold_run_dir(directory: Path) -> Iterator[Path]:
    """Hold the lock on the marker of `directory` (nncli's): refused (exit 2) while another nncli holds it."""
    try:
        marker = os.open(directory / RUN_MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise NncliError(f"cannot use the run directory: {RUN_MARKER}: {error.strerror or error}",
                         file=str(directory)) from None
    try:
        if not _lock(marker):
            raise _busy(directory)
        yield directory
    finally:
        os.close(marker)


def is_marked(directory: Path) -> bool:
    """Whether nncli made `directory` (it holds the marker file)."""
    return _is_marked(directory)


def _lock(marker: int, patience: float = LOCK_PATIENCE) -> bool:
    """Take the run's lock; a held lock is retried for `patience` seconds (another `train` only looking)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def _busy(directory: Path) -> NncliError:
    return NncliError("another nncli train is writing this run directory right now; nothing was changed. Wait "
                      "for it to end, or choose another --out directory", file=str(directory))


def _in_use(directory: Path) -> bool:
    """Whether a run holds the directory now (a lock taken and dropped at once to see)."""
    try:
        marker = os.open(directory / RUN_MARKER, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return not _lock(marker, patience=0.0)
    finally:
        os.close(marker)


def working_directory(purpose: str, instead: str) -> Path:
    """The working directory, needed for `purpose`; an error that says so plainly when it was deleted."""
    try:
        return Path.cwd()
    except OSError as error:
        raise FileWriteError(f"cannot find the working directory, where {purpose} ({error.strerror or error}); was "
                             f"it deleted? Change to another one, or give {instead}", file=".") from None


def runs_folder(base: Path | None = None) -> Path:
    """`runs/` under `base`, else under the working directory."""
    return (base or working_directory("runs/ goes", "--out DIR")) / "runs"


def _fresh_run_dir(name: str, base: Path | None) -> Path:
    runs = runs_folder(base)
    make_directory(runs, parents=True, exist_ok=True)
    suffix = 1
    while True:
        candidate = runs / (name if suffix == 1 else f"{name}-{suffix}")
        try:
            candidate.mkdir()  # claims the name atomically: two runs never share a directory
            return candidate
        except FileExistsError:
            suffix += 1
        except OSError as error:
            raise NncliError(f"cannot create the run directory: {error.strerror or error}",
                             file=str(candidate)) from None


def _check_resumable(directory: Path) -> None:
    if not (directory / CHECKPOINT_FILE).is_file():
        why = "the directory does not exist" if not directory.exists() else "no run was started there"
        raise NncliError(f"--resume: no {CHECKPOINT_FILE} to resume from ({why}); give the --out of an "
                         "interrupted run, or train without --resume", file=str(directory))
    if not _is_marked(directory):
        raise NncliError(f"--resume: nncli did not start this run (there is no {RUN_MARKER} marker), so it "
                         "writes nothing over these files; if an older nncli wrote it, create the marker (touch "
                         f"{directory / RUN_MARKER}) and resume again", file=str(directory))


def _check_unused(directory: Path, holding: bool = False) -> None:
    """A new run goes only into a new or empty directory (a marker left by a run that wrote nothing is empty)."""
    try:
        entries = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):  # a new directory (creating it says what is in the way)
        return
    except OSError as error:
        raise NncliError(f"cannot use the run directory: {error.strerror or error}", file=str(directory)) from None
    if not holding and RUN_MARKER in entries and _in_use(directory):
        raise _busy(directory)
    for existing in (MODEL_FILE, CHECKPOINT_FILE):
        if existing in entries:
            raise NncliError(f"already holds a trained run ({existing}); nothing was changed. Use --resume to "
                             "continue it, or choose another --out directory", file=str(directory))
    others = [entry for entry in entries if entry != RUN_MARKER]
    if others:
        shown = ", ".join(others[:4]) + (", ..." if len(others) > 4 else "")
        raise NncliError(f"--out: the directory is not empty (it holds {shown}); nothing was changed. A new run "
                         "needs a new or empty directory", file=str(directory))


def _is_marked(directory: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(directory / RUN_MARKER).st_mode)
    except OSError:
        return False


def _mark(directory: Path) -> None:
    """Create the marker that says nncli owns the directory's run files (an existing one is kept)."""
    path = directory / RUN_MARKER
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except FileExistsError:
        if not _is_marked(directory):
            raise NncliError(f"{RUN_MARKER} is in the way and is not nncli's marker file; choose another --out "
                             "directory", file=str(directory)) from None
        return
    except OSError as error:
        raise NncliError(f"cannot create the run directory: {error.strerror or error}", file=str(directory)) \
            from None
    try:
        os.write(handle, MARKER_TEXT.encode())  # what it says is for people: its presence is what counts
    except OSError as error:
        raise FileWriteError(f"cannot write the file: {error.strerror or error}", file=str(path)) from None
    finally:
        os.close(handle)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the temporary files a run killed while writing left behind (only those of nncli's own files)."""
    for name in RUN_FILES:
        for stale in Path(directory).glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def make_directory(path: Path, role: str = "run directory", **options: bool) -> None:
    """`path.mkdir(**options)`, a failure an error naming the path and its role (exit 2)."""
    try:
        path.mkdir(**options)
    except OSError as error:
        what = "a file is in the way" if isinstance(error, (FileExistsError, NotADirectoryError)) else \
            error.strerror or str(error)
        raise NncliError(f"cannot create the {role}: {what}", file=str(path)) from None


def model_path(path: Path) -> Path:
    """A run directory or a model.npz file -> the model file."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path
