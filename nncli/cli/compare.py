"""`nncli compare`: runs side by side, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN...", help="Run directories (sweep trials too)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Compare runs: the config values that differ, best epoch, best and test metrics."""
    with user_errors(debug):
        from nncli.compare import compare_runs, comparison_table
        from nncli.console import make_console
        from nncli.metrics import json_ready

        comparison = compare_runs(list(run_dirs))
        if as_json:
            write_stdout(json.dumps(json_ready(comparison), allow_nan=False) + "\n")
            return
        make_console().print(comparison_table(comparison))
