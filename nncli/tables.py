"""Rich tables for the commands that describe rather than train: `nncli list` and `nncli inspect`.

Pure functions from data to tables; the commands print them.
"""

from __future__ import annotations

from rich.table import Table

from nncli.catalogue import Entry


def catalogue_table(family: str, entries: list[Entry]) -> Table:
    """One family of the catalogue: each name, its parameters with their defaults, their limits, its summary."""
    table = Table(title=family, title_justify="left", show_lines=True)
    table.add_column("name", no_wrap=True)
    table.add_column("parameters", no_wrap=True)
    table.add_column("limits", no_wrap=True)
    table.add_column("summary", ratio=1, overflow="fold")
    for entry in entries:
        # one parameter a line, its limits on the same line of the next column
        parameters = "\n".join(parameter.describe() for parameter in entry.parameters)
        limits = "\n".join(parameter.limits for parameter in entry.parameters)
        table.add_row(entry.name, parameters, limits, entry.summary)
    return table
