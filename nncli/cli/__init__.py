"""The `nncli` command: one thin typer command per verb over `nncli.api`, one module per command.

The modules register their commands on `app` when imported, in the order `nncli --help` lists them.
"""

from nncli.cli import train, predict, evaluate, check, cv, sweep  # noqa: F401, I001  # registers them, in --help's order
from nncli.cli.app import app
from nncli.cli.train import StopRequests

__all__ = ["StopRequests", "app", "main"]


def main() -> None:
    app()
