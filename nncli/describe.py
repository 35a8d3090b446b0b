"""`nncli inspect` and `nncli init` as plain functions: a data file's profile, and a starter config from it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nncli.data.profile import Profile, profile_frame
from nncli.data.reading import read_table_and_delimiter
from nncli.data.sources import COMPRESSIONS, PARQUET_SUFFIX, display_name, is_parquet, is_stdin
from nncli.errors import DataError, format_values
from nncli.metrics import json_ready
from nncli.registry import closest


@dataclass
class Inspection:
    """A data file's profile with how the file was read."""

    file: str
    delimiter: str | None  # None for a Parquet file
    encoding: str | None
    profile: Profile

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `inspect --json`, every number that is not finite as None."""
        return json_ready({"file": self.file, "delimiter": self.delimiter, "encoding": self.encoding,
                           **self.profile.to_dict()})


def inspect_data(data: str | Path, target: str | None = None) -> Inspection:
    """Read `data` once and profile it; `target`, when given, must be one of its columns."""
    frame, delimiter = read_table_and_delimiter(Path(data))
    name = display_name(data)
    if target is not None and target not in frame.columns:
        columns = [str(column) for column in frame.columns]
        suggestion = closest(target, columns)
        hint = f"did you mean {suggestion!r}? " if suggestion is not None else ""
        raise DataError(f"column {target!r} not found; {hint}available columns: {format_values(columns)}",
                        file=name, field="--target")
    encoding = None if is_parquet(data) else "utf-8"
    return Inspection(name, delimiter, encoding, profile_frame(frame, target))


def default_config_path(data: str | Path) -> Path:
    """`<data stem>.yaml` in the working directory (`loans.csv.gz` -> `loans.yaml`)."""
    name = Path(data).name
    for suffix in (*COMPRESSIONS, PARQUET_SUFFIX, ".csv", ".tsv", ".txt"):
        name = name.removesuffix(suffix)
    return Path(f"{name or 'config'}.yaml")


def starter_text(data: str | Path, target: str, config_path: Path) -> str:
    """The commented config `init` writes at `config_path` for the table at `data`."""
    from nncli.config.starter import starter_config

    if is_stdin(data):
        raise DataError("init needs a data file the config can name, not standard input: save the rows to a file "
                        "first", file=display_name(data))
    inspection = inspect_data(data, target)
    return starter_config(inspection.profile, Path(os.path.abspath(data)), Path(os.path.abspath(config_path)))


def init_config(data: str | Path, target: str, out: str | Path | None = None) -> Path:
    """Write a starter config for `data` at `out` (default: `<data stem>.yaml` here); never over a file."""
    from nncli import runs

    path = Path(out) if out is not None else default_config_path(data)
    if not path.is_absolute():
        runs.working_directory("the config goes", "-o with a full path")
    if os.path.lexists(path):
        raise DataError("the file exists already; nncli never writes over it: give another -o or move it away",
                        file=str(path))
    runs.write_new_text(path, starter_text(data, target, path))
    return path
