"""`nncli export`: the ONNX graph reproduces `nncli predict` under onnxruntime for every example config and for
every layer and activation of the catalogue; without the onnx extra the command names the install line."""

import io
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

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
TOLERANCE = 1e-5


def onnx_outputs(model_file: Path, csv: Path) -> dict[str, np.ndarray]:
    """Run the exported model on a CSV with onnxruntime alone: numbers as float32, categories as text."""
    session = ort.InferenceSession(str(model_file))
    frame = pd.read_csv(csv, dtype=str)
    feeds = {}
    for spec in session.get_inputs():
        column = frame[spec.name]
        if spec.type == "tensor(string)":
            feeds[spec.name] = column.fillna("").to_numpy(object).reshape(-1, 1)
        else:
            feeds[spec.name] = pd.to_numeric(column, errors="coerce").to_numpy(np.float32).reshape(-1, 1)
    return dict(zip([out.name for out in session.get_outputs()], session.run(None, feeds), strict=False))


def assert_matches_predict(run_dir: Path, model_file: Path, csv: Path) -> None:
    """Labels equal to predict's CSV, probabilities and values within TOLERANCE."""
    onnx.checker.check_model(onnx.load(str(model_file)), full_check=True)
    got = onnx_outputs(model_file, csv)
    expected = api.predict(run_dir, csv)
    trained = api.load_model(run_dir)
    if trained.task == "regression":
        assert set(got) == {"prediction"}
        assert got["prediction"].shape == (len(expected), len(trained.preprocessor.target_names))
        np.testing.assert_allclose(got["prediction"], expected.to_numpy(np.float64), rtol=0, atol=TOLERANCE)
        return
    assert set(got) == {"label", "probabilities"}
    probabilities = expected[[name for name in expected.columns if name.startswith("prob_")]].to_numpy()
    np.testing.assert_allclose(got["probabilities"], probabilities, rtol=0, atol=TOLERANCE)
    written = pd.read_csv(io.StringIO(expected.to_csv(index=False)), dtype=str)[trained.preprocessor.target_names[0]]
    assert got["label"].shape == (len(expected),)
    assert list(got["label"]) == list(written)


def data_file(config: Path) -> Path:
    """The config's test CSV, else its training CSV."""
    trained = api.check(config).config
    return config.parent / (trained.data.test or trained.data.train)


