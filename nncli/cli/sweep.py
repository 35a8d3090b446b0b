"""`nncli sweep`: a hyperparameter search from a sweep file, with a leaderboard updated as trials finish."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path
from typing import Any

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors, write_stdout
from nncli.cli.train import StopRequests

SHOWN_TRIALS = 15


def leaderboard_table(board: Any) -> Any:
    """The best trials so far (and how many ran), as a rich Table."""
    from rich.table import Table
    from rich.text import Text

    from nncli.display import format_metric, format_seconds
    from nncli.errors import shown_text

    spec = board.spec
    ranked = board.ranked()
    done = sum(record["status"] not in ("running",) for record in ranked)
    table = Table(title=Text(shown_text(f"sweep {spec.name}: {done} trials done ({spec.metric}, {spec.mode})")))
    paths = [dimension.path for dimension in spec.space]
    for column in ["trial", *paths, spec.metric, "status", "seconds"]:
        table.add_column(column, justify="left" if column == "status" else "right")
    for record in ranked[:SHOWN_TRIALS]:
        seconds = record.get("seconds")
        table.add_row(str(record["trial"]), *(Text(shown_text(_value(record["values"].get(path)))) for path in paths),
                      format_metric(record.get("metric")), record["status"],
                      "" if seconds is None else format_seconds(seconds))
    return table


def trial_line(record: dict[str, Any], metric: str) -> str:
    """One finished trial as a plain line (output that is not a terminal)."""
    values = " ".join(f"{path}={_value(value)}" for path, value in record["values"].items())
    value = record.get("metric")
    shown = "-" if value is None else f"{value:.6g}"
    error = f" ({record['error']})" if record.get("error") and record["status"] != "ok" else ""
    return f"trial {record['trial']}: {record['status']} {metric}={shown} {record.get('seconds') or 0:.1f}s " \
           f"{values}{error}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def resume_command(sweep_file: Path, sweep_dir: Path, executor: str) -> str:
    words = ["nncli", "sweep", str(sweep_file), "--out", str(sweep_dir), "--resume"]
    return shlex.join(words + (["--executor", executor] if executor != "local" else []))


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., metavar="SWEEP.yaml", help="The sweep file (see README: Sweeps)."),
    out: Path | None = typer.Option(None, "--out", metavar="DIR", help="Sweep directory (default: runs/<name>)."),
    executor: str = typer.Option("local", "--executor", metavar="local|ray", help="Where trials run."),
    address: str | None = typer.Option(None, "--address", metavar="ADDR",
                                          help="Ray cluster address (auto: the running cluster); with --executor ray."),
    jobs: int | None = typer.Option(None, "--jobs", metavar="N", help="Trials at once (default: CPU count)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted sweep in --out."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json's object at the end, nothing else."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Search config values: trials from a sweep file (grid, random or tpe), each a run directory, ranked in
    leaderboard.csv; best.yaml is the best trial's config. Ctrl-C stops with checkpoints for --resume."""
    with user_errors(debug):
        from rich.live import Live

        from nncli import api
        from nncli.console import make_console

        console = make_console()
        live_mode = console.is_terminal and not as_json
        live = Live(console=console, auto_refresh=False) if live_mode else None

        def on_start(board: Any) -> None:
            if live is not None:
                live.start()
                live.update(leaderboard_table(board), refresh=True)

        def on_trial(record: dict, board: Any) -> None:
            if live is not None:
                live.update(leaderboard_table(board), refresh=True)
            elif not as_json:
                write_stdout(trial_line(record, board.spec.metric) + "\n")

        stops = StopRequests()
        try:
            with stops.installed():
                result = api.sweep(sweep_file, out, executor=executor, address=address, jobs=jobs, resume=resume,
                                   should_stop=stops, on_trial=on_trial, on_start=on_start)
        finally:
            if live is not None:
                live.stop()
        summary = json.loads((result.sweep_dir / "summary.json").read_text())
        if as_json:
            write_stdout(json.dumps(summary, allow_nan=False) + "\n")
        if result.interrupted:
            typer.echo(f"interrupted: finished trials are kept; continue with: "
                       f"{resume_command(sweep_file, result.sweep_dir, executor)}", err=True)
            raise typer.Exit(143 if stops.signal_number == signal.SIGTERM else 130)
        if not as_json:
            best = result.best
            where = result.sweep_dir
            if best is None:
                typer.echo(f"no trial finished; see {where / 'summary.json'}")
            else:
                typer.echo(f"best: trial {best['trial']} {summary['metric']}={best['metric']:.6g}; "
                           f"{where / 'leaderboard.csv'}; train it with: nncli train {where / 'best.yaml'}")
        if result.best is None:
            raise typer.Exit(1)
