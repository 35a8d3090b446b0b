"""`nncli explain`: permutation importance per raw feature column, checked against shuffling the raw column of
the table itself; fast enough for 20 columns x 5 repeats on 10000 rows."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.data import read_table
from nncli.explain import explain, permutation_importance
from nncli.metrics import compute_metrics

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
SURVEY_TEST = CONFIGS / "data" / "survey_test.csv"


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """A survey run: numbers with gaps, a categorical column with infrequent and unseen values, rows skipped."""
    run_dir = tmp_path_factory.mktemp("explain") / "survey"
    api.train(CONFIGS / "survey.yaml", out=run_dir, overrides=["training.epochs=5"])
    return run_dir


def raw_column_importance(run_dir: Path, data: Path, repeats: int) -> dict[str, tuple[float, float]]:
    """The slow reference: shuffle each raw column of the table (the same permutations) and evaluate."""
    trained = api.load_model(run_dir)
    prep = trained.preprocessor
    frame = read_table(data, na_values=prep.na_values)
    frame = frame.loc[prep.prepare_rows(frame, source="t", require_target=True).frame.index].reset_index(drop=True)
    baseline = trained.evaluate_frame(frame)["accuracy"]
    rng = np.random.default_rng(0)
    result = {}
    for name in prep.feature_names:
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[name] = frame[name].to_numpy()[rng.permutation(len(frame))]
            drops.append(baseline - trained.evaluate_frame(shuffled)["accuracy"])
        result[name] = (float(np.mean(drops)), float(np.std(drops)))
    return result


def test_a_one_hot_column_is_permuted_as_one_raw_column(survey):
    report = explain(survey, SURVEY_TEST, repeats=3)
    expected = raw_column_importance(survey, SURVEY_TEST, 3)
    assert report["metric"] == "accuracy" and report["repeats"] == 3
    assert report["rows"] == 488  # 12 of the 500 test rows have no rating: skipped
    assert {row["feature"] for row in report["features"]} == set(expected) == {"age", "hours", "education",
                                                                               "region"}
    for row in report["features"]:
        assert (row["mean"], row["std"]) == pytest.approx(expected[row["feature"]], abs=1e-12)
    means = [row["mean"] for row in report["features"]]
    assert means == sorted(means, reverse=True)


def test_an_embedded_column_is_permuted_as_its_raw_column(tmp_path):
    run_dir = tmp_path / "shops"
    api.train(CONFIGS / "shops.yaml", out=run_dir, overrides=["training.epochs=3"])
    data = CONFIGS / "data" / "shops_test.csv"
    report = explain(run_dir, data, repeats=2)
    expected = raw_column_importance(run_dir, data, 2)
    assert set(expected) == {"price", "rating", "shop"}
    for row in report["features"]:
        assert (row["mean"], row["std"]) == pytest.approx(expected[row["feature"]], abs=1e-12)
    assert next(row for row in report["features"] if row["feature"] == "shop")["mean"] > 0.05


def test_json_and_table_through_the_cli(survey):
    result = CliRunner().invoke(app, ["explain", str(survey), str(SURVEY_TEST), "--repeats", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    expected = explain(survey, SURVEY_TEST, repeats=2)
    expected.pop("warnings")
    assert report == json.loads(json.dumps(expected))
    result = CliRunner().invoke(app, ["explain", str(survey), str(SURVEY_TEST), "--repeats", "2"],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"permutation importance: drop in accuracy from {report['baseline']:.4g} (488 rows, "
                               "2 shuffles per column, seed 0)")
    names = [line.split("│")[0].strip() for line in lines if "│" in line]
    assert names == [row["feature"] for row in report["features"]]


def test_regression_uses_r2(tmp_path):
    run_dir = tmp_path / "run"
    api.train(CONFIGS / "friedman.yaml", out=run_dir, overrides=["training.epochs=3"])
    report = explain(run_dir, CONFIGS / "data" / "friedman_test.csv", repeats=2)
    trained = api.load_model(run_dir)
    frame = pd.read_csv(CONFIGS / "data" / "friedman_test.csv")
    assert report["metric"] == "r2"
    assert report["baseline"] == pytest.approx(trained.evaluate_frame(frame)["r2"], abs=1e-12)
    assert report["features"][0]["feature"] == "x4"  # Friedman #1: 10 x4 is the largest single term


def test_twenty_columns_five_repeats_cost_101_whole_passes_and_no_preparing_again(tmp_path, monkeypatch):
    """The baseline, then 20 columns x 5 shuffles: 101 passes of the network over all rows at once, and no
    reading or preparing of the data again (its cost is then the network's, measured in benchmarks/)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 20)), columns=[f"x{i}" for i in range(20)])
    frame["y"] = frame["x0"] * 3 + frame["x1"] + rng.normal(size=2000) * 0.1
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "config.yaml").write_text(
        "name: wide\ndata: {train: data.csv, target: y, valid: null}\n"
        "layers:\n  - {type: dense, units: 64, activation: relu}\n  - {type: dense, units: 32, activation: relu}\n"
        "  - {type: dense, units: 1}\nloss: mse\noptimizer: {type: adam, lr: 0.01}\n"
        "training: {epochs: 2, batch_size: 256}\n")
    api.train(tmp_path / "config.yaml", out=tmp_path / "run")
    trained = api.load_model(tmp_path / "run")
    data = api.check(tmp_path / "config.yaml").datasets.train
    passes = []
    predict = trained.predict_arrays

    def counted(inputs):
        passes.append(len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs))
        return predict(inputs)

    monkeypatch.setattr(trained, "predict_arrays", counted)
    for method in ("prepare", "prepare_rows"):
        monkeypatch.setattr(type(trained.preprocessor), method, lambda *args, **kwargs: pytest.fail("prepared"))
    report = permutation_importance(trained, data, repeats=5)
    assert passes == [2000] * 101
    assert [row["feature"] for row in report["features"][:2]] == ["x0", "x1"]
    assert report["baseline"] == pytest.approx(compute_metrics(["r2"], data.targets,
                                                               trained.predict_arrays(data.features))["r2"])


def test_a_missing_data_file_is_one_error_paragraph(survey, tmp_path):
    result = CliRunner().invoke(app, ["explain", str(survey), str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'none.csv'}")
    assert result.stderr.count("\n") == 1


def test_explain_in_a_real_process(survey):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "explain", str(survey), str(SURVEY_TEST), "--repeats", "1",
                           "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["features"]) == 4
