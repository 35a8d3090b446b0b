"""data.weight and training.class_weight through the whole run: the weight column is read and checked like any
column (file:line errors), is not a feature, weighs training and validation losses but no metric, and resume
carries the weights exactly (the data fingerprint includes them)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.modelfile import load_model
from nncli.train import Interrupted
from nncli.weights import class_weights
from tests.test_errors import fails
from tests.test_resume import StopAfter, assert_same_arrays, metrics_without_seconds

CONFIG = """\
name: weighted
seed: 3
data:
  train: data/train.csv
  target: label
  valid: 0.25
  weight: w
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 3, activation: softmax}
optimizer: {type: adam, lr: 0.02}
metrics: [accuracy, f1]
training:
  epochs: 5
  batch_size: 16
  class_weight: balanced
  early_stopping: {monitor: val_loss, patience: 3}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    label = rng.choice(3, size=160, p=[0.7, 0.2, 0.1])
    points = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])[label] + rng.normal(scale=0.7, size=(160, 2))
    (tmp_path / "data").mkdir()
    pd.DataFrame({"a": points[:, 0].round(4), "b": points[:, 1].round(4),
                  "w": rng.uniform(0.5, 2.0, size=160).round(3),
                  "label": np.array(["ant", "bee", "cat"])[label]}).to_csv(tmp_path / "data" / "train.csv",
                                                                           index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def set_cell(row: int, column: str, value) -> None:
    frame = pd.read_csv("data/train.csv", dtype={column: object})
    frame.loc[row, column] = value
    frame.to_csv("data/train.csv", index=False)


def test_the_weight_column_is_not_a_feature_and_weights_are_row_times_class(project):
    prepared = api.check("config.yaml")
    assert prepared.datasets.preprocessor.feature_names == ["a", "b"]
    train = prepared.datasets.train
    frame = pd.read_csv("data/train.csv")
    labels = frame["label"].to_numpy()[train.frame_rows]
    counts = {name: int((labels == name).sum()) for name in ("ant", "bee", "cat")}
    balanced = {name: len(labels) / (3 * count) for name, count in counts.items()}
    expected = frame["w"].to_numpy()[train.frame_rows] * np.array([balanced[name] for name in labels])
    np.testing.assert_allclose(train.weights, expected, rtol=1e-6)
    assert train.weights.dtype == np.float32 and prepared.datasets.valid.weights is not None


def test_class_weight_mapping_keeps_unnamed_classes_at_one(project):
    prepared = api.check("config.yaml")
    weights = class_weights({"cat": 4.0, "ant": 0.5}, prepared.datasets.preprocessor, prepared.datasets.train.targets)
    assert weights.tolist() == [0.5, 1.0, 4.0]


@pytest.mark.parametrize(("row", "value", "expected"), [
    (5, "", "data/train.csv:7: data.weight: the weight in column 'w' is missing"),
    (9, "-1", "data/train.csv:11: data.weight: the weight in column 'w' is -1.0; weights are finite numbers >= 0"),
    (2, "heavy", "data/train.csv:4: data.weight: the weight in column 'w' is 'heavy', not a number"),
])
def test_bad_weights_are_errors_at_their_line(project, row, value, expected):
    set_cell(row, "w", value)
    assert expected in fails("train", "config.yaml")


def test_weight_column_missing_class_unknown_and_regression_class_weights(project):
    Path("config.yaml").write_text(CONFIG.replace("weight: w", "weight: wt"))
    assert "data.weight" in fails("check", "config.yaml", expect=("'wt'",))
    Path("config.yaml").write_text(CONFIG.replace("class_weight: balanced", "class_weight: {dog: 2}"))
    fails("check", "config.yaml", expect=("config.yaml:16", "training.class_weight", "'dog'", "ant, bee, cat"))
    Path("config.yaml").write_text(CONFIG.replace("class_weight: balanced", "class_weight: {ant: -2}"))
    fails("check", "config.yaml", expect=("training.class_weight", "weights are numbers >= 0"))
    Path("config.yaml").write_text(CONFIG.replace("weight: w", "weight: label"))
    fails("check", "config.yaml", expect=("data.weight", "which is the target"))


def test_equal_weights_train_like_no_weights(project):
    """Σ c·lᵢ / Σ c is the mean: the same training up to rounding (float64)."""
    frame = pd.read_csv("data/train.csv")
    frame["w"] = 2.5
    frame.to_csv("data/train.csv", index=False)
    config = (CONFIG.replace("class_weight: balanced", "class_weight: null")
              .replace("seed: 3", "seed: 3\ndtype: float64"))
    Path("config.yaml").write_text(config)
    weighted = api.train("config.yaml", out="weighted")
    Path("config.yaml").write_text(config.replace("  weight: w\n", "  features: [a, b]\n"))
    plain = api.train("config.yaml", out="plain")
    weighted_arrays, plain_arrays = dict(np.load("weighted/model.npz")), dict(np.load("plain/model.npz"))
    for key in plain_arrays:
        if key.startswith("layers."):
            np.testing.assert_allclose(weighted_arrays[key], plain_arrays[key], rtol=1e-9, atol=1e-12)
    for weighted_record, plain_record in zip(weighted.history, plain.history, strict=False):
        assert weighted_record["val_loss"] == pytest.approx(plain_record["val_loss"], rel=1e-9)


def test_weights_change_the_model_and_validation_loss_but_not_how_metrics_count(project):
    weighted = api.train("config.yaml", out="weighted")
    Path("config.yaml").write_text(CONFIG.replace("class_weight: balanced", "class_weight: null")
                                   .replace("  weight: w\n", "  features: [a, b]\n"))
    plain = api.train("config.yaml", out="plain")
    assert weighted.history[0]["val_loss"] != plain.history[0]["val_loss"]
    model = load_model("weighted")
    report = model.evaluate_frame(pd.read_csv("data/train.csv"))
    predicted = model.predict_frame(pd.read_csv("data/train.csv"))
    accuracy = float((predicted["label"].to_numpy() == pd.read_csv("data/train.csv")["label"].to_numpy()).mean())
    assert report["accuracy"] == pytest.approx(accuracy)


def test_resume_with_weights_is_bit_identical_and_changed_weights_are_refused(project):
    api.train("config.yaml", out="reference")
    stop = StopAfter(11)
    with pytest.raises(Interrupted):
        api.train("config.yaml", out="cut", should_stop=stop, on_batch=stop.on_batch)
    api.train("config.yaml", out="cut", resume=True)
    assert_same_arrays(Path("reference/model.npz"), Path("cut/model.npz"))
    assert metrics_without_seconds(Path("cut")) == metrics_without_seconds(Path("reference"))
    stop = StopAfter(3)
    with pytest.raises(Interrupted):
        api.train("config.yaml", out="again", should_stop=stop, on_batch=stop.on_batch)
    set_cell(4, "w", "1.234")
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "again", "--resume"])
    assert result.exit_code == 2
    assert "--resume refuses changed data" in result.stderr
