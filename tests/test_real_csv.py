"""Real CSVs as they come: missing targets, "?" markers, unseen and rare categories, labels that round-trip,
columns that look like a saved index or an ID, and column errors that point at the config."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.build import load_data
from nncli.cli import app
from nncli.data import Preprocessor, blocks, cache, read_table
from nncli.errors import ConfigError, DataError, ModelFileError
from nncli.modelfile import load_model

CONFIG = """\
name: messy
seed: 0
data:
  train: train.csv
  valid: 0.25
  target: label
  missing: impute
  na_values: ["?", "-"]
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 3, activation: softmax}
optimizer: {type: adam, lr: 0.01}
training: {epochs: 2, batch_size: 16}
"""


def messy(rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """A table as public sources ship them: labels written 1.0/2.0/3.0, "?" and "-" markers, empty cells."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows).round(3)
    city = np.array(["Tartu", "Narva", "Tallinn"])[np.arange(rows) % 3]
    label = np.array(["1.0", "2.0", "3.0"])[(np.arange(rows) + (x > 0)) % 3]
    frame = pd.DataFrame({"x": x.astype(object), "city": city, "label": label})
    frame.loc[[4, 9], "x"] = "?"
    frame.loc[14, "x"] = "-"
    frame.loc[20, "city"] = None
    return frame


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with CONFIG and its CSV saved by `to_csv()` with the index (an `Unnamed: 0` column)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNCLI_CACHE", "0")
    frame = messy()
    frame.loc[[7, 30], "label"] = None
    frame.to_csv("train.csv")
    Path("config.yaml").write_text(CONFIG)
    return tmp_path


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def fit_rows(frame: pd.DataFrame, **options):
    settings = dict(target=["y"], features="all", categorical="auto", scale="none", missing="error",
                    task="classification", target_encoding="onehot", source="train.csv")
    settings.update(options)
    return Preprocessor.fit_rows(frame, **settings)


def settings(tmp_path: Path, train: Path, **data) -> object:
    from nncli.config import config_from_dict

    raw = {"data": {"train": str(train), "target": "y", "valid": None, **data},
           "layers": [{"type": "dense", "units": 2, "activation": "softmax"}]}
    return config_from_dict(raw, base_dir=tmp_path)


# ----- 1. missing targets


def test_missing_targets_are_skipped_counted_and_shown(project):
    Path("test.csv").write_text("x,city,label\n0.5,Tartu,1.0\n?,Narva,\n0.1,Tartu,2.0\n-0.3,Narva,3.0\n")
    result = run("train", "config.yaml", "--set", "data.test=test.csv", "--out", "run")
    # the stratified split holds out round(0.25 * 2) = 0 of the 2 rows without a label
    assert "skipped 3 with a missing target (train 2, test 1)" in " ".join(result.stdout.split())
    summary = json.loads(Path("run/summary.json").read_text())
    skipped = summary["rows_skipped"]
    assert skipped == {"train": {"missing_target": 2, "missing_features": 0},
                       "valid": {"missing_target": 0, "missing_features": 0},
                       "test": {"missing_target": 1, "missing_features": 0}}


def test_missing_targets_with_impute_train_and_error_refuses(project):
    datasets = api.check("config.yaml").datasets
    assert datasets.train.rows + datasets.valid.rows == 78
    message = run("check", "config.yaml", "--set", "data.missing_target=error", code=2).stderr
    assert "train.csv:9: column 'label': missing target value (data.missing_target is 'error'; set it to 'drop'" \
        in message


def test_prepare_rows_says_which_rows_were_skipped_and_why():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    preprocessor, _ = fit_rows(train, missing="drop")
    new = pd.DataFrame({"x": [1.0, np.nan, 2.0, np.nan], "y": ["a", "b", None, None]})
    prepared = preprocessor.prepare_rows(new, source="e.csv", require_target=True)
    assert prepared.frame.index.tolist() == [0]
    assert prepared.skipped["missing_target"].tolist() == [2, 3]  # a row missing both counts as missing its target
    assert prepared.skipped["missing_features"].tolist() == [1]
    assert prepared.skipped_counts == {"missing_target": 2, "missing_features": 1}


def test_only_unnamed_feature_columns_is_an_error_that_says_so():
    frame = pd.DataFrame({"Unnamed: 0": [0, 1, 2], "y": ["a", "b", "a"]})
    with pytest.raises(DataError) as raised:
        fit_rows(frame)
    message = str(raised.value)
    assert message == "train.csv: there are no feature columns: every column is a target or has no name " \
                      "(Unnamed: 0); list the features in data.features"


