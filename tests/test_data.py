"""nncli.data: reading CSV files, preprocessing fitted on the training rows, the validation split."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nncli.config.resolve import loss_task
from nncli.data import Preprocessor, load_datasets, read_table, split_indices, target_encoding_for
from nncli.errors import ConfigError, DataError


def write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def data_error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def fit(frame: pd.DataFrame, **options) -> Preprocessor:
    settings = dict(target=["y"], features="all", categorical="auto", scale="standard", missing="error",
                    task="classification", target_encoding="onehot", source="train.csv")
    settings.update(options)
    return Preprocessor.fit(frame, **settings)


# ----- reading


def test_reads_numbers_and_text(tmp_path):
    frame = read_table(write(tmp_path, "a,b,c\n1,2.5,x\n3,4,y\n"))
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["a"].tolist() == [1, 3] and frame["b"].tolist() == [2.5, 4.0] and frame["c"].tolist() == ["x", "y"]


def test_missing_file_names_it(tmp_path):
    message = data_error(read_table, tmp_path / "nope.csv", display_path="data/nope.csv")
    assert message.startswith("data/nope.csv: ") and "not found" in message


def test_directory_is_an_error(tmp_path):
    assert "directory" in data_error(read_table, tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, "a\n1\n")
    path.chmod(0)
    try:
        assert "cannot read" in data_error(read_table, path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    assert "empty" in data_error(read_table, write(tmp_path, text))


@pytest.mark.parametrize("text", ["a,b\n", "a,b", "a,b\n\n\n"])
def test_header_only(tmp_path, text):
    assert "no data rows" in data_error(read_table, write(tmp_path, text))


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = write(tmp_path, b"a,b\n1,x\n2,caf\xe9\n")
    assert data_error(read_table, path, display_path="t.csv").startswith("t.csv:3: column 'b': invalid UTF-8")


def test_invalid_utf8_far_into_the_file(tmp_path):
    rows = "".join(f"{i},{i}\n" for i in range(20000))  # beyond the sniffed head
    path = write(tmp_path, ("a,b\n" + rows).encode() + b"7,\xff\n")
    assert data_error(read_table, path).endswith(f":{20002}: column 'b': invalid UTF-8 (byte 0xff); "
                                                 "save the file as UTF-8")


def test_invalid_utf8_in_header(tmp_path):
    assert ":1: invalid UTF-8" in data_error(read_table, write(tmp_path, b"a,\xff\n1,2\n"))


def test_short_row_names_line_and_counts(tmp_path):
    message = data_error(read_table, write(tmp_path, "a,b,c\n1,2,3\n4,5\n6,7,8\n"), display_path="t.csv")
    assert message == "t.csv:3: expected 3 fields (as in the header), found 2"


def test_short_row_among_many_missing_last_cells(tmp_path):
    message = data_error(read_table, write(tmp_path, "a,b,c\n1,2,\n3,4,\n5,6\n7,8,\n"), display_path="t.csv")
    assert message == "t.csv:4: expected 3 fields (as in the header), found 2"


def test_long_row_names_line_and_counts(tmp_path):
    message = data_error(read_table, write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n6,7,8,9\n"), display_path="t.csv")
    assert message == "t.csv:4: expected 3 fields (as in the header), found 4"


def test_long_first_row_is_not_an_index(tmp_path):
    message = data_error(read_table, write(tmp_path, "a,b\n1,2,3\n4,5\n"), display_path="t.csv")
    assert message == "t.csv:2: expected 2 fields (as in the header), found 3"


def test_empty_last_field_is_not_ragged(tmp_path):
    frame = read_table(write(tmp_path, "a,b,c\n1,2,\n4,5,6\n"))
    assert frame["c"].isna().tolist() == [True, False]


def test_duplicate_column_names(tmp_path):
    message = data_error(read_table, write(tmp_path, "a,b,a\n1,2,3\n"), display_path="t.csv")
    assert message == "t.csv:1: duplicate column name 'a' (columns 1 and 3)"


def test_utf8_with_bom(tmp_path):
    frame = read_table(write(tmp_path, "\ufeffname,value\nx,1\n"))
    assert list(frame.columns) == ["name", "value"]


def test_unicode_text(tmp_path):
    frame = read_table(write(tmp_path, "city,n\nTõrva,1\nMünchen,2\n"))
    assert frame["city"].tolist() == ["Tõrva", "München"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_sniffs_delimiter(tmp_path, delimiter):
    text = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1,5", "2", "x"]) + "\n"
    frame = read_table(write(tmp_path, text))
    assert list(frame.columns) == ["a", "b", "c"] and frame["a"].tolist() == ["1,5"]


def test_explicit_delimiter(tmp_path):
    frame = read_table(write(tmp_path, "a;b\n1;2\n"), delimiter=";")
    assert frame.shape == (1, 2)


def test_quoted_fields(tmp_path):
    frame = read_table(write(tmp_path, 'name,note\n"Smith, J","said ""hi"""\n"x","two\nlines"\nz,w\n'))
    assert frame["name"].tolist() == ["Smith, J", "x", "z"]
    assert frame["note"].tolist() == ['said "hi"', "two\nlines", "w"]


