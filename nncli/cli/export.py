"""`nncli export`: a saved model as an ONNX file that serves predictions without nncli."""

from __future__ import annotations

from pathlib import Path

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors


@app.command()
def export(
    model: Path = typer.Argument(..., metavar="MODEL", help="A run directory or a model.npz file."),
    output: Path = typer.Option(..., "-o", "--output", metavar="OUT.onnx",
                                help="Write the ONNX model here: a new or regular file, never the model."),
    debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP),
) -> None:
    """Export a saved model to ONNX: one input per raw column, outputs label and probabilities, or prediction."""
    with user_errors(debug):
        from nncli import api, outputs, runs
        from nncli.export import export_onnx, require_onnx

        require_onnx()
        inputs = {"model": runs.model_path(model)}
        outputs.check_output_file(output, inputs)
        trained = api.load_model(model)
        export_onnx(trained, output)
        typer.echo(f"wrote {output}", err=True)
