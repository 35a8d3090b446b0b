"""`nncli compare`: the config values that differ between runs, best epoch, best and test metrics."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app

REPO = Path(__file__).resolve().parents[1]
MOONS = REPO / "configs" / "moons.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two moons runs that differ in lr and epochs, the second in a sweep-like trials/<k>/ directory."""
    root = tmp_path_factory.mktemp("compare")
    first, second = root / "a", root / "sweep" / "trials" / "1"
    second.parent.mkdir(parents=True)
    api.train(MOONS, out=first, overrides=["training.epochs=3"])
    api.train(MOONS, out=second, overrides=["training.epochs=2", "optimizer.lr=0.5"])
    return first, second


def test_json_lists_the_differing_paths_and_each_runs_scores(runs):
    first, second = runs
    result = CliRunner().invoke(app, ["compare", str(first), str(second), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["differences"] == ["optimizer.lr", "training.epochs"]
    rows = report["runs"]
    assert [row["run"] for row in rows] == [str(first), str(second)]
    assert [row["config"] for row in rows] == [{"optimizer.lr": 0.01, "training.epochs": 3},
                                              {"optimizer.lr": 0.5, "training.epochs": 2}]
    for row, run_dir in zip(rows, runs, strict=False):
        summary = json.loads((run_dir / "summary.json").read_text())
        assert row["best_epoch"] == summary["best_epoch"]
        assert row["test"] == summary["test"]
        assert row["best"] == {k: v for k, v in summary["best"].items() if k not in ("epoch", "lr", "seconds")}
        assert set(row["best"]) == {"loss", "accuracy", "auc", "val_loss", "val_accuracy", "val_auc"}


def test_table_has_a_row_per_difference_and_metric(runs):
    first, second = runs
    result = CliRunner().invoke(app, ["compare", str(first), str(second)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[0].strip(): [cell.strip() for cell in line.split("│")[1:]]
            for line in result.stdout.splitlines() if "│" in line}
    assert rows["optimizer.lr"] == ["0.01", "0.5"]
    assert rows["training.epochs"] == ["3", "2"]
    summary = json.loads((second / "summary.json").read_text())
    assert rows["best epoch"][1] == str(summary["best_epoch"] + 1)  # from 1, as on screen
    assert "test_accuracy" in rows and "val_loss" in rows and "name" not in rows


def test_a_directory_that_is_not_a_run_is_one_error_paragraph(runs, tmp_path):
    result = CliRunner().invoke(app, ["compare", str(runs[0]), str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'missing'}: is not a run directory")
    assert result.stderr.count("\n") == 1


def test_a_damaged_summary_names_the_file(runs, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(runs[0], copy)
    (copy / "summary.json").write_text("{not json")
    result = CliRunner().invoke(app, ["compare", str(copy)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {copy / 'summary.json'}: cannot be read")


def test_compare_in_a_real_process(runs):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "compare", *map(str, runs), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["differences"] == ["optimizer.lr", "training.epochs"]