def test_lines_after_a_multiline_cell_and_blank_lines(tmp_path):
    path = write(tmp_path, 'x,note\n1,"a\nb"\n\n2,c\n\nbad,d\n')
    frame = read_table(path)
    assert len(frame) == 3
    assert frame["note"].tolist() == ["a\nb", "c", "d"]
    message = data_error(fit, frame, target=["note"], source="t.csv")
    assert message == "t.csv:7: column 'x': expected a number, got 'bad' (the column is numeric)"


def test_unterminated_quote(tmp_path):
    message = data_error(read_table, write(tmp_path, 'a,b\n1,2\n3,"x\n4,5\n'), display_path="t.csv")
    assert message.startswith("t.csv:3: a quoted field is never closed")


def test_blank_first_line(tmp_path):
    assert data_error(read_table, write(tmp_path, "\na,b\n1,2\n")).endswith(":1: the first line is empty; "
                                                                           "it must be the header row")


# ----- cells


def numbers_frame(**columns) -> pd.DataFrame:
    return pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"], **columns})


def test_non_numeric_cell_in_numeric_column(tmp_path):
    frame = read_table(write(tmp_path, "x,z,y\n1,2,a\n2,3,b\n3,?,a\n4,5,b\n"))
    message = data_error(fit, frame)
    assert message == "train.csv:4: column 'z': expected a number, got '?' (the column is numeric)"


def test_infinite_cell(tmp_path):
    frame = read_table(write(tmp_path, "x,y\n1,a\ninf,b\n3,a\n"))
    assert data_error(fit, frame).startswith("train.csv:3: column 'x': infinite value 'inf'")


def test_missing_column_lists_available():
    preprocessor = fit(numbers_frame())
    message = data_error(preprocessor.prepare, pd.DataFrame({"q": [1.0]}), source="new.csv", require_target=False)
    assert message == "new.csv: column 'x' not found; available columns: q"


def test_missing_target_column_at_fit():
    assert "column 'label' not found; available columns: x, y" in data_error(fit, numbers_frame(), target=["label"])


def test_missing_cell_under_error(tmp_path):
    frame = read_table(write(tmp_path, "x,w,y\n1,2,a\n2,,b\n3,4,a\n"))
    message = data_error(fit, frame)
    assert message.startswith("train.csv:3: column 'w': missing value")


def test_missing_cells_dropped_under_drop(tmp_path):
    frame = read_table(write(tmp_path, "x,w,y\n1,2,a\n2,,b\n3,4,\n5,6,b\n"))
    preprocessor, prepared = Preprocessor.fit_prepare(
        frame, target=["y"], features="all", categorical="auto", scale="none", missing="drop",
        task="classification", target_encoding="onehot", source="train.csv")
    assert prepared.index.tolist() == [0, 3]  # data rows of lines 2 and 5
    assert preprocessor.features(prepared, np.float64).tolist() == [[1, 2], [5, 6]]
    message = data_error(preprocessor.prepare, pd.DataFrame({"x": [1.0, np.nan], "w": [1.0, 2.0]}),
                         source="new.csv", require_target=False)
    assert message.startswith("new.csv:3: column 'x': missing value") and "predicting" in message


def test_impute_numeric_mean_and_categorical_own_category():
    train = pd.DataFrame({"x": [1.0, np.nan, 5.0], "c": ["u", None, "v"], "y": ["a", "b", "a"]})
    preprocessor = fit(train, scale="none", missing="impute")
    assert preprocessor.input_names == ["x", "c=u", "c=v", "c=<missing>"]
    new = pd.DataFrame({"x": [np.nan, 2.0], "c": [None, "v"]})
    features = preprocessor.features(preprocessor.prepare(new, source="n", require_target=False), np.float64)
    assert features.tolist() == [[3.0, 0, 0, 1], [2.0, 0, 1, 0]]


