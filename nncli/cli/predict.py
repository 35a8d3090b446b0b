"""`nncli predict`: a saved model's predictions for a data file, as CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DATA_HELP, DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def predict(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    data: Path = typer.Argument(..., metavar="DATA", help=f"{DATA_HELP} with the feature columns."),
    output: Path | None = typer.Option(None, "-o", "--output", metavar="OUT.csv",
                                          help="Write the CSV here: a new or regular file, never an input "
                                               "(default, or - : stdout)."),
    keep: list[str] = typer.Option([], "--keep", metavar="COL,...",
                                   help="Copy these input columns (as written) in front of the predictions."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Predict with a saved model; one column per target and, for classification, prob_<class> columns."""
    with user_errors(debug):
        from nncli import api, outputs, runs
        from nncli.console import show_warnings

        inputs = {"data": data, "model": runs.model_path(model)}
        file = None if output is None or outputs.is_stdout(output) else output
        if file is not None:
            outputs.check_output_file(file, inputs)
        predictions = api.predict(model, data, keep=column_list(keep))
        show_warnings(predictions.attrs.get("warnings", []))
        text = predictions.to_csv(index=False)
        if file is None:
            write_stdout(text)
        else:
            outputs.check_output_file(file, inputs)  # again: the path may have changed while predicting
            runs.write_text(file, text)


def column_list(values: list[str]) -> list[str]:
    """`--keep id,name --keep city` as `[id, name, city]`; an empty name is a usage error."""
    from nncli.errors import NncliError

    names = [name.strip() for value in values for name in value.split(",")]
    if any(not name for name in names):
        raise NncliError(f"expected column names separated by commas, got {','.join(values)!r}", field="--keep")
    return names