def test_no_rows_left_says_how_many_were_skipped_for_what():
    train = pd.DataFrame({"x": [1.0, np.nan], "y": [None, "a"]})
    with pytest.raises(DataError) as raised:
        fit_rows(train, missing="drop")
    message = str(raised.value)
    assert message == "train.csv: no rows left after skipping the rows 1 with a missing target and 1 with missing " \
                      "feature cells"


# ----- 2. na_values


def test_na_values_are_missing_for_training_predict_and_eval(project):
    run("train", "config.yaml", "--out", "run")
    with np.load("run/model.npz", allow_pickle=False) as archive:
        assert archive["meta.na_values"].tolist() == ["?", "-"]
    Path("new.csv").write_text("x,city,label\n?,Tartu,1.0\n-,Narva,2.0\n0.4,Tallinn,3.0\n")
    predicted = pd.read_csv(pd.io.common.StringIO(run("predict", "run", "new.csv").stdout))
    assert len(predicted) == 3
    trained = load_model("run")
    imputed = trained.preprocessor.impute_values[0]
    prepared = trained.preprocessor.prepare(read_table(Path("new.csv"), na_values=["?", "-"]), source="n",
                                            require_target=False)
    assert prepared["x"].tolist()[:2] == [imputed, imputed]
    assert json.loads(run("eval", "run", "new.csv", "--json").stdout)["loss"] > 0


def test_na_values_match_in_frames_not_read_with_them():
    train = pd.DataFrame({"x": ["1", "?", "3", "-999.0"], "y": ["a", "b", "a", "b"]})
    preprocessor, prepared = fit_rows(train, missing="impute", na_values=["?", "-999"])
    assert preprocessor.categories == {}  # "?" no longer makes x a text column
    assert prepared.frame["x"].tolist() == [1.0, 2.0, 3.0, 2.0]
    numbers = pd.DataFrame({"x": [-999.0, 5.0]})
    assert preprocessor.prepare(numbers, source="n", require_target=False)["x"].tolist() == [2.0, 5.0]


def test_na_values_config_refuses_what_is_not_a_cell_text(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("data.na_values")):
        settings(tmp_path, tmp_path / "t.csv", na_values="?")
    assert settings(tmp_path, tmp_path / "t.csv", na_values=["?", -999]).data.na_values == ["?", "-999"]


def test_block_parser_and_table_cache_honour_na_values_and_text_columns(tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1 << 12)
    monkeypatch.setattr(blocks, "COLUMN_BYTES", 1 << 10)
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    rows = 3000
    x = np.where(np.arange(rows) % 7 == 0, "?", (np.arange(rows) / 8).astype(str))
    path = tmp_path / "big.csv"
    pd.DataFrame({"x": x, "y": np.array(["1.0", "2.0"])[np.arange(rows) % 2]}).to_csv(path, index=False)
    options = {"na_values": ["?"], "text": ["y"]}
    in_blocks = blocks.parse_blocks(path, ",", path.read_bytes()[:100], np.dtype(np.float32), (), ["?"], ["y"])
    assert in_blocks is not None  # the block parser read it, not the whole-file one
    pd.testing.assert_frame_equal(read_table(path, numbers=np.float32, **options), in_blocks)
    whole = read_table(path, **options)
    assert whole["x"].isna().sum() == in_blocks["x"].isna().sum() == len(range(0, rows, 7))
    assert whole["y"].tolist()[:2] == in_blocks["y"].tolist()[:2] == ["1.0", "2.0"]
    cache.wait()
    assert read_table(path)["x"].dtype != whole["x"].dtype  # other options: another table, not the cached one
    cache.wait()
    assert read_table(path, **options)["x"].isna().sum() == whole["x"].isna().sum()


def test_datasets_cache_key_holds_every_new_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = tmp_path / "t.csv"
    path.write_text("x,c,y\n" + "".join(f"{i % 5},{'ab'[i % 2] if i else 'z'},{'uv'[i % 2]}\n" for i in range(40)))
    base = load_data(settings(tmp_path, path), np.random.default_rng(0))
    cache.wait()
    rare = load_data(settings(tmp_path, path, min_frequency=2), np.random.default_rng(0))
    assert base.preprocessor.input_width == 4 and rare.preprocessor.input_width == 4  # z -> <infrequent>
    assert rare.preprocessor.infrequent == {"c": ["z"]}
    marked = load_data(settings(tmp_path, path, na_values=["z"], missing="drop"), np.random.default_rng(0))
    assert marked.train.rows == 39 and marked.rows_skipped["train"]["missing_features"] == 1
    cache.wait()
    again = load_data(settings(tmp_path, path, na_values=["z"], missing="drop"), np.random.default_rng(0))
    assert again.rows_skipped == marked.rows_skipped and again.warnings == marked.warnings