def test_targets_are_never_imputed():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", None, "b"]})
    message = data_error(fit, train, missing="impute", missing_target="error")
    assert "column 'y': missing target value (data.missing_target is 'error'" in message
    _, prepared = Preprocessor.fit_rows(train, target=["y"], features="all", categorical="auto", scale="none",
                                        missing="impute", task="classification", target_encoding="onehot",
                                        source="train.csv")
    assert prepared.frame.index.tolist() == [0, 2] and prepared.skipped_counts["missing_target"] == 1


def test_unseen_category_names_column_value_line_and_known(tmp_path):
    preprocessor = fit(pd.DataFrame({"c": ["red", "blue", "red"], "y": ["a", "b", "a"]}))
    frame = read_table(write(tmp_path, "c\nred\ngreen\n"))
    message = data_error(preprocessor.prepare, frame, source="new.csv", require_target=False)
    assert message == ("new.csv:3: column 'c': unknown category 'green'; known: blue, red (set "
                       "data.unknown_category: ignore to encode categories unseen in training as all zeros)")


def test_unknown_class_label():
    preprocessor = fit(numbers_frame())
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "c"]})
    message = data_error(preprocessor.prepare, frame, source="eval.csv", require_target=True)
    assert message == "eval.csv:3: column 'y': unknown class 'c'; known: a, b"
    assert "unknown class 'c'" in data_error(preprocessor.targets, frame, np.float32)


def test_auto_categorical_by_majority(tmp_path):
    frame = read_table(write(tmp_path, "n,t,y\n1,u,a\n2,3,b\nx,v,a\n4,w,b\n"))
    message = data_error(fit, frame)  # `n` is mostly numbers, so 'x' is an error; `t` is mostly text
    assert message == "train.csv:4: column 'n': expected a number, got 'x' (the column is numeric)"
    preprocessor = fit(frame.drop(columns="n"))
    assert preprocessor.categories == {"t": ["3", "u", "v", "w"]}


def test_listed_categorical_column_of_numbers():
    frame = pd.DataFrame({"zip": [10, 9, 100, 9], "x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    preprocessor = fit(frame, categorical=["zip"], scale="none")
    assert preprocessor.categories == {"zip": ["9", "10", "100"]}
    new = pd.DataFrame({"zip": [100.0, 9.0], "x": [0.0, 1.0]})  # floats match the integer categories
    features = preprocessor.features(preprocessor.prepare(new, source="n", require_target=False), np.float64)
    assert features.tolist() == [[0, 0, 1, 0], [1, 0, 0, 1]]


def test_listed_categorical_must_be_a_feature():
    with pytest.raises(ConfigError, match="'q' is not a feature"):
        fit(numbers_frame(), categorical=["q"])


def test_target_cannot_be_a_feature():
    with pytest.raises(ConfigError, match="both a target and a feature"):
        fit(numbers_frame(), features=["x", "y"])


# ----- fitting on the training rows only


def test_onehot_vocabulary_from_train_only():
    train = pd.DataFrame({"c": ["b", "a", "b"], "y": [0, 1, 0]})
    preprocessor = fit(train, target_encoding="binary")
    assert preprocessor.input_width == 2
    valid = pd.DataFrame({"c": ["a", "z"], "y": [0, 1]})
    assert "unknown category 'z'; known: a, b" in data_error(preprocessor.prepare, valid, source="v",
                                                             require_target=True)


def test_standard_scaling_statistics_from_train():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 3.0], "k": [5.0, 5.0], "y": ["a", "b"]}))
    new = preprocessor.prepare(pd.DataFrame({"x": [2.0, 5.0], "k": [7.0, 5.0]}), source="n", require_target=False)
    assert preprocessor.features(new, np.float64).tolist() == [[0.0, 2.0], [3.0, 0.0]]  # std 0 -> divide by 1


def test_minmax_scaling_statistics_from_train():
    preprocessor = fit(pd.DataFrame({"x": [2.0, 6.0, 4.0], "k": [1.0, 1.0, 1.0], "y": ["a", "b", "a"]}),
                       scale="minmax")
    new = preprocessor.prepare(pd.DataFrame({"x": [4.0, 10.0], "k": [1.0, 3.0]}), source="n", require_target=False)
    assert preprocessor.features(new, np.float64).tolist() == [[0.5, 0.0], [2.0, 2.0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arrays_keep_the_requested_dtype(dtype):
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0], "c": ["u", "v"], "y": ["a", "b"]}))
    prepared = preprocessor.prepare(pd.DataFrame({"x": [1.0], "c": ["v"], "y": ["b"]}), source="n",
                                    require_target=True)
    assert preprocessor.features(prepared, dtype).dtype == dtype
    assert preprocessor.targets(prepared, dtype).dtype == dtype


