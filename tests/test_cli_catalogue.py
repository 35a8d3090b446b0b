"""`nncli list` shows the registries' catalogue; `nncli schema` prints the JSON Schema every example validates."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from nncli.catalogue import families
from tests.test_cli import cli_env, invoke
from tests.test_errors import assert_one_error_paragraph

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(path for path in (REPO / "configs").glob("*.yaml") if not path.stem.endswith("-sweep"))


def test_list_optimizers_shows_parameters_defaults_and_limits():
    shown = invoke("list", "optimizers").stdout
    lines = [" ".join(line.replace("│", " ").split()) for line in shown.splitlines()]
    assert lines[0] == "optimizers"
    assert any(line.startswith("adam lr=0.001 >= 0 Adam, step t") for line in lines), lines
    assert any(line.startswith("betas=[0.9, 0.999] each [0, 1)") for line in lines), lines
    assert any(line.startswith("dampening=0.0 [0, 1]") for line in lines), lines
    assert "layers" not in shown


def test_list_without_family_shows_every_family_and_every_name():
    shown = invoke("list").stdout
    for family, registry in families().items():
        assert f"\n{family}\n" in f"\n{shown}", family
        for name in registry.names():
            assert f" {name} " in shown, name


def test_list_takes_a_family_in_the_singular():
    assert invoke("list", "layer").stdout == invoke("list", "layers").stdout


def test_list_of_an_unknown_family_suggests_the_closest():
    result = invoke("list", "optimisers", code=2)
    assert result.stdout == ""
    assert_one_error_paragraph(result.stderr)
    assert "unknown family 'optimisers'; did you mean 'optimizers'?" in result.stderr


@pytest.fixture(scope="module")
def schema():
    done = subprocess.run([sys.executable, "-m", "nncli", "schema"], env=cli_env(), capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stderr == ""
    printed = json.loads(done.stdout)
    assert json.loads(invoke("schema").stdout) == printed
    jsonschema.Draft202012Validator.check_schema(printed)
    return jsonschema.Draft202012Validator(printed)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_config_validates_against_the_printed_schema(schema, path):
    schema.validate(yaml.safe_load(path.read_text()))


MINIMAL = {"data": {"train": "t.csv", "target": "y"}, "layers": [{"type": "dense", "units": 1}]}


@pytest.mark.parametrize(("change", "where"), [
    ({"layers": [{"type": "dense", "units": -3}]}, "units"),
    ({"layers": [{"type": "densse", "units": 3}]}, "densse"),
    ({"layers": []}, "layers"),
    ({"optimizer": {"type": "adam", "lr": -1}}, "lr"),
    ({"optimizer": {"type": "adam", "momentum": 0.9}}, "momentum"),
    ({"loss": "mse2"}, "mse2"),
    ({"data": {"train": "t.csv"}}, "target"),
    ({"training": {"epochs": 5, "batch": 3}}, "batch"),
    ({"dtype": "float16"}, "float16"),
    ({"metrics": ["accuracy", "auc2"]}, "auc2"),
    ({"layers": [{"type": "embedding", "column": "c", "dim": 2, "inputs": ["input"]}]}, "input"),
])
def test_invalid_configs_fail_the_schema(schema, change, where):
    assert schema.is_valid(MINIMAL)
    errors = list(schema.iter_errors(MINIMAL | change))
    assert errors, change
    # an optional section (data) is anyOf [section, null]: what is wrong inside it is in the error's context
    messages = [str(error) for top in errors for error in (top, *top.context)]
    assert any(where in message for message in messages), messages


def test_schema_describes_the_sections_and_the_discriminated_types():
    printed = json.loads(invoke("schema").stdout)
    data = printed["$defs"]["DataConfig"]["properties"]
    assert all(field.get("description") for field in data.values()), data
    assert "seed" in printed["properties"] and printed["properties"]["seed"]["description"]
    optimizer_types = json.dumps(printed["properties"]["optimizer"])
    assert "discriminator" in optimizer_types or "oneOf" in optimizer_types
