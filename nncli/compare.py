"""Runs side by side: the config values that differ between them, best epoch, best and test metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from nncli.runview import RunView, flatten, read_run

NOT_SCORES = ("epoch", "lr", "seconds")


def compare_runs(directories: list[str | Path]) -> dict[str, Any]:
    """`{"differences": [dotted config paths], "runs": [{"run", "config": {path: value}, "best_epoch" (from 0,
    as summary.json), "best": {metric: value}, "test": {metric: value}}]}`; a path set in one run and absent in
    another differs (absent: None)."""
    views = [read_run(directory) for directory in directories]
    configs = [flatten(view.config) for view in views]
    paths = list(dict.fromkeys(path for config in configs for path in config))
    differences = [path for path in paths if len({_key(config.get(path)) for config in configs}) > 1]
    return {"differences": differences,
            "runs": [_run_row(view, directory, config, differences)
                     for view, directory, config in zip(views, directories, configs, strict=False)]}


def _key(value: Any) -> str:
    return repr(value)


def _run_row(view: RunView, directory: str | Path, config: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    summary = view.summary
    best = {name: value for name, value in (summary.get("best") or {}).items() if name not in NOT_SCORES}
    return {"run": str(directory), "config": {path: config.get(path) for path in paths},
            "best_epoch": summary.get("best_epoch"), "best": best, "test": dict(summary.get("test") or {})}


def comparison_table(comparison: dict[str, Any]) -> Table:
    """A column per run, a row per differing config path, then the best epoch (from 1, as on screen), the
    metrics at the best epoch and on the test set (`test_<metric>`); `-` where a run has no value."""
    from nncli.display import format_epoch, format_value
    from nncli.errors import shown_text

    runs = comparison["runs"]
    table = Table(header_style="bold", show_edge=False)
    labels = [*comparison["differences"], "best epoch", *(f"test_{name}" for run in runs for name in run["test"]),
              *(name for run in runs for name in run["best"])]
    table.add_column("", no_wrap=True, min_width=max(map(len, labels)))
    for run in runs:
        table.add_column(Text(shown_text(run["run"])), justify="right", overflow="fold")
    for path in comparison["differences"]:
        table.add_row(Text(shown_text(path)), *(Text(shown_text(_config_text(run["config"][path]))) for run in runs))
    table.add_section()
    table.add_row("best epoch", *(format_epoch(run["best_epoch"]) for run in runs))
    for name in dict.fromkeys(name for run in runs for name in run["best"]):
        table.add_row(name, *(format_value(name, run["best"].get(name)) for run in runs))
    for name in dict.fromkeys(name for run in runs for name in run["test"]):
        label = name if name.startswith("test_") else f"test_{name}"
        table.add_row(label, *(format_value(name, run["test"].get(name)) for run in runs))
    return table


def _config_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_config_text(item) for item in value) + "]"
    return str(value)