# ----- classes and targets


def test_classes_sorted_numerically():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [10, 9, 100, 9]}))
    assert preprocessor.classes == [9, 10, 100]


def test_classes_sorted_as_text():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["b", "10", "a", "9"]}))
    assert preprocessor.classes == ["10", "9", "a", "b"]


def test_numeric_classes_match_across_int_and_float_columns():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 2]}))
    eval_frame = pd.DataFrame({"x": [1.0, 2.0], "y": [2.0, 0.0]})
    prepared = preprocessor.prepare(eval_frame, source="e", require_target=True)
    assert preprocessor.class_indices(prepared).tolist() == [2, 0]


def test_binary_encoding_is_one_column_for_the_last_class():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["yes", "no", "yes"]}), target_encoding="binary")
    prepared = preprocessor.prepare(pd.DataFrame({"x": [1.0, 2.0], "y": ["no", "yes"]}), source="e",
                                    require_target=True)
    assert preprocessor.classes == ["no", "yes"]
    assert preprocessor.targets(prepared, np.float32).tolist() == [[0.0], [1.0]]


def test_binary_needs_two_classes():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    assert "3 classes (a, b, c); binary_crossentropy needs exactly 2" in data_error(
        fit, frame, target_encoding="binary")


def test_onehot_encoding():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["c", "a", "b"]}))
    prepared = preprocessor.prepare(pd.DataFrame({"x": [1.0, 2.0], "y": ["b", "c"]}), source="e",
                                    require_target=True)
    assert preprocessor.targets(prepared, np.float64).tolist() == [[0, 1, 0], [0, 0, 1]]
    assert preprocessor.class_indices(prepared).tolist() == [1, 2]


def test_regression_target_must_be_numbers():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "t": [1.0, 2.0, "high"]})
    message = data_error(fit, frame, target=["t"], task="regression", target_encoding="values")
    assert message == "train.csv:4: column 't': expected a number, got 'high' (regression targets are numbers)"


def test_classification_takes_one_target():
    frame = pd.DataFrame({"x": [1.0, 2.0], "a": [0, 1], "b": [1, 0]})
    with pytest.raises(ConfigError, match="one target column"):
        fit(frame, target=["a", "b"])


def test_regression_targets_are_values():
    frame = pd.DataFrame({"x": [1.0, 2.0], "t1": [0.5, 1.5], "t2": [3, 4]})
    preprocessor = fit(frame, target=["t1", "t2"], task="regression", target_encoding="values")
    prepared = preprocessor.prepare(frame, source="t", require_target=True)
    assert preprocessor.classes == []
    assert preprocessor.targets(prepared, np.float64).tolist() == [[0.5, 3.0], [1.5, 4.0]]


# ----- decode


def test_decode_binary():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}), target_encoding="binary")
    decoded = preprocessor.decode(np.array([[0.25], [0.75]], dtype=np.float32))
    assert list(decoded.columns) == ["y", "prob_0", "prob_1"]
    assert decoded["y"].tolist() == [0, 1]
    assert decoded["prob_0"].tolist() == [0.75, 0.25] and decoded["prob_1"].tolist() == [0.25, 0.75]


def test_decode_onehot_text_classes():
    preprocessor = fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["cat", "dog", "eel"]}))
    decoded = preprocessor.decode(np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]))
    assert list(decoded.columns) == ["y", "prob_cat", "prob_dog", "prob_eel"]
    assert decoded["y"].tolist() == ["dog", "cat"]


def test_decode_regression():
    frame = pd.DataFrame({"x": [1.0, 2.0], "a": [0.5, 1.5], "b": [3.0, 4.0]})
    preprocessor = fit(frame, target=["a", "b"], task="regression", target_encoding="values")
    decoded = preprocessor.decode(np.array([[1.0, 2.0]]))
    assert list(decoded.columns) == ["a", "b"] and decoded.iloc[0].tolist() == [1.0, 2.0]


# ----- saving with the model


