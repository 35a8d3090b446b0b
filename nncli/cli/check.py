"""`nncli check`: validate config and data, print the model summary; trains and writes nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def check(
    config: Path = typer.Argument(..., metavar="CONFIG.yaml", help="The YAML config file."),
    overrides: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: the resolved config, rows, "
                                                       "inputs, classes or targets, layers and parameter count."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Validate config and data and print the model summary; trains nothing, writes nothing."""
    with user_errors(debug):
        from nncli import api, display
        from nncli.console import data_summary, json_line, make_console, show_warnings

        prepared = api.check(config, overrides)
        show_warnings(prepared.datasets.warnings)
        if as_json:
            write_stdout(json_line(prepared.summary()))
            return
        console = make_console()
        console.print(data_summary(prepared))
        console.print(display.model_summary_table(prepared.model.summary_rows(),
                                                  prepared.model.parameter_count()))
