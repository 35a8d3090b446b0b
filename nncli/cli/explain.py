"""`nncli explain`: permutation importance of a saved model's raw feature columns, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nncli.cli.app import DATA_HELP, DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def explain(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    data: Path = typer.Argument(..., metavar="DATA", help=f"{DATA_HELP} with the feature and target columns."),
    repeats: int = typer.Option(5, "--repeats", min=1, metavar="R", help="Shuffles per column (seeded, seed 0)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Rank the raw feature columns by how much shuffling each one lowers accuracy (or r2), largest first."""
    with user_errors(debug):
        from nncli.console import make_console, show_warnings
        from nncli.explain import explain as permutation_report
        from nncli.explain import importance_heading, importance_table
        from nncli.metrics import json_ready

        report = permutation_report(model, data, repeats)
        show_warnings(report.pop("warnings", []))
        if as_json:
            write_stdout(json.dumps(json_ready(report), allow_nan=False) + "\n")
            return
        console = make_console()
        console.print(importance_heading(report), soft_wrap=True)
        console.print(importance_table(report))
