"""`nncli schema`: the config's JSON Schema on stdout, for editors and other tools."""

from __future__ import annotations

import typer

from nncli.cli.app import DEBUG_HELP, app, user_errors, write_stdout


@app.command()
def schema(debug: bool = typer.Option(False, "--debug", help=DEBUG_HELP)) -> None:
    """Print the JSON Schema of a config file (the schema that validates configs), e.g. for an editor."""
    with user_errors(debug):
        import json

        from nncli.config.jsonschema import config_schema

        write_stdout(json.dumps(config_schema(), indent=2) + "\n")
