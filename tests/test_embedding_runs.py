"""Embedded columns through the whole path: config checks at the layer's line, index arrays, train, resume,
predict, eval, model file save/load and its validation."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.data import Preprocessor
from nncli.modelfile import load_model
from tests.test_resume import assert_same_arrays, read_npz, stopped

CONFIG = """\
name: towns
seed: 3
data: {train: data/train.csv, target: label, valid: 0.2}
layers:
  - {type: embedding, column: town, dim: 3, name: town_vec}
  - {type: concat, inputs: [input, town_vec]}
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 1, activation: sigmoid}
loss: binary_crossentropy
metrics: [accuracy]
optimizer: {type: adam, lr: 0.02}
regularization: {l2: 0.001}
training: {epochs: 6, batch_size: 16}
"""
TOWNS = [f"t{i}" for i in range(12)]


def towns_table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    town = np.array(TOWNS)[rng.integers(0, len(TOWNS), size=rows)]
    x = rng.normal(size=rows).round(4)
    effect = np.array([TOWNS.index(name) % 3 - 1 for name in town])
    return pd.DataFrame({"x": x, "town": town, "zip": rng.integers(100, 110, size=rows),
                         "label": np.where(x + 2 * effect > 0, "yes", "no")})


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    towns_table(150, seed=1).to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def error_of(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


EMBEDDING = "{type: embedding, column: town, dim: 3, name: town_vec}"
DATA = "{train: data/train.csv, target: label, valid: 0.2}"


@pytest.mark.parametrize("old,new,message", [
    ("column: town", "column: zip", "5: layers[0].column: column 'zip' is numeric, not categorical; an embedding "
                                    "takes a categorical column: list it in data.categorical (e.g. categorical: "
                                    "[zip]) to read its values as categories (in data/train.csv)"),
    ("column: town", "column: city", "5: layers[0].column: column 'city' not found in data/train.csv; available "
                                     "columns: x, town, zip, label"),
    ("column: town", "column: label", "5: layers[0].column: 'label' is the target; an embedding takes a "
                                      "categorical feature column"),
    ("valid: 0.2}", "valid: 0.2, features: [x, zip]}", "5: layers[0].column: 'town' is not a feature: add it to "
                                                       "data.features"),
    ("valid: 0.2}", "valid: 0.2, categorical: [zip]}", "5: layers[0].column: column 'town' is numeric, not "
                                                       "categorical; an embedding takes a categorical column: add it "
                                                       "to data.categorical (in data/train.csv)"),
    ("dim: 3", "dim: 0", "5: layers[0].dim: must be a positive integer, got 0"),
    ("name: town_vec}", "name: town_vec, inputs: [input]}", "5: layers[0].inputs: an embedding layer reads its "
                                                            "column from the data (`column:`) and takes no "
                                                            "`inputs`; remove them"),
    ("inputs: [input, town_vec]", "inputs: [input, input]", "5: layers[0]: the output of 'town_vec' is not used by "
                                                            "any later layer; only the last layer can be the model's "
                                                            "output, e.g. {type: concat, inputs: [input, town_vec]}"),
])
def test_config_errors_point_at_the_embedding_layer(project, old, new, message):
    assert CONFIG.count(old) == 1
    Path("variant.yaml").write_text(CONFIG.replace(old, new))
    assert error_of("check", "variant.yaml") == f"error: variant.yaml:{message}"


def test_a_column_embedded_twice_is_refused_at_the_second_layer(project):
    text = CONFIG.replace("  - {type: concat, inputs: [input, town_vec]}",
                          "  - {type: embedding, column: town, dim: 2, name: again}\n"
                          "  - {type: concat, inputs: [input, town_vec, again]}")
    Path("twice.yaml").write_text(text)
    assert error_of("check", "twice.yaml") == ("error: twice.yaml:6: layers[1].column: 'town' is already embedded "
                                               "by layers[0]; embed a column once and use that layer's output where "
                                               "needed")


def test_train_predict_eval_and_the_model_file(project):
    result = api.train("config.yaml", out="run")
    arrays = read_npz(Path("run/model.npz"))
    assert arrays["layers.0.weight"].shape == (len(TOWNS) + 1, 3)
    assert list(arrays["meta.embedded"]) == ["town"]
    assert list(arrays["meta.categories.town"]) == sorted(TOWNS)
    assert int(arrays["meta.input_width"]) == 2  # x and zip: town left the one-hot block
    trained = load_model("run")
    assert trained.model.categories == {"town": len(TOWNS)}
    new = towns_table(30, seed=9)
    predictions = trained.predict_frame(new)
    assert len(predictions) == 30 and list(predictions.columns) == ["label", "prob_no", "prob_yes"]
    # the lookup is the table: predicting by hand from the weights gives the same numbers
    pre = trained.preprocessor
    prepared = pre.prepare(new, source="new", require_target=False)
    index = pre.indices(prepared)["town"]
    np.testing.assert_array_equal(index, [sorted(TOWNS).index(name) + 1 for name in new["town"]])
    weights = {key: arrays[key].astype(np.float64) for key in arrays if key.startswith("layers.")}
    joined = np.concatenate([pre.features(prepared, np.float64), weights["layers.0.weight"][index]], axis=1)
    hidden = np.maximum(joined @ weights["layers.2.weight"] + weights["layers.2.bias"], 0)
    logits = hidden @ weights["layers.3.weight"] + weights["layers.3.bias"]
    np.testing.assert_allclose(predictions["prob_yes"], 1 / (1 + np.exp(-logits[:, 0])), rtol=1e-5)
    report = cli("eval", "run", "data/train.csv", "--json")
    assert report.exit_code == 0, report.output
    assert result.summary["epochs_run"] == 6


def test_unknown_categories_error_or_take_row_zero(project):
    api.train("config.yaml", out="run")
    new = towns_table(5, seed=2)
    new.loc[3, "town"] = "atlantis"
    new.to_csv("new.csv", index=False)
    assert error_of("predict", "run", "new.csv") == (
        f"error: new.csv:5: column 'town': unknown category 'atlantis'; known: {', '.join(sorted(TOWNS))} (set "
        "data.unknown_category: ignore to encode categories unseen in training as the embedding's unknown row "
        "(row 0))")
    api.train("config.yaml", out="ignoring", overrides=["data.unknown_category=ignore"])
    trained = load_model("ignoring")
    prepared = trained.preprocessor.prepare_rows(new, source="new.csv", require_target=False)
    assert trained.preprocessor.indices(prepared.frame)["town"][3] == 0
    assert "encoded as the embedding's unknown row (row 0)" in prepared.warnings[0]


def test_index_arrays_for_infrequent_and_missing_categories():
    frame = pd.DataFrame({"c": ["a", "b", "b", "rare", None, "a", "b"], "y": [0, 1, 0, 1, 0, 1, 1]})
    pre, prepared = Preprocessor.fit_prepare(
        frame, target="y", features="all", categorical="auto", scale="none", missing="impute",
        task="regression", target_encoding="values", source="t", min_frequency=2, embedded=["c"])
    assert pre.input_width == 0 and pre.embedding_categories() == {"c": 3}  # a, b and <missing>
    assert pre.indices(prepared)["c"].tolist() == [1, 2, 2, 0, 3, 1, 2]
    assert Preprocessor.from_arrays(pre.to_arrays()).embedded == ["c"]


@pytest.mark.parametrize("batches", [5, 13])
def test_resume_is_bit_identical(project, batches):
    api.train("config.yaml", out="reference")
    stopped("cut", batches)
    api.train("config.yaml", out="cut", resume=True)
    assert_same_arrays(Path("reference/model.npz"), Path("cut/model.npz"))


@pytest.mark.parametrize("key,value,message", [
    ("layers.0.weight", np.zeros((5, 3), dtype=np.float32),
     "layers.0.weight: has shape (5, 3); the architecture needs (13, 3)"),
    ("meta.embedded", np.array(["x"]), "meta.embedded: names 'x', which has no vocabulary (meta.categories.x); an "
                                       "embedded column is categorical"),
    ("meta.embedded", np.array([], dtype="<U1"), "meta.architecture: does not describe a network nncli can build "
                                                 "(ConfigError: layers[0]: column 'town' has no category count: the "
                                                 "model was given none)"),
])
def test_a_damaged_embedding_is_refused(project, key, value, message):
    api.train("config.yaml", out="run")
    arrays = read_npz(Path("run/model.npz"))
    arrays[key] = value
    np.savez(Path("bad.npz"), **arrays)
    assert error_of("predict", "bad.npz", "data/train.csv") == f"error: bad.npz: {message}"


def test_gradcheck_covers_the_embedding_table(project):
    result = cli("gradcheck", "config.yaml")
    assert result.exit_code == 0, result.output
    assert "layers.0.weight" in result.output and "13×3" in result.output


def test_check_shows_each_embedding(project):
    result = cli("check", "config.yaml")
    assert result.exit_code == 0, result.output
    assert "inputs     3 columns -> 2 features + 1 embedded" in result.output
    assert "embedding  town: 12 categories + unknown -> 3 dims, 39 parameters (town_vec)" in result.output
    import json

    summary = json.loads(cli("check", "config.yaml", "--json").stdout)
    assert summary["embeddings"] == [{"name": "town_vec", "column": "town", "categories": 12, "dim": 3,
                                      "parameters": 39}]
    assert summary["layers"][0]["inputs"] == ["town"] and summary["inputs"]["width"] == 2


def test_train_resume_predict_and_eval_through_the_cli(project):
    import json
    import os
    import subprocess
    import sys

    assert cli("train", "config.yaml", "--out", "run", "--quiet").exit_code == 0
    assert cli("train", "config.yaml", "--out", "run", "--quiet", "--set", "training.epochs=8",
               "--resume").exit_code == 0
    assert len(pd.read_csv("run/metrics.csv")) == 8
    predicted = cli("predict", "run", "data/train.csv")
    assert predicted.exit_code == 0 and len(predicted.stdout.splitlines()) == 151
    report = json.loads(cli("eval", "run", "data/train.csv", "--json").stdout)
    assert report["rows"] == 150 and report["accuracy"] > 0.6
    repo = Path(__file__).resolve().parents[1]
    process = subprocess.run([sys.executable, "-m", "nncli", "predict", "run", "data/train.csv"], capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout == predicted.stdout


def test_embedded_index_arrays_are_cached(tmp_path, monkeypatch):
    from nncli.data import cache, load_datasets, reading
    from tests.test_data import load
    from tests.test_data_cache import block_file, same_datasets, settings_for

    monkeypatch.setattr(cache, "MIN_BYTES", 0)  # cache even this tiny file, in a cache of its own
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "cache"))

    path = block_file(tmp_path)

    def embedded(rng):
        return load_datasets(settings_for(path).data, rng, task="classification", encoding="onehot",
                             dtype="float32", embedded=["c"])

    first = embedded(np.random.default_rng(7))
    monkeypatch.setattr(reading, "_parse", None)  # a second parse would fail
    monkeypatch.setattr(reading, "parse_blocks", None)
    second = embedded(np.random.default_rng(7))
    same_datasets(first, second)
    assert first.preprocessor.embedded == second.preprocessor.embedded == ["c"]
    for part in ("train", "valid"):
        index = getattr(first, part).indices["c"]
        assert set(index) <= {1, 2, 3} and np.array_equal(index, getattr(second, part).indices["c"])
    monkeypatch.undo()
    # the same files and settings without the embedding are another preparation: one-hot, no index arrays
    one_hot = load(settings_for(path), np.random.default_rng(7))
    assert one_hot.train.indices == {} and one_hot.preprocessor.input_width == first.preprocessor.input_width + 3


def test_the_resolved_config_trains_again_and_cross_validates(project):
    # the resolved config writes an embedding's inputs as []: read back, that is the same graph
    api.train("config.yaml", out="run", overrides=["training.epochs=1"])
    assert "inputs: []" in Path("run/config.yaml").read_text()
    api.train("run/config.yaml", out="again")
    assert_same_arrays(Path("run/model.npz"), Path("again/model.npz"))
    result = cli("cv", "config.yaml", "--folds", "3", "--out", "cv", "--set", "training.epochs=1")
    assert result.exit_code == 0, result.output
