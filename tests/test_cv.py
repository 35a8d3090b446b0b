"""`nncli cv`: seeded, stratified folds of the training file, each a normal run directory scored on its held-out
rows; cv.json and the table hold each fold and mean ± std; --jobs gives the same numbers in worker processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api, cv
from nncli.cli import app
from nncli.data.holdout import fold_numbers
from nncli.workers import blas_environment, worker_pool

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
name: tiny
seed: 0
data: {train: data/train.csv, target: label, valid: 0.25}
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 1, activation: sigmoid}
loss: binary_crossentropy
metrics: [accuracy, f1]
optimizer: {type: adam, lr: 0.01}
training: {epochs: 3, batch_size: 8}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).round(4)
    label = np.where(np.arange(60) < 45, "a", "b")  # unbalanced: 45 a, 15 b
    (tmp_path / "data").mkdir()
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "label": label}).to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_folds_are_stratified_seeded_and_cover_every_row_once():
    labels = np.array(["a"] * 45 + ["b"] * 15)
    numbers = fold_numbers(60, 3, np.random.default_rng(0), labels)
    assert sorted(np.bincount(numbers)) == [20, 20, 20]
    for k in range(3):
        assert np.sum(labels[numbers == k] == "b") == 5  # every fold holds a third of the small class
    assert np.array_equal(numbers, fold_numbers(60, 3, np.random.default_rng(0), labels))
    assert not np.array_equal(numbers, fold_numbers(60, 3, np.random.default_rng(1), labels))
    assert sorted(np.bincount(fold_numbers(10, 3, np.random.default_rng(0)))) == [3, 3, 4]


def test_cv_writes_fold_run_directories_and_cv_json(project):
    result = api.cv("config.yaml", folds=3)
    cv_dir = project / "runs" / "tiny-cv"
    assert result.cv_dir == cv_dir
    for k in range(3):
        fold_dir = cv_dir / f"fold-{k}"
        assert {"model.npz", "config.yaml", "metrics.csv", "summary.json"} <= {p.name for p in fold_dir.iterdir()}
        summary = json.loads((fold_dir / "summary.json").read_text())
        assert summary["test"] == result.folds[k]["scores"]  # scored on the held-out fold
        assert result.folds[k]["test_rows"] == 20 and result.folds[k]["train_rows"] == 40
    written = json.loads((cv_dir / "cv.json").read_text())
    assert set(written["mean"]) == {"loss", "accuracy", "f1"}
    accuracies = [fold["scores"]["accuracy"] for fold in result.folds]
    assert written["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert written["std"]["accuracy"] == pytest.approx(np.std(accuracies))
    # a second cv never overwrites the first
    assert api.cv("config.yaml", folds=3).cv_dir == project / "runs" / "tiny-cv-2"
    assert (project / "data").iterdir().__next__().name == "train.csv" and len(list((project / "data").iterdir())) == 1


def test_parallel_folds_give_the_same_numbers(project):
    one = api.cv("config.yaml", folds=3, out="one")
    two = api.cv("config.yaml", folds=3, out="two", jobs=2)
    assert one.mean == two.mean and one.std == two.std
    for k in range(3):
        assert (project / "one" / f"fold-{k}" / "model.npz").read_bytes() == \
            (project / "two" / f"fold-{k}" / "model.npz").read_bytes()


def test_workers_get_their_share_of_blas_threads():
    with worker_pool(2) as pool:
        environment = pool.submit(blas_environment).result()
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    assert environment == {name: str(threads) for name in environment}


def test_cli_prints_the_table_and_json(project):
    result = CliRunner().invoke(app, ["cv", "config.yaml", "--folds", "3", "--out", "table"])
    assert result.exit_code == 0, result.stderr
    assert "mean ± std" in result.stdout and "fold" in result.stdout
    result = CliRunner().invoke(app, ["cv", "config.yaml", "--folds", "3", "--out", "json", "--json",
                                      "--set", "training.epochs=1"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [fold["fold"] for fold in report["folds"]] == [0, 1, 2]
    assert report == json.loads((project / "json" / "cv.json").read_text())


@pytest.mark.parametrize("args, expect", [
    (["--folds", "1"], "at least 2 folds"),
    (["--folds", "61"], "61 folds"),
    (["--folds", "3", "--out", "data"], "not empty"),
    (["--folds", "3", "--set", "layers.0.units=-1"], "layers[0].units"),
])
def test_cli_refuses_bad_input_with_one_error_line(project, args, expect):
    before = sorted(str(p) for p in project.rglob("*"))
    result = CliRunner().invoke(app, ["cv", "config.yaml", *args])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and expect in result.stderr, result.stderr
    assert sorted(str(p) for p in project.rglob("*")) == before


def test_cv_in_a_real_process(project):
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "cv", "config.yaml", "--folds", "2", "--jobs", "2",
                           "--json"], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cv_dir"].endswith("tiny-cv")
    assert cv.CV_FILE in os.listdir(project / "runs" / "tiny-cv")