# ----- 3. unknown categories


def test_unknown_category_error_names_the_key(tmp_path):
    preprocessor, _ = fit_rows(pd.DataFrame({"c": ["u", "v", "u"], "y": ["a", "b", "a"]}))
    with pytest.raises(DataError) as raised:
        preprocessor.prepare(pd.DataFrame({"c": ["w"]}), source="n.csv", require_target=False)
    message = str(raised.value)
    assert "unknown category 'w'; known: u, v (set data.unknown_category: ignore" in message


def test_unknown_category_ignored_is_all_zeros_with_one_warning_per_column():
    train = pd.DataFrame({"c": ["u", "v", "u"], "d": ["p", "q", "q"], "y": ["a", "b", "a"]})
    preprocessor, _ = fit_rows(train, unknown_category="ignore")
    new = pd.DataFrame({"c": ["w", "u", "w", "x"], "d": ["p", "r", "q", "q"]})
    prepared = preprocessor.prepare_rows(new, source="n.csv", require_target=False)
    features = preprocessor.features(prepared.frame, np.float64)
    assert features.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    assert prepared.warnings == [
        "n.csv: column 'c': 3 rows hold categories not seen in training ('w', 'x'), encoded as all zeros "
        "(data.unknown_category: ignore)",
        "n.csv: column 'd': 1 row holds a category not seen in training ('r'), encoded as all zeros "
        "(data.unknown_category: ignore)"]


def test_unseen_category_only_in_the_validation_split(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,c,y\n" + "".join(f"{i},{'ab'[i % 2]},{'uv'[i % 2]}\n" for i in range(30)) + "31,new,u\n")
    valid = tmp_path / "v.csv"
    valid.write_text("x,c,y\n1,a,u\n2,zz,v\n")
    with pytest.raises(DataError, match="unknown category 'zz'"):
        load_data(settings(tmp_path, path, valid=str(valid)), np.random.default_rng(0))
    datasets = load_data(settings(tmp_path, path, valid=str(valid), unknown_category="ignore"),
                          np.random.default_rng(0))
    assert datasets.valid.rows == 2
    assert any("column 'c': 1 row holds a category not seen in training ('zz')" in line for line in datasets.warnings)


def test_predict_and_eval_print_one_warning_line_per_column(project):
    run("train", "config.yaml", "--set", "data.unknown_category=ignore", "--out", "run")
    Path("new.csv").write_text("x,city,label\n0.1,Parnu,1.0\n0.2,Parnu,2.0\n0.3,Tartu,3.0\n")
    for args in (("predict", "run", "new.csv"), ("eval", "run", "new.csv"), ("eval", "run", "new.csv", "--json")):
        stderr = run(*args).stderr
        assert stderr == ("warning: new.csv: column 'city': 2 rows hold categories not seen in training ('Parnu'), "
                          "encoded as all zeros (data.unknown_category: ignore)\n")


# ----- 4. rare categories


def test_min_frequency_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(0)
    values = rng.choice(["a", "b", "c", "d", "e"], p=[0.5, 0.3, 0.15, 0.03, 0.02], size=200)
    train = pd.DataFrame({"c": values, "y": np.array(["p", "q"])[np.arange(200) % 2]})
    preprocessor, _ = fit_rows(train, min_frequency=10, unknown_category="ignore")
    new = pd.DataFrame({"c": ["a", "d", "e", "zz", "c"]})
    ours = preprocessor.features(preprocessor.prepare(new, source="n", require_target=False), np.float64)
    encoder = sklearn.OneHotEncoder(min_frequency=10, handle_unknown="infrequent_if_exist", sparse_output=False)
    encoder.fit(train[["c"]])
    assert preprocessor.input_names[-1] == "c=<infrequent>"
    np.testing.assert_array_equal(ours, encoder.transform(new[["c"]]))


def test_no_infrequent_category_means_no_extra_column():
    train = pd.DataFrame({"c": ["u", "v"] * 5, "y": ["a", "b"] * 5})
    preprocessor, _ = fit_rows(train, min_frequency=5)
    assert preprocessor.input_names == ["c=u", "c=v"]


def test_infrequent_and_missing_columns_round_trip_through_the_model_file(project):
    frame = messy()
    frame.loc[3, "city"] = "Parnu"
    frame.to_csv("train.csv", index=False)
    run("train", "config.yaml", "--set", "data.min_frequency=2", "--out", "run")
    trained = load_model("run")
    assert trained.preprocessor.input_names == ["x", "city=Narva", "city=Tallinn", "city=Tartu",
                                                "city=<infrequent>", "city=<missing>"]
    Path("new.csv").write_text("x,city\n0.1,Parnu\n0.2,\n")
    prepared = trained.preprocessor.prepare(read_table(Path("new.csv")), source="n", require_target=False)
    assert trained.preprocessor.features(prepared, np.float64)[:, 1:].tolist() == [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]


def test_a_model_file_with_a_category_both_frequent_and_infrequent_is_refused(project):
    run("train", "config.yaml", "--out", "run")
    with np.load("run/model.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["meta.infrequent.city"] = np.array(["Tartu"])
    np.savez("bad.npz", **arrays)
    with pytest.raises(ModelFileError, match=re.escape("meta.infrequent.city: repeats 'Tartu'")):
        load_model("bad.npz")


# ----- 5. labels as written


def test_labels_come_back_as_the_csv_writes_them(project):
    run("train", "config.yaml", "--out", "run")
    Path("new.csv").write_text("x,city\n0.1,Tartu\n-2,Narva\n")
    output = run("predict", "run", "new.csv").stdout
    header, first = output.splitlines()[:2]
    assert header == "label,prob_1.0,prob_2.0,prob_3.0"
    assert first.split(",")[0] in ("1.0", "2.0", "3.0")
    assert load_model("run").preprocessor.classes == [1.0, 2.0, 3.0]
    Path("written.csv").write_text("x,city,label\n0.1,Tartu,1\n-2,Narva,3\n")  # the same classes, written as ints
    assert json.loads(run("eval", "run", "written.csv", "--json").stdout)["loss"] > 0


def test_numeric_labels_sort_by_value_and_keep_their_text():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["10.0", "9.0", "9.0", "1e3"]})
    preprocessor, _ = fit_rows(train)
    assert preprocessor.class_text.tolist() == ["9.0", "10.0", "1e3"]
    assert preprocessor.classes == [9.0, 10.0, "1e3"]
    decoded = preprocessor.decode(np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]))
    assert decoded.to_csv(index=False).splitlines() == ["y,prob_9.0,prob_10.0,prob_1e3", "1e3,0.1,0.2,0.7",
                                                        "9.0,0.8,0.1,0.1"]