def test_arrays_round_trip_through_npz(tmp_path):
    train = pd.DataFrame({"x": [1.0, np.nan, 5.0, 2.0], "c": ["u", None, "v", "u"], "z": [3, 4, 3, 9],
                          "y": [0.5, 1.5, 1.5, 2.5]})
    preprocessor = fit(train, categorical=["c", "z"], scale="minmax", missing="impute", task="classification",
                       target_encoding="onehot")
    arrays = preprocessor.to_arrays()
    assert "feature_names" in arrays and "categories.c" in arrays
    assert all(array.dtype != object for array in arrays.values())
    np.savez(tmp_path / "m.npz", **{f"meta.{key}": value for key, value in arrays.items()})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as loaded:
        restored = Preprocessor.from_arrays({key[5:]: loaded[key] for key in loaded.files})
    new = pd.DataFrame({"x": [np.nan, 3.0], "c": ["v", None], "z": [9, 4]})
    before = preprocessor.features(preprocessor.prepare(new, source="n", require_target=False), np.float32)
    after = restored.features(restored.prepare(new, source="n", require_target=False), np.float32)
    assert np.array_equal(before, after)
    assert restored.classes == preprocessor.classes == [0.5, 1.5, 2.5]
    assert restored.input_names == preprocessor.input_names
    outputs = np.array([[0.2, 0.5, 0.3]])
    pd.testing.assert_frame_equal(restored.decode(outputs), preprocessor.decode(outputs))


# ----- split


def test_stratified_split_proportions():
    labels = np.array(["a"] * 100 + ["b"] * 50 + ["c"] * 7)
    train, valid = split_indices(len(labels), 0.2, np.random.default_rng(0), labels)
    assert np.array_equal(np.sort(np.concatenate([train, valid])), np.arange(len(labels)))
    held = pd.Series(labels[valid]).value_counts().to_dict()
    assert held == {"a": 20, "b": 10, "c": 1}
    assert np.all(np.diff(train) > 0) and np.all(np.diff(valid) > 0)  # file order


def test_split_is_seeded():
    labels = np.arange(200) % 3
    first = split_indices(200, 0.3, np.random.default_rng(5), labels)
    again = split_indices(200, 0.3, np.random.default_rng(5), labels)
    other = split_indices(200, 0.3, np.random.default_rng(6), labels)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=False))
    assert not np.array_equal(first[1], other[1])


def test_unstratified_split_size():
    train, valid = split_indices(10, 0.25, np.random.default_rng(0), None)
    assert len(valid) == 2 and len(train) == 8  # round(2.5) == 2


def test_split_refuses_an_empty_part():
    assert "too few rows (2)" in data_error(split_indices, 2, 0.2, np.random.default_rng(0), None)


# ----- load_datasets


def load(settings, rng):
    """`load_datasets` as the API calls it, for these tests' plain stand-ins of a config."""
    loss = settings.loss["type"]
    task = loss_task(loss) if settings.task == "auto" else settings.task
    encoding = target_encoding_for(task, loss, settings.layers[-1].get("units"))
    return load_datasets(settings.data, rng, task=task, encoding=encoding, dtype=settings.dtype)


def config(tmp_path, train, **data):
    settings = dict(train=train, valid=None, delimiter="auto", missing="error", test=None, target="y",
                    features="all", categorical="auto", scale="standard")
    settings.update(data)
    return SimpleNamespace(data=SimpleNamespace(**settings), task="auto", loss={"type": "binary_crossentropy"},
                           dtype="float32", layers=[{"type": "dense", "units": 1}])


def test_load_datasets_with_held_out_fraction(tmp_path):
    rows = "".join(f"{i},{'p' if i % 4 else 'q'},{i % 2}\n" for i in range(40))
    train_path = write(tmp_path, "x,c,y\n" + rows)
    test_path = write(tmp_path, "x,c,y\n100,p,1\n", "test.csv")
    datasets = load(config(tmp_path, train_path, valid=0.25, test=test_path), np.random.default_rng(3))
    expected_train, expected_valid = split_indices(40, 0.25, np.random.default_rng(3), np.arange(40) % 2)
    assert np.array_equal(datasets.train.frame_rows, expected_train)
    assert np.array_equal(datasets.valid.frame_rows, expected_valid)
    assert datasets.train.features.shape == (30, 3) and datasets.train.features.dtype == np.float32
    assert datasets.valid.targets.shape == (10, 1) and datasets.test.features.shape == (1, 3)
    train_x = expected_train.astype(float)
    assert datasets.preprocessor.offset[0] == pytest.approx(train_x.mean())  # statistics from train rows only
    assert datasets.preprocessor.divisor[0] == pytest.approx(train_x.std())


