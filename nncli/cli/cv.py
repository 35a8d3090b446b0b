"""`nncli cv`: k-fold cross-validation of a config; a table of the folds and their mean ± std."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors, write_stdout


def cv_table(result: Any) -> Any:
    """The folds' scores on their held-out rows, then mean ± std, as a rich Table."""
    from rich.table import Table
    from rich.text import Text

    from nncli.display import format_metric
    from nncli.errors import shown_text

    names = list(result.mean)
    table = Table(title=Text(shown_text(f"cross-validation: {len(result.folds)} folds ({result.cv_dir})")))
    for column in ["fold", "status", *names]:
        table.add_column(column, justify="left" if column == "status" else "right")
    for fold in result.folds:
        scores = fold.get("scores") or {}
        table.add_row(str(fold["fold"]), fold["status"], *(format_metric(scores.get(name)) for name in names))
    table.add_section()
    table.add_row("mean ± std", "", *(f"{format_metric(result.mean[name])} ± {format_metric(result.std[name])}"
                                      for name in names))
    return table


@app.command("cv")
def cross_validate(
    config: Path = typer.Argument(..., metavar="CONFIG.yaml", help="The YAML config file."),
    folds: int = typer.Option(..., "--folds", metavar="K", help="Number of folds of data.train (at least 2)."),
    out: Path | None = typer.Option(None, "--out", metavar="DIR", help="cv directory (default: runs/<name>-cv)."),
    overrides: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                        help="Override a config value: KEY=VALUE (dotted path)."),
    jobs: int = typer.Option(1, "--jobs", metavar="N", help="Folds trained at once, in worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print cv.json's object for scripts."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Cross-validate a config: K folds of its training data (stratified for classification), each fold a run
    directory scored on its held-out rows; cv.json holds each fold and the mean and std."""
    with user_errors(debug):
        from nncli import api
        from nncli.console import make_console
        from nncli.errors import NncliError

        if jobs < 1:
            raise NncliError(f"--jobs: must be at least 1, got {jobs}")
        result = api.cv(config, folds, out, overrides, jobs=jobs)
        if as_json:
            write_stdout(json.dumps(result.to_json(), allow_nan=False) + "\n")
        else:
            make_console().print(cv_table(result))
        for fold in result.failed:
            typer.echo(f"error: fold {fold['fold']} {fold['status']}: {fold.get('error')}", err=True)
        if result.failed:
            raise typer.Exit(1)
