"""`nncli eval`: a saved model's loss and metrics on labelled data, as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nncli.cli.app import DATA_HELP, DEBUG_HELP, app, user_errors, write_stdout


@app.command("eval")
def evaluate(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    data: Path = typer.Argument(..., metavar="DATA", help=f"{DATA_HELP} with the feature and target columns."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object for scripts."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Evaluate a saved model on labelled data: loss, the task's metrics and the config's, rows scored and skipped."""
    with user_errors(debug):
        from nncli import api, display
        from nncli.console import make_console, show_warnings
        from nncli.metrics import json_ready

        trained = api.load_model(model)
        report = api.evaluate_model(trained, data)
        show_warnings(report.pop("warnings", []))
        if as_json:
            write_stdout(json.dumps(json_ready(report), allow_nan=False) + "\n")
            return
        console = make_console()
        for renderable in display.evaluation_renderables(report, trained.task,
                                                         [str(c) for c in trained.preprocessor.classes]):
            console.print(renderable)
