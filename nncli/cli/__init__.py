"""The `nncli` command: one thin typer command per verb over `nncli.api`, one module per command.

The modules register their commands on `app` when imported, in the order `nncli --help` lists them.
"""

# registers the commands, in --help's order
from nncli.cli import train, predict, evaluate, check, cv, sweep, init, inspect  # noqa: F401, I001
from nncli.cli import export, plot, compare, explain, gradcheck, listing, schema  # noqa: F401
from nncli.cli.app import app
from nncli.cli.train import StopRequests

__all__ = ["StopRequests", "app", "main"]


def main() -> None:
    app()