EXAMPLES = sorted(path.stem for path in CONFIGS.glob("*.yaml") if not path.stem.endswith("-sweep"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_exports_and_agrees_with_predict(name, tmp_path):
    config = CONFIGS / f"{name}.yaml"
    run_dir = tmp_path / "run"
    api.train(config, out=run_dir, overrides=["training.epochs=3"])
    model_file = tmp_path / f"{name}.onnx"
    result = CliRunner().invoke(app, ["export", str(run_dir), "-o", str(model_file)])
    assert result.exit_code == 0, result.output
    assert_matches_predict(run_dir, model_file, data_file(config))


CATALOGUE = """\
name: every-layer
seed: 0
data:
  train: train.csv
  target: {target}
  valid: 0.2
  missing: impute
  min_frequency: 5
  unknown_category: ignore
layers:
  - {{type: dense, name: a, inputs: [input], units: 8, activation: relu}}
  - {{type: dense, name: b, inputs: [input], units: 8, activation: {{type: leaky_relu, negative_slope: 0.2}}}}
  - {{type: add, name: ab, inputs: [a, b]}}
  - {{type: batchnorm, name: norm}}
  - {{type: dropout, name: drop, rate: 0.2}}
  - {{type: dense, name: c, units: 6, activation: {{type: elu, alpha: 0.5}}}}
  - {{type: dense, name: d, inputs: [drop], units: 6, activation: gelu}}
  - {{type: dense, name: e, inputs: [drop], units: 6, activation: {{type: gelu, approximate: tanh}}}}
  - {{type: dense, name: f, inputs: [drop], units: 6, activation: silu}}
  - {{type: dense, name: g, inputs: [drop], units: 6, activation: sigmoid}}
  - {{type: dense, name: h, inputs: [drop], units: 6, activation: tanh}}
  - {{type: dense, name: i, inputs: [drop], units: 6, activation: {{type: softplus, beta: 2.0, threshold: 1.0}}}}
  - {{type: dense, name: j, inputs: [drop], units: 6, use_bias: false}}
  - {{type: concat, name: joined, inputs: [c, d, e, f, g, h, i, j]}}
  - {{type: dense, units: {units}, activation: {output}}}
loss: {loss}
optimizer: {{type: adam, lr: 0.01}}
training: {{epochs: 3, batch_size: 16}}
"""

HEADS = {
    "multiclass": dict(target="kind", units=3, output="softmax", loss="categorical_crossentropy"),
    "binary": dict(target="flag", units=1, output="sigmoid", loss="binary_crossentropy"),
    "regression": dict(target="[y, z]", units=2, output="linear", loss="mse"),
}


def catalogue_table(rows: int, seed: int) -> pd.DataFrame:
    """Numbers with gaps, a text column with rare, missing and (in the second table) unseen values, labels."""
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=rows) * 10 + 3, rng.uniform(size=rows)
    x[rng.uniform(size=rows) < 0.1] = np.nan
    colour = rng.choice(["red", "green", "blue", "teal", "", "?" if seed else "red"], size=rows,
                        p=[0.35, 0.3, 0.25, 0.02, 0.04, 0.04])
    level = rng.choice(["1", "2.0", "3"], size=rows)
    return pd.DataFrame({"x": x, "w": w, "colour": colour, "level": level,
                         "kind": np.array(["low", "mid", "high"])[(w * 3).astype(int)],
                         "flag": np.where(np.nan_to_num(x) > 3, "1", "0"), "y": w * 2 + 1, "z": np.nan_to_num(x)})


@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_layer_and_activation_agrees_with_predict(head, tmp_path):
    catalogue_table(200, 0).to_csv(tmp_path / "train.csv", index=False)
    test = catalogue_table(100, 1)
    test.loc[0, "colour"] = "violet"  # unseen in training: the infrequent column under unknown_category: ignore
    test.to_csv(tmp_path / "test.csv", index=False)
    config = tmp_path / "config.yaml"
    config.write_text(CATALOGUE.format(**HEADS[head]).replace(
        "data:\n", "data:\n  features: [x, w, colour, level]\n  categorical: [colour, level]\n  na_values: ['?']\n"))
    run_dir = tmp_path / "run"
    api.train(config, out=run_dir)
    model_file = tmp_path / "model.onnx"
    from nncli.export import export_onnx

    export_onnx(api.load_model(run_dir), model_file)
    assert_matches_predict(run_dir, model_file, tmp_path / "test.csv")


EMBEDDED = """\
  - {type: embedding, name: colour_vec, column: colour, dim: 3}
  - {type: embedding, name: level_vec, column: level, dim: 2, init: glorot_uniform}
  - {type: concat, name: joined_input, inputs: [input, colour_vec, level_vec]}
  - {type: dense, name: a, inputs: [joined_input], units: 8, activation: relu}
"""


@pytest.mark.parametrize("head", ["multiclass", "regression"])
def test_embedding_lookups_agree_with_predict(head, tmp_path):
    # colour: a rare (infrequent) value, missing cells (own row under impute), "?" as missing, an unseen value;
    # level: numbers written as text ("2.0" and "2" are one category)
    catalogue_table(200, 0).to_csv(tmp_path / "train.csv", index=False)
    test = catalogue_table(100, 1)
    test.loc[0, "colour"] = "violet"  # unseen in training: row 0 under unknown_category: ignore
    test.loc[1, "level"] = "2"
    test.to_csv(tmp_path / "test.csv", index=False)
    text = CATALOGUE.format(**HEADS[head]).replace(
        "data:\n", "data:\n  features: [x, w, colour, level]\n  categorical: [colour, level]\n  na_values: ['?']\n")
    text = text.replace("  - {type: dense, name: a, inputs: [input], units: 8, activation: relu}\n", EMBEDDED)
    (tmp_path / "config.yaml").write_text(text)
    run_dir = tmp_path / "run"
    api.train(tmp_path / "config.yaml", out=run_dir)
    trained = api.load_model(run_dir)
    assert trained.preprocessor.embedded == ["colour", "level"] and trained.preprocessor.input_width == 2
    model_file = tmp_path / "model.onnx"
    from nncli.export import export_onnx

    export_onnx(trained, model_file)
    assert [node.op_type for node in onnx.load(str(model_file)).graph.node].count("Gather") >= 2
    assert_matches_predict(run_dir, model_file, tmp_path / "test.csv")


def test_inputs_are_one_per_raw_column(tmp_path):
    run_dir = tmp_path / "run"
    api.train(CONFIGS / "loans.yaml", out=run_dir, overrides=["training.epochs=1"])
    from nncli.export import build_onnx

    model = build_onnx(api.load_model(run_dir))
    trained = api.load_model(run_dir)
    names = [spec.name for spec in model.graph.input]
    assert names == trained.preprocessor.feature_names
    for spec in model.graph.input:
        kind = onnx.TensorProto.STRING if spec.name in trained.preprocessor.categories else onnx.TensorProto.FLOAT
        assert spec.type.tensor_type.elem_type == kind
        assert [dim.dim_param or dim.dim_value for dim in spec.type.tensor_type.shape.dim] == ["N", 1]


def test_without_the_onnx_extra_the_install_line_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = CliRunner().invoke(app, ["export", str(tmp_path), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: export needs the onnx package: pip install "nncli[onnx]"'
    assert not (tmp_path / "m.onnx").exists()


def test_a_missing_model_is_one_error_paragraph(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path / "nope"), "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'nope'}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_export_in_a_real_process(tmp_path):
    run_dir = tmp_path / "run"
    api.train(CONFIGS / "moons.yaml", out=run_dir, overrides=["training.epochs=2"])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "export", str(run_dir), "-o", str(tmp_path / "m.onnx")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert_matches_predict(run_dir, tmp_path / "m.onnx", CONFIGS / "data" / "moons_test.csv")