def test_load_datasets_with_valid_file_and_regression(tmp_path):
    train_path = write(tmp_path, "a;b;y\n1;2;0.5\n2;3;1.5\n3;5;2.5\n")
    valid_path = write(tmp_path, "a;b;y\n4;4;1\n", "valid.csv")
    settings = config(tmp_path, train_path, valid=valid_path, target=["y"], scale="none")
    settings.loss, settings.task = {"type": "mse"}, "auto"
    datasets = load(settings, np.random.default_rng(0))
    assert datasets.preprocessor.task == "regression" and datasets.test is None
    assert datasets.valid.features.tolist() == [[4.0, 4.0]] and datasets.valid.targets.tolist() == [[1.0]]


def test_load_datasets_too_few_rows(tmp_path):
    train_path = write(tmp_path, "x,y\n1,0\n2,1\n")
    message = data_error(load, config(tmp_path, train_path, valid=0.2), np.random.default_rng(0))
    assert "too few rows" in message and "data.csv" in message


def test_load_datasets_reports_the_file_of_a_bad_cell(tmp_path):
    train_path = write(tmp_path, "x,y\n1,0\n2,1\n")
    valid_path = write(tmp_path, "x,y\n1,0\nabc,1\n", "valid.csv")
    message = data_error(load, config(tmp_path, train_path, valid=valid_path), np.random.default_rng(0))
    assert message.endswith("valid.csv:3: column 'x': expected a number, got 'abc' (the column is numeric)")


def test_load_datasets_names_the_line_of_a_bad_cell_in_either_part(tmp_path):
    rows = [f"{i},{i % 2}" for i in range(40)]
    rows[17] = "oops,1"
    train_path = write(tmp_path, "x,y\n" + "\n".join(rows) + "\n")
    for seed in range(3):
        message = data_error(load, config(tmp_path, train_path, valid=0.5), np.random.default_rng(seed))
        assert message.endswith("data.csv:19: column 'x': expected a number, got 'oops' (the column is numeric)")


def test_classification_with_a_regression_loss_encodes_for_the_output_width(tmp_path):
    settings = config(tmp_path, write(tmp_path, "x,y\n1,0\n2,1\n3,1\n4,0\n"), valid=None)
    settings.task, settings.loss = "classification", {"type": "mse"}
    settings.layers = [{"type": "dense", "units": 1}]
    binary = load(settings, np.random.default_rng(0))
    np.testing.assert_array_equal(binary.train.targets[:, 0], [0, 1, 1, 0])
    settings.layers = [{"type": "dense", "units": 2}]
    onehot = load(settings, np.random.default_rng(0))
    np.testing.assert_array_equal(onehot.train.targets, [[1, 0], [0, 1], [0, 1], [1, 0]])


@pytest.mark.parametrize("rows, parts", [(0, 2), (1, 2), (8192, 2), (8193, 2), (100000, 2), (100000, 3), (50, 1)])
def test_row_ranges_cover_the_rows_in_whole_blocks(rows, parts):
    from nncli.data.preprocess import _BLOCK_ROWS, _row_ranges

    ranges = _row_ranges(rows, parts)
    assert ranges[0][0] == 0 and ranges[-1][1] == rows and len(ranges) <= parts
    assert all(first < last or rows == 0 for first, last in ranges)
    assert all(previous[1] == current[0] for previous, current in itertools.pairwise(ranges))
    assert all(first % _BLOCK_ROWS == 0 for first, _ in ranges)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_features_on_worker_threads_equal_one_thread(monkeypatch, dtype):
    import nncli.data.preprocess as preprocess

    rng = np.random.default_rng(0)
    rows = 3 * preprocess._PARALLEL_ROWS // 2 + 17
    frame = pd.DataFrame({"a": rng.normal(3.0, 2.0, rows), "b": rng.integers(0, 9, rows).astype(np.float64),
                          "c": rng.choice(["u", "v", "w"], rows), "y": rng.normal(size=rows)})
    preprocessor, prepared = Preprocessor.fit_prepare(
        frame, target=["y"], features="all", categorical="auto", scale="standard", missing="error",
        task="regression", target_encoding="values", source="train.csv", dtype=dtype)
    monkeypatch.setattr(preprocess, "worker_count", lambda: 1)
    alone = preprocessor.features(prepared, dtype)
    monkeypatch.setattr(preprocess, "worker_count", lambda: 3)
    threaded = preprocessor.features(prepared, dtype)
    np.testing.assert_array_equal(threaded, alone)
    assert alone.shape == (rows, 5) and np.isclose(alone[:, 0].mean(), 0.0, atol=1e-6)
