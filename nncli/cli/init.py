"""`nncli init DATA --target COL`: write a commented config for the data that trains as it is."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DATA_HELP, DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def init(
    data: Path = typer.Argument(..., metavar="DATA", help=f"The {DATA_HELP}; not - (the config names it)."),
    target: str = typer.Option(..., "--target", metavar="COL", help="The column to predict."),
    out: Path | None = typer.Option(None, "-o", "--out", metavar="CONFIG.yaml",
                                       help="Where to write the config (default: <data stem>.yaml here; - for "
                                            "stdout). Never an existing file."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Write a commented starter config for DATA: task, output layer, loss and metrics from the target."""
    with user_errors(debug):
        from nncli import describe
        from nncli.outputs import is_stdout

        if out is not None and is_stdout(out):
            write_stdout(describe.starter_text(data, target, describe.default_config_path(data)))
            return
        path = describe.init_config(data, target, out)
        typer.echo(f"wrote {path}; train it with: nncli train {path}", err=True)
