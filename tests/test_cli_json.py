"""`train --json` and `check --json`: JSON Lines (one object per epoch, then the summary) and one object, with
nothing else on stdout, so scripts can drive nncli; errors stay on stderr with their exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests import test_cli
from tests.test_cli import EPOCHS, cli_env, invoke
from tests.test_errors import fails

project = test_cli.project  # the fixture: a working directory with small configs and their data

REPO = Path(__file__).resolve().parents[1]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_train_json_prints_each_metrics_row_then_the_summary(project):
    result = invoke("train", "tiny.yaml", "--out", "run", "--json")
    lines = json_lines(result.stdout)
    assert len(lines) == EPOCHS + 1 and list(lines[-1]) == ["summary"]
    metrics = pd.read_csv(project / "run" / "metrics.csv")
    assert [list(line) for line in lines[:-1]] == [list(metrics.columns)] * EPOCHS
    for line, (_, row) in zip(lines, metrics.iterrows(), strict=False):
        assert line["epoch"] == row["epoch"]
        assert line["loss"] == row["loss"] and line["val_loss"] == row["val_loss"]
    assert lines[-1]["summary"] == json.loads((project / "run" / "summary.json").read_text())


def test_train_json_errors_stay_on_stderr(project):
    fails("train", "missing.yaml", "--json", expect=("missing.yaml",))
    fails("train", "tiny.yaml", "--json", "--set", "optimizer.lr=-1", expect=("optimizer.lr",))


def test_check_json_is_one_object(project):
    report = json.loads(invoke("check", "tiny.yaml", "--json").stdout)
    assert set(report) == {"config", "rows", "rows_skipped", "inputs", "classes", "targets", "embeddings",
                           "layers", "parameters", "warnings"}
    assert report["embeddings"] == []
    assert report["config"]["name"] == "tiny" and report["rows"]["train"] > 0 and "valid" in report["rows"]
    assert report["parameters"] == sum(layer["params"] for layer in report["layers"])
    assert report["inputs"]["width"] >= len(report["inputs"]["columns"])
    assert not (project / "runs").exists()


def test_check_json_of_every_example():
    for path in sorted(p for p in (REPO / "configs").glob("*.yaml") if not p.stem.endswith("-sweep")):
        report = json.loads(invoke("check", str(path), "--json").stdout)
        assert (report["classes"] is None) == (report["config"]["task"] == "regression"), path


def test_train_json_through_a_pipe(project):
    command = [sys.executable, "-m", "nncli", "train", "tiny.yaml", "--json", "--set", "training.epochs=2"]
    done = subprocess.run(command, cwd=project, env=cli_env(), capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    assert [line.get("epoch") for line in lines] == [0, 1, None] and "summary" in lines[-1]
    checked = subprocess.run([sys.executable, "-m", "nncli", "check", "tiny.yaml", "--json"], cwd=project,
                             env=cli_env(), capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 0 and json.loads(checked.stdout)["config"]["name"] == "tiny"


def test_train_json_of_a_diverging_run_stays_valid_json(project):
    result = invoke("train", "line.yaml", "--json", "--set", "optimizer.type=sgd", "--set", "optimizer.lr=1e12",
                    code=1)
    assert result.stderr.startswith("error: ")
    for line in json_lines(result.stdout):  # every line parses: numbers that are not finite are null
        assert "epoch" in line
