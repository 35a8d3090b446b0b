"""A finished run directory read back for plot and compare: its metrics.csv, summary.json and config.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from nncli import runs
from nncli.errors import NncliError


@dataclass
class RunView:
    """What a run directory says about its run: per-epoch rows, the summary and the resolved config."""

    directory: Path
    history: pd.DataFrame
    summary: dict[str, Any]
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.directory.name


def read_run(directory: str | Path) -> RunView:
    """The run in `directory`; a missing or unreadable run file is an error naming it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NncliError("is not a run directory (expected a directory holding metrics.csv, summary.json and "
                         "config.yaml, as nncli train writes)", file=str(directory))
    history = _read(directory / runs.METRICS_FILE, lambda path: pd.read_csv(path))
    summary = _read(directory / runs.SUMMARY_FILE, lambda path: json.loads(path.read_text(encoding="utf-8")))
    config = _read(directory / runs.CONFIG_FILE, lambda path: yaml.safe_load(path.read_text(encoding="utf-8")))
    for file, value, kind in ((runs.SUMMARY_FILE, summary, dict), (runs.CONFIG_FILE, config, dict)):
        if not isinstance(value, kind):
            raise NncliError(f"holds a {type(value).__name__}; expected a mapping", file=str(directory / file))
    if "epoch" not in history.columns:
        raise NncliError("has no epoch column; expected the metrics nncli train writes",
                         file=str(directory / runs.METRICS_FILE))
    return RunView(directory, history, summary, config)


def _read(path: Path, reader: Any) -> Any:
    if not path.is_file():
        raise NncliError(f"is missing: {path.parent} is not a finished run directory (nncli train writes it)",
                         file=str(path))
    try:
        return reader(path)
    except (OSError, ValueError, yaml.YAMLError, pd.errors.ParserError) as error:
        message = " ".join(str(error).split())
        raise NncliError(f"cannot be read ({message})", file=str(path)) from None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted path: value}, list items by index (`layers.0.units`), as `--set` takes them."""
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list) and value and any(isinstance(item, (dict, list)) for item in value):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat
