"""The commands end to end on small CSVs: train, predict, eval and check through typer's CliRunner and a real
subprocess (`python -m nncli` and the `nncli` console script). The error paths live in test_errors.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.config import load_config

REPO = Path(__file__).resolve().parents[1]
RUN_FILES = {"config.yaml", "model.npz", "metrics.csv", "checkpoint.npz", "summary.json", ".nncli-run"}
CLASSES = ["ant", "bee", "cat"]
EPOCHS = 4

CLASSIFIER_YAML = f"""\
# no name: the run is named after the file's stem
seed: 0
data:
  train: data/animals_train.csv
  test: data/animals_test.csv
  target: label
  valid: 0.25
layers:
  - {{type: dense, units: 8, activation: relu}}
  - {{type: dropout, rate: 0.1}}
  - {{type: dense, units: 3, activation: softmax}}
loss: categorical_crossentropy
metrics: [accuracy]
optimizer: {{type: adam, lr: 0.02}}
training:
  epochs: {EPOCHS}
  batch_size: 16
"""

REGRESSOR_YAML = """\
name: line
seed: 1
data:
  train: data/line.csv
  target: y
layers:
  - {type: dense, units: 8, activation: tanh}
  - {type: dense, units: 1}
loss: mse
metrics: [r2]
optimizer: {type: adam, lr: 0.05}
training:
  epochs: 5
  batch_size: 16
"""


def animals(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Three classes around three centres, with a text column that nncli one-hot encodes."""
    label = rng.integers(0, 3, size=rows)
    centres = np.array([[0.0, 0.0, 1.0], [2.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    points = centres[label] + rng.normal(scale=0.4, size=(rows, 3))
    return pd.DataFrame({"f1": points[:, 0].round(4), "f2": points[:, 1].round(4),
                         "colour": np.array(["red", "green", "blue"])[label],
                         "f3": points[:, 2].round(4), "label": np.array(CLASSES)[label]})


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with two small configs and their data; runs/ goes here."""
    rng = np.random.default_rng(7)
    data = tmp_path / "data"
    data.mkdir()
    animals(96, rng).to_csv(data / "animals_train.csv", index=False)
    animals(30, rng).to_csv(data / "animals_test.csv", index=False)
    x = rng.uniform(-1, 1, size=(64, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": 3 * x[:, 0] - 2 * x[:, 1] + 1}).to_csv(data / "line.csv",
                                                                                        index=False)
    (tmp_path / "tiny.yaml").write_text(CLASSIFIER_YAML)
    (tmp_path / "line.yaml").write_text(REGRESSOR_YAML)
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):  # keep rich in plain mode
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def cli_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_process(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{command} exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def read_model(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def assert_plain_epoch_lines(stdout: str, epochs: int) -> None:
    """Not a terminal: one plain line per epoch, no progress bar, no cursor movement or colour codes."""
    assert "\r" not in stdout and "\x1b" not in stdout
    lines = stdout.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == epochs, stdout
    before_summary = lines[:lines.index(epoch_lines[-1]) + 1]
    assert not any("━" in line for line in before_summary), stdout  # rich's bar glyph


# --- train ---------------------------------------------------------------------------------------------------

def test_train_writes_the_run_directory_of_spec(project):
    invoke("train", "tiny.yaml", "--quiet")
    run = project / "runs" / "tiny"
    assert {path.name for path in run.iterdir()} == RUN_FILES  # nothing else, no temporary files left

    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["name"] == "tiny"
    assert set(resolved) >= {"name", "seed", "dtype", "task", "data", "layers", "loss", "metrics", "optimizer",
                             "schedule", "regularization", "training"}
    assert set(resolved["data"]) >= {"train", "valid", "delimiter", "missing", "test", "target", "features",
                                     "categorical", "scale"}
    assert set(resolved["training"]) >= {"epochs", "batch_size", "shuffle", "early_stopping", "clip_norm"}
    assert resolved["task"] == "classification" and resolved["dtype"] == "float32"
    assert load_config(run / "config.yaml") == load_config("tiny.yaml")

    arrays = read_model(run / "model.npz")
    params = {key for key in arrays if key.startswith("layers.")}
    assert params == {"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}  # 1 is dropout
    assert all(key.startswith(("layers.", "meta.")) for key in arrays)
    assert arrays["layers.0.weight"].shape == (6, 8)  # f1, f2, f3 + three one-hot colours
    assert arrays["layers.2.weight"].shape == (8, 3) and arrays["layers.2.bias"].shape == (3,)
    assert arrays["layers.0.weight"].dtype == np.float32

    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics.columns) == ["epoch", "lr", "loss", "val_loss", "accuracy", "val_accuracy", "seconds"]
    assert len(metrics) == EPOCHS
    assert list(metrics["epoch"]) == list(range(metrics["epoch"][0], metrics["epoch"][0] + EPOCHS))
    assert np.isfinite(metrics.drop(columns="epoch").to_numpy()).all()

    checkpoint = read_model(run / "checkpoint.npz")
    assert checkpoint  # loads without pickle

    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS
    assert set(summary["final"]) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert set(summary["test"]) >= {"loss", "accuracy"}
    assert summary["wall_seconds"] >= 0 and "numpy" in summary["versions"]


def test_run_directories_are_named_after_the_config_and_never_reused(project):
    for _ in range(3):
        invoke("train", "tiny.yaml", "--quiet", "--set", "training.epochs=1")
    invoke("train", "line.yaml", "--quiet", "--set", "training.epochs=1")
    assert sorted(path.name for path in (project / "runs").iterdir()) == ["line", "tiny", "tiny-2", "tiny-3"]
    for name in ("tiny", "tiny-2", "tiny-3"):
        assert {path.name for path in (project / "runs" / name).iterdir()} == RUN_FILES


def test_out_is_the_run_directory_exactly(project):
    invoke("train", "tiny.yaml", "--quiet", "--out", "results/deep/first")
    assert {path.name for path in (project / "results" / "deep" / "first").iterdir()} == RUN_FILES
    assert not (project / "runs").exists()


def test_set_overrides_values_and_list_items(project):
    invoke("train", "tiny.yaml", "--quiet", "--out", "run", "--set", "layers.0.units=5",
           "--set", "optimizer.lr=1e-3", "--set", "training.epochs=2", "--set", "metrics=[accuracy, f1]")
    resolved = yaml.safe_load((project / "run" / "config.yaml").read_text())
    assert resolved["layers"][0]["units"] == 5
    assert resolved["optimizer"]["lr"] == 0.001
    assert resolved["training"]["epochs"] == 2
    assert resolved["metrics"] == ["accuracy", "f1"]
    assert read_model(project / "run" / "model.npz")["layers.0.weight"].shape == (6, 5)
    metrics = pd.read_csv(project / "run" / "metrics.csv")
    assert len(metrics) == 2 and {"f1", "val_f1"} <= set(metrics.columns)
    assert load_config(project / "run" / "config.yaml") == load_config(
        "tiny.yaml", ["layers.0.units=5", "optimizer.lr=1e-3", "training.epochs=2", "metrics=[accuracy, f1]"])


def test_quiet_prints_nothing(project):
    result = invoke("train", "tiny.yaml", "--quiet")
    assert result.stdout == ""
    assert (project / "runs" / "tiny" / "model.npz").is_file()


def test_plain_output_has_one_line_per_epoch_and_a_summary(project):
    result = invoke("train", "tiny.yaml")
    assert_plain_epoch_lines(result.stdout, EPOCHS)
    assert str(project / "runs" / "tiny") in result.stdout.replace("\n", "")  # where the run was saved (folded)


def test_zero_epochs_saves_the_initial_weights(project):
    invoke("train", "tiny.yaml", "--quiet", "--out", "run", "--set", "training.epochs=0")
    saved = read_model(project / "run" / "model.npz")
    initial = api.check("tiny.yaml", ["training.epochs=0"]).model.state_dict()
    assert set(initial) == {key for key in saved if key.startswith("layers.")}
    for key, value in initial.items():
        np.testing.assert_array_equal(saved[key], value)
    assert len(pd.read_csv(project / "run" / "metrics.csv")) == 0
    assert json.loads((project / "run" / "summary.json").read_text())["epochs_run"] == 0


def test_same_config_twice_gives_a_bit_identical_model(project):
    invoke("train", "tiny.yaml", "--quiet", "--out", "one")
    invoke("train", "tiny.yaml", "--quiet", "--out", "two")
    one, two = read_model(project / "one" / "model.npz"), read_model(project / "two" / "model.npz")
    assert set(one) == set(two)
    for key in one:
        assert one[key].dtype == two[key].dtype and one[key].tobytes() == two[key].tobytes(), key


# --- predict and eval ----------------------------------------------------------------------------------------

@pytest.fixture
def classifier(project):
    invoke("train", "tiny.yaml", "--quiet", "--out", "clf", "--set", "training.epochs=30")
    return project / "clf"


@pytest.fixture
def regressor(project):
    invoke("train", "line.yaml", "--quiet", "--out", "reg", "--set", "training.epochs=40")
    return project / "reg"


def predictions_from(text: str) -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(text))


def test_predict_writes_labels_and_class_probabilities(classifier, project):
    data = project / "data" / "animals_test.csv"
    shown = predictions_from(invoke("predict", str(classifier), str(data)).stdout)
    assert list(shown.columns) == ["label"] + [f"prob_{name}" for name in CLASSES]
    assert len(shown) == len(pd.read_csv(data))
    probabilities = shown[[f"prob_{name}" for name in CLASSES]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert list(shown["label"]) == [CLASSES[i] for i in probabilities.argmax(axis=1)]
    assert (shown["label"] == pd.read_csv(data)["label"]).mean() >= 0.9  # it did learn

    result = invoke("predict", str(classifier / "model.npz"), str(data), "-o", "out.csv")
    assert result.stdout == ""
    pd.testing.assert_frame_equal(pd.read_csv(project / "out.csv"), shown)


def test_predict_needs_no_target_and_aligns_columns_by_name(classifier, project):
    frame = pd.read_csv(project / "data" / "animals_test.csv")
    expected = predictions_from(invoke("predict", str(classifier), "data/animals_test.csv").stdout)
    frame.drop(columns="label").to_csv("features_only.csv", index=False)
    frame[["label", "f3", "colour", "f2", "f1"]].to_csv("shuffled.csv", index=False)
    for name in ("features_only.csv", "shuffled.csv"):
        got = predictions_from(invoke("predict", str(classifier), name).stdout)
        pd.testing.assert_frame_equal(got, expected)


def test_predict_regression_writes_the_value(regressor, project):
    data = pd.read_csv(project / "data" / "line.csv")
    shown = predictions_from(invoke("predict", str(regressor), "data/line.csv").stdout)
    assert list(shown.columns) == ["y"] and len(shown) == len(data)
    assert np.isfinite(shown["y"]).all()


def test_eval_json_for_classification_matches_the_predictions(classifier, project):
    data = project / "data" / "animals_test.csv"
    report = json.loads(invoke("eval", str(classifier), str(data), "--json").stdout)
    assert {"loss", "accuracy", "precision", "recall", "f1", "confusion_matrix"} <= set(report)
    truth = pd.read_csv(data)["label"]
    predicted = predictions_from(invoke("predict", str(classifier), str(data)).stdout)["label"]
    assert report["accuracy"] == pytest.approx((truth == predicted).mean())
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == len(truth)
    assert list(matrix.sum(axis=1)) == [int((truth == name).sum()) for name in CLASSES]  # rows: true classes
    assert np.trace(matrix) == (truth == predicted).sum()


def test_eval_table_for_classification(classifier, project):
    shown = invoke("eval", str(classifier), "data/animals_test.csv").stdout
    for word in ("loss", "accuracy", "precision", "recall", "f1", "confusion", *CLASSES):
        assert word in shown, word


def test_eval_for_regression(regressor, project):
    report = json.loads(invoke("eval", str(regressor), "data/line.csv", "--json").stdout)
    assert {"loss", "mse", "mae", "rmse", "r2"} <= set(report)
    truth = pd.read_csv(project / "data" / "line.csv")["y"].to_numpy()
    predicted = predictions_from(invoke("predict", str(regressor), "data/line.csv").stdout)["y"].to_numpy()
    error = predicted - truth
    assert report["mse"] == pytest.approx(np.mean(error ** 2), rel=1e-4)
    assert report["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-4)
    assert report["rmse"] == pytest.approx(np.sqrt(report["mse"]), rel=1e-6)
    assert report["r2"] == pytest.approx(1 - np.sum(error ** 2) / np.sum((truth - truth.mean()) ** 2), abs=1e-4)
    assert report["r2"] > 0.8

    shown = invoke("eval", str(regressor), "data/line.csv").stdout
    for word in ("mse", "mae", "rmse", "r2"):
        assert word.lower() in shown.lower(), word


# --- check and help ------------------------------------------------------------------------------------------

def test_check_prints_the_model_summary_and_writes_nothing(project):
    before = sorted(str(path) for path in project.rglob("*"))
    shown = invoke("check", "tiny.yaml").stdout
    assert sorted(str(path) for path in project.rglob("*")) == before
    lines = shown.splitlines()
    for layer, shape, count in (("dense_0", "(None, 8)", "56"), ("dropout_1", "(None, 8)", "0"),
                                ("dense_2", "(None, 3)", "27")):
        row = next((line for line in lines if layer in line), None)
        assert row is not None, f"no row for {layer}:\n{shown}"
        assert shape in row and f" {count} " in row, row
    assert any("total" in line.lower() and "83" in line for line in lines), shown


def test_help_lists_the_commands():
    shown = invoke("--help").stdout
    for command in ("train", "predict", "eval", "check"):
        assert command in shown


# --- a real process ------------------------------------------------------------------------------------------

def test_python_m_nncli_trains_predicts_and_evaluates(project):
    python = [sys.executable, "-m", "nncli"]
    done = run_process([*python, "train", "tiny.yaml", "--out", "proc"], project)
    assert_plain_epoch_lines(done.stdout, EPOCHS)
    assert {path.name for path in (project / "proc").iterdir()} == RUN_FILES
    shown = predictions_from(run_process([*python, "predict", "proc", "data/animals_test.csv"], project).stdout)
    assert list(shown.columns) == ["label"] + [f"prob_{name}" for name in CLASSES]
    report = json.loads(run_process([*python, "eval", "proc", "data/animals_test.csv", "--json"], project).stdout)
    assert 0.0 <= report["accuracy"] <= 1.0


def test_console_script_runs(project):
    script = Path(sys.executable).with_name("nncli.exe" if os.name == "nt" else "nncli")
    if not script.exists():
        pytest.skip(f"no nncli console script next to {sys.executable}: the package is not installed here")
    assert "train" in run_process([str(script), "--help"], project).stdout
    done = run_process([str(script), "train", "line.yaml", "--quiet"], project)
    assert done.stdout == ""
    run_process([str(script), "predict", "runs/line", "data/line.csv", "-o", "pred.csv"], project)
    assert list(pd.read_csv(project / "pred.csv").columns) == ["y"]
