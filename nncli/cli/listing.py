"""`nncli list [FAMILY]`: the catalogue of registered names with their parameters, defaults and limits."""

from __future__ import annotations

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors


@app.command("list")
def list_catalogue(
    family: str | None = typer.Argument(None, metavar="FAMILY",
                                           help="layers, activations, initializers, losses, optimizers, "
                                                "schedules or metrics (default: all)."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """List the layers, activations, losses, optimizers, ... with each one's parameters, defaults and limits."""
    with user_errors(debug):
        from nncli.catalogue import catalogue
        from nncli.console import make_console
        from nncli.errors import NncliError
        from nncli.tables import catalogue_table

        try:
            found = catalogue(family)
        except ValueError as error:
            raise NncliError(str(error)) from None
        console = make_console()
        for name, entries in found.items():
            console.print(catalogue_table(name, entries))
