"""`nncli gradcheck CONFIG`: the configured network's gradients against float64 central differences."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors


@app.command()
def gradcheck(
    config: Path = typer.Argument(..., metavar="CONFIG.yaml", help="The YAML config file."),
    overrides: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Check the network's gradients against float64 central differences on a batch of the config's data.

    Prints each parameter's largest relative error; exit 0 when all are below 1e-5, else 1.
    """
    with user_errors(debug):
        from rich.table import Table
        from rich.text import Text

        from nncli.console import make_console
        from nncli.errors import format_values, shown_text
        from nncli.gradcheck import BATCH_ROWS, TOLERANCE, check_config

        results = check_config(config, overrides)
        table = Table()
        for column in ("parameter", "shape", "checked", "max relative error", ""):
            table.add_column(column, justify="right" if column in ("checked", "max relative error") else "left")
        for result in results:
            table.add_row(Text(shown_text(result.name)), "×".join(map(str, result.shape)), str(result.checked),
                          f"{result.max_error:.2e}", "ok" if result.passed else "FAIL")
        console = make_console()
        console.print(f"float64 central differences on {BATCH_ROWS} training rows (dropout off, batchnorm in "
                      "training mode)")
        console.print(table)
        failed = [result.name for result in results if not result.passed]
        if failed:
            console.print(f"{len(failed)} of {len(results)} parameters differ by {TOLERANCE:g} or more: "
                          f"{format_values(failed)}", markup=False)
            raise typer.Exit(1)
        console.print(f"all {len(results)} parameters agree within {TOLERANCE:g}")
