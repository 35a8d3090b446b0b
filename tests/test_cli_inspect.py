"""`nncli inspect` profiles a data file and warns about what would mislead training; `nncli init` writes a
config from it that trains as it is, and never over a file."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nncli import api
from tests.test_cli import cli_env, invoke
from tests.test_errors import assert_one_error_paragraph, fails

REPO = Path(__file__).resolve().parents[1]
DATASETS = [("moons_train.csv", "label"), ("xor.csv", "label"), ("iris.csv", "species"),
            ("friedman_train.csv", "target"), ("loans_train.csv", "approved"), ("survey_train.csv", "rating")]


@pytest.fixture
def here(tmp_path, monkeypatch):
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def messy(rows: int = 200) -> pd.DataFrame:
    """A table with every kind of column inspect warns about; rows sorted by the target."""
    rng = np.random.default_rng(0)
    label = np.sort(rng.choice(["no", "yes"], size=rows)).astype(object)
    label[-1] = "maybe"  # one row: too few for a stratified split
    frame = pd.DataFrame({"Unnamed: 0": np.arange(rows), "customer": [f"c{i:05d}" for i in range(rows)],
                          "country": "NL", "income": rng.normal(50, 10, rows).round(2),
                          "colour": rng.choice(["red", "blue", "green"], size=rows),
                          "outcome_code": [str(value)[0].upper() for value in label], "label": label})
    frame.loc[[3, 7], "label"] = np.nan
    return frame


def inspected(*args: str) -> dict:
    return json.loads(invoke("inspect", *args, "--json").stdout)


def test_inspect_json_reports_kinds_target_and_every_warning(here):
    messy().to_csv("messy.csv", index=False)
    report = inspected("messy.csv", "--target", "label")
    assert (report["file"], report["rows"], report["delimiter"], report["encoding"]) == ("messy.csv", 200, ",",
                                                                                           "utf-8")
    kinds = {column["name"]: column["kind"] for column in report["columns"]}
    assert kinds == {"Unnamed: 0": "index-like", "customer": "id-like", "country": "constant",
                     "income": "numeric", "colour": "categorical", "outcome_code": "categorical",
                     "label": "categorical"}
    assert report["target"]["task"] == "classification" and report["target"]["missing"] == 2
    assert dict(map(tuple, report["target"]["classes"]))["maybe"] == 1
    warnings = "\n".join(report["warnings"])
    for expected in ("'Unnamed: 0' looks like a saved row index", "'customer' is unique per row",
                     "'country' is constant", "'outcome_code' alone predicts the target", "sorted by the target",
                     "class 'maybe'", "2 missing cells"):
        assert expected in warnings, expected
    assert "'income' alone" not in warnings and "'colour' alone" not in warnings


def test_inspect_table_shows_columns_target_and_warnings(here):
    messy().to_csv("messy.csv", index=False)
    shown = invoke("inspect", "messy.csv", "--target", "label").stdout
    assert shown.startswith("messy.csv: 200 rows, 7 columns, delimiter ',', encoding utf-8")
    assert "index-like" in shown and "id-like" in shown and "constant" in shown
    assert "target 'label': classification, 3 classes; 2 rows without a target" in shown
    assert "warnings:" in shown and "alone predicts the target" in shown


def test_a_continuous_column_that_separates_the_classes_is_leakage(here):
    rng = np.random.default_rng(1)
    score = rng.normal(size=5000)
    frame = pd.DataFrame({"noise": rng.normal(size=5000), "score": score, "y": np.where(score > 0.3, "a", "b")})
    frame.to_csv("leak.csv", index=False)
    warnings = inspected("leak.csv", "--target", "y")["warnings"]
    assert len(warnings) == 1 and "'score' alone predicts" in warnings[0]


def test_inspect_regression_target_and_compressed_file(here):
    data = (REPO / "configs" / "data" / "friedman_train.csv").read_bytes()
    Path("f.csv.gz").write_bytes(gzip.compress(data))
    report = inspected("f.csv.gz", "--target", "target")
    assert report["target"]["task"] == "regression"
    assert set(report["target"]["statistics"]) == {"mean", "std", "min", "max"}
    assert report["warnings"] == []


def test_inspect_reads_stdin():
    data = (REPO / "configs" / "data" / "iris.csv").read_text()
    done = subprocess.run([sys.executable, "-m", "nncli", "inspect", "-", "--json"], input=data, env=cli_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["file"], report["rows"], report["target"]) == ("<stdin>", 150, None)


def test_inspect_unknown_target_and_missing_file(here):
    messy().to_csv("messy.csv", index=False)
    fails("inspect", "messy.csv", "--target", "lable", expect=("messy.csv: --target: column 'lable' not found; "
                                                               "did you mean 'label'?",))
    fails("inspect", "nothere.csv", expect=("nothere.csv",))


@pytest.mark.parametrize(("name", "target"), DATASETS)
def test_init_writes_a_config_that_trains_as_is(here, name, target):
    data = REPO / "configs" / "data" / name
    result = invoke("init", str(data), "--target", target)
    config = here / f"{Path(name).stem}.yaml"
    assert f"wrote {config.name}" in result.stderr and result.stdout == ""
    text = config.read_text()
    assert text.startswith("# nncli config for") and yaml.safe_load(text)["data"]["target"] == target
    summary = api.train(config, out=here / "run", overrides=["training.epochs=3"]).summary
    assert summary["epochs_run"] == 3


def test_init_never_overwrites_and_takes_o(here):
    messy().to_csv("messy.csv", index=False)
    Path("mine.yaml").write_text("my own notes\n")
    fails("init", "messy.csv", "--target", "label", "-o", "mine.yaml", expect=("mine.yaml: the file exists",))
    assert Path("mine.yaml").read_text() == "my own notes\n"
    invoke("init", "messy.csv", "--target", "label", "-o", "other.yaml")
    config = yaml.safe_load(Path("other.yaml").read_text())
    assert config["data"]["features"] == ["income", "colour", "outcome_code"]
    fails("init", "messy.csv", "--target", "label", "-o", "other.yaml", expect=("other.yaml: the file exists",))
    fails("init", "messy.csv", "--target", "nope", expect=("--target: column 'nope' not found",))
    assert not Path("messy.yaml").exists()


def test_init_to_stdout_and_in_a_real_process(here):
    messy().to_csv("messy.csv", index=False)
    printed = invoke("init", "messy.csv", "--target", "label", "-o", "-").stdout
    assert yaml.safe_load(printed)["data"]["train"] == "messy.csv"
    done = subprocess.run([sys.executable, "-m", "nncli", "init", "messy.csv", "--target", "label"], cwd=here,
                          env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (0, "")
    assert (here / "messy.yaml").read_text() == printed
    again = subprocess.run([sys.executable, "-m", "nncli", "init", "messy.csv", "--target", "label"], cwd=here,
                           env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 2
    assert_one_error_paragraph(again.stderr)


def test_texts_in_a_column_of_numbers_are_named_as_missing_markers(here):
    report = inspected(str(REPO / "configs" / "data" / "survey_train.csv"), "--target", "rating")
    age = next(column for column in report["columns"] if column["name"] == "age")
    assert age["markers"] == ["?"]
    assert any(warning.startswith("column 'age' holds numbers and the texts \"?\"") for warning in report["warnings"])
