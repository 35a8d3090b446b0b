"""`nncli plot`: learning curves of runs and their test confusion matrices, as PNG files."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors


@app.command()
def plot(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN...", help="Run directories (sweep trials too)."),
    out_dir: Path | None = typer.Option(None, "-o", "--output", metavar="DIR",
                                           help="Write the plots here (default: into each run directory)."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Plot learning curves (one line per run) and, for classification with a test set, the confusion matrix."""
    with user_errors(debug):
        from nncli.plot import plot_runs, require_matplotlib

        require_matplotlib()
        for path in plot_runs(list(run_dirs), out_dir):
            typer.echo(f"wrote {path}")
