"""The run directory: atomic writes of model.npz, checkpoint.npz, metrics.csv, summary.json, config.yaml."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nncli import __version__
from nncli.errors import ModelFileError, NncliError

MODEL_FILE = "model.npz"
CHECKPOINT_FILE = "checkpoint.npz"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"


def write_atomically(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over `path`.

    A run killed at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_atomically(path, lambda stream: np.savez(stream, **arrays))


def read_arrays(path: Path, display: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz file, refusing pickled data; a clear ModelFileError for anything broken."""
    name = display or str(path)
    if not Path(path).is_file():
        raise ModelFileError("no such file", file=name)
    if not zipfile.is_zipfile(path):
        raise ModelFileError("is not a readable .npz file (not a zip archive; maybe truncated or not a model)",
                             file=name)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ModelFileError("holds pickled Python objects, which nncli never loads", file=name) from None
        raise ModelFileError(f"is not a valid .npz file ({error})", file=name) from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as error:
        raise ModelFileError(f"is not a readable .npz file, maybe truncated ({error})", file=name) from None


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
        if resume:
            if not (out / CHECKPOINT_FILE).is_file():
                raise NncliError(f"--resume: no {CHECKPOINT_FILE} in {out} to resume from", file=str(out))
            return out
        for existing in (MODEL_FILE, CHECKPOINT_FILE):
            if (out / existing).exists():
                raise NncliError(f"already holds a trained run ({existing}); nothing was changed. Use --resume to "
                                 "continue it, or choose another --out directory", file=str(out))
        out.mkdir(parents=True, exist_ok=True)
        return out
    if resume:
        raise NncliError("--resume needs --out DIR: the run directory to continue")
    runs = (base or Path.cwd()) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        candidate = runs / (name if suffix == 1 else f"{name}-{suffix}")
        try:
            candidate.mkdir()  # claims the name atomically: two runs never share a directory
            return candidate
        except FileExistsError:
            suffix += 1


def model_path(path: Path) -> Path:
    """A run directory or a model.npz file -> the model file."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() else path
