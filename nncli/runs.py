"""The run directory: atomic writes of model.npz, checkpoint.npz, metrics.csv, summary.json, config.yaml."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nncli import __version__, npz
from nncli.errors import NncliError

MODEL_FILE = "model.npz"
CHECKPOINT_FILE = "checkpoint.npz"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"


class FileWriteError(NncliError):
    """A file could not be written (the environment failed, not the input): exit 1."""

    exit_code = 1


def write_atomically(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`.

    A run killed at any moment leaves either the old file or the new one, never a torn one. A failure to
    write (a missing directory, a full disk) is a FileWriteError naming the file; no temporary file is left.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise FileWriteError(f"cannot write the file: {error.strerror or error}", file=str(path)) from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise FileWriteError(f"cannot write the file: {error.strerror or error}", file=str(path)) from None
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


def check_output_file(path: Path) -> None:
    """Refuse an output path nncli could not write to, before any work is done (a usage error)."""
    path = Path(path)
    if path.is_dir():
        raise NncliError("is a directory; give a file name for the output, such as predictions.csv",
                         file=str(path))
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise NncliError(f"cannot write the file: the directory {str(parent)!r} {what}", file=str(path))


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_atomically(path, lambda stream: np.savez(stream, **arrays))


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


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    columns: list[str] = []
    for record in history:
        columns.extend(key for key in record if key not in columns)
    ordered = [c for c in ("epoch", "lr", "loss", "val_loss") if c in columns]
    ordered += [c for c in columns if c not in ordered and c != "seconds"] + ["seconds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=ordered, lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({key: record.get(key, "") for key in ordered})
    write_text(path, buffer.getvalue())


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def choose_run_dir(name: str, out: Path | None, resume: bool, base: Path | None = None) -> Path:
    """The run directory for `train`: `--out` exactly, else the first free `runs/<name>[-k]`."""
    if out is not None:
        out = Path(out)
        if out.exists() and not out.is_dir():
            raise NncliError("--out: is a file, not a directory; give the run directory to write", file=str(out))
        if resume:
            if not (out / CHECKPOINT_FILE).is_file():
                why = "the directory does not exist" if not out.exists() else "no run was started there"
                raise NncliError(f"--resume: no {CHECKPOINT_FILE} to resume from ({why}); give the --out of an "
                                 "interrupted run, or train without --resume", file=str(out))
            return out
        for existing in (MODEL_FILE, CHECKPOINT_FILE):
            if (out / existing).exists():
                raise NncliError(f"already holds a trained run ({existing}); nothing was changed. Use --resume to "
                                 "continue it, or choose another --out directory", file=str(out))
        _make_directory(out, parents=True, exist_ok=True)
        return out
    if resume:
        raise NncliError("--resume needs --out DIR: the run directory to continue")
    runs = (base or Path.cwd()) / "runs"
    _make_directory(runs, parents=True, exist_ok=True)
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


def remove_stale_temporaries(directory: Path) -> None:
    """Delete the temporary files a run killed while writing left behind (they are never read)."""
    for name in (MODEL_FILE, CHECKPOINT_FILE, METRICS_FILE, SUMMARY_FILE, CONFIG_FILE):
        for stale in Path(directory).glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def _make_directory(path: Path, **options: bool) -> None:
    try:
        path.mkdir(**options)
    except OSError as error:
        what = "a file is in the way" if isinstance(error, (FileExistsError, NotADirectoryError)) else \
            error.strerror or str(error)
        raise NncliError(f"cannot create the run directory: {what}", file=str(path)) from None


def model_path(path: Path) -> Path:
    """A run directory or a model.npz file -> the model file."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path
