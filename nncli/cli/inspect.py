"""`nncli inspect DATA`: each column's kind, missing cells and values, the target's balance, and warnings."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DATA_HELP, DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def inspect(
    data: Path = typer.Argument(..., metavar="DATA", help=f"The {DATA_HELP}."),
    target: str | None = typer.Option(None, "--target", metavar="COL",
                                         help="The target column: its class balance or statistics, and the "
                                              "warnings about it (leakage, sorted rows, small classes)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Profile a data file: rows, delimiter, each column's kind and values, the target, and warnings."""
    with user_errors(debug):
        from nncli.describe import inspect_data

        inspection = inspect_data(data, target)
        if as_json:
            import json

            write_stdout(json.dumps(inspection.to_dict(), allow_nan=False) + "\n")
            return
        from nncli.console import make_console
        from nncli.tables import inspection_renderables

        console = make_console()
        for renderable in inspection_renderables(inspection):
            console.print(renderable)