# ----- 6. suspicious columns


def test_an_unnamed_index_column_is_left_out_with_a_warning(project):
    result = run("check", "config.yaml")
    assert result.stderr.startswith("warning: column 'Unnamed: 0' has no name in the header (a row index "
                                    "DataFrame.to_csv() saved without index=False?): left out of the features")
    assert api.check("config.yaml").datasets.preprocessor.feature_names == ["x", "city"]
    run("train", "config.yaml", "--out", "run")
    messy(30, seed=3).drop(columns=["label"]).to_csv("normal.csv", index=False)  # no index column: predict works
    assert len(run("predict", "run", "normal.csv").stdout.splitlines()) == 31


def test_named_index_and_id_columns_are_warned_about(tmp_path):
    rows = 40
    frame = pd.DataFrame({"row": np.arange(rows), "customer": [f"c{i:03d}" for i in range(rows)],
                          "x": np.arange(rows) % 4, "y": np.array(["a", "b"])[np.arange(rows) % 2]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    datasets = load_data(settings(tmp_path, path), np.random.default_rng(0))
    assert datasets.warnings == [
        "column 'row' looks like a saved row index: leave it out with data.features (or save the CSV with "
        "index=False)",
        "column 'customer' is unique per row (an ID?): as a feature it cannot generalise; leave it out with "
        "data.features"]
    listed = load_data(settings(tmp_path, path, features=["row", "x"]), np.random.default_rng(0))
    assert listed.warnings == []  # a column the config lists is the user's choice


# ----- 7. column errors


def test_a_missing_feature_points_at_its_config_entry(project):
    Path("config.yaml").write_text(CONFIG.replace("  target: label\n", "  target: label\n  features: [x, ctiy]\n"))
    message = run("check", "config.yaml", code=2).stderr
    assert message == ("error: config.yaml:7: data.features[1]: column 'ctiy' not found in train.csv; did you mean "
                       "'city'? available columns: Unnamed: 0, x, city, label\n")


def test_a_missing_column_at_predict_suggests_the_closest(project):
    run("train", "config.yaml", "--out", "run")
    Path("new.csv").write_text("x,City\n0.1,Tartu\n")
    message = run("predict", "run", "new.csv", code=2).stderr
    assert message == "error: new.csv: column 'city' not found; did you mean 'City'? available columns: x, City\n"
