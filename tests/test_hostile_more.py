"""More hostile and unlucky inputs, found by trying beyond the first list: each fails fast with one `error:`
paragraph (exit 2) naming the file and the line, column or field, in bounded time and memory, and changes no
file; or, where the input is fine, it just works."""

import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.config import config_from_dict
from nncli.config.yamlio import read_yaml
from nncli.console import show_warnings
from nncli.data import cache, preprocess, read_table
from nncli.data.cells import MAX_LABEL_CHARS, Marks, factor
from nncli.errors import MESSAGE_LIMIT, ConfigError, DataError
from tests import test_errors as errors
from tests.test_errors import fails, model_arrays, replaced, table, with_config
from tests.test_hostile_data import bounded, needs_fifo, with_cell

# The fixtures of test_errors: a working directory with a config, its data and a trained run.
trained = errors.trained
project = errors.project


# --- configs -------------------------------------------------------------------------------------------------

def test_a_wide_merge_key_is_read_in_linear_time():
    keys = 8000  # copying each merged key's marks used to scan every mark: minutes for a 100 KiB config
    text = "base: {<<: {" + ", ".join(f"k{i}: {i}" for i in range(keys)) + "}}\n"
    started = time.perf_counter()
    data, where = bounded(lambda: read_yaml(text, "wide.yaml"), 20)
    assert len(data["base"]) == keys and data["base"]["k7999"] == 7999
    assert where.marks[("base", "k7999")][1].line == 1
    assert time.perf_counter() - started < 10


# --- messages stay one short paragraph whatever the input repeats -------------------------------------------

def test_a_long_cell_is_cut_short_in_the_message(project):
    with_cell(5, 2, "a" * 200_000)
    message = fails("train", "config.yaml")
    assert message == ("error: data/train.csv:5: column 'y': expected a number, got '" + "a" * 100
                       + "'... (200000 characters) (the column is numeric)\n")


def test_a_long_config_value_is_cut_short_in_the_message(project):
    with_config(replaced("loss: binary_crossentropy", "loss: " + "x" * 500_000))
    message = fails("check", "config.yaml")
    assert message.startswith("error: config.yaml:11: loss: unknown loss '" + "x" * 100 + "'... (500000 characters);")
    assert len(message) < 400


def test_a_line_break_in_a_file_name_stays_in_one_line(project):
    with_config(replaced("train: data/train.csv", 'train: "data/tr\\nain\\u202e.csv"'))
    fails("check", "config.yaml", expect=("error: data/tr\\nain\\u202e.csv: file not found\n",))


def test_every_message_is_capped():
    text = str(DataError("z" * 10**6, file="f.csv", line=3))
    assert len(text) < MESSAGE_LIMIT + 100 and text.startswith("f.csv:3: zzz") and "characters left out" in text


def test_a_long_network_is_checked_in_linear_time():
    layers = [{"type": "dense", "units": 1} for _ in range(6000)]  # name and input checks once scanned every layer
    raw = {"data": {"train": "x.csv", "target": "y"}, "layers": layers, "loss": "mse"}
    started = time.perf_counter()
    assert len(bounded(lambda: config_from_dict(raw), 30).layers) == 6000
    assert time.perf_counter() - started < 4
    layers[-1]["inputs"] = ["nope"]
    with pytest.raises(ConfigError) as caught:
        config_from_dict(raw)
    assert str(caught.value).startswith("<dict>: layers[5999].inputs[0]: 'nope' is not 'input' (the data) or the "
                                        "name of an earlier layer; valid: input, dense_0, dense_1,")
    assert str(caught.value).endswith(", dense_18, ... (6000 in all)")


# --- data files ----------------------------------------------------------------------------------------------

def test_a_header_of_too_many_columns_is_refused_at_once(project):
    Path("wide.csv").write_text("," * 100_000 + "\n" + "," * 100_000 + "\n")  # 200 KB: took minutes to parse
    started = time.perf_counter()
    fails("predict", "run", "wide.csv", expect=("error: wide.csv:1: the header has 100001 columns; nncli reads at "
                                                "most 10000\n",))
    assert time.perf_counter() - started < 5


def test_a_column_name_too_long_for_the_model_file_is_refused(project):
    # feature names are stored as one text array as wide as the longest name: 9000 names x 1 MB would be 36 GB
    Path("long.csv").write_text("n" * 1001 + ",x,y,colour,label\n1,1,2,red,a\n")
    fails("eval", "run", "long.csv", expect=("error: long.csv:1: the name of column 1 has 1001 characters; column "
                                             "names have at most 1000\n",))


def test_a_parquet_file_is_held_to_the_same_column_limits(project):
    pytest.importorskip("pyarrow")
    pd.DataFrame({f"c{i}": [1] for i in range(10_001)}).to_parquet("wide.parquet")
    fails("predict", "run", "wide.parquet", expect=("error: wide.parquet: the table has 10001 columns; nncli "
                                                    "reads at most 10000\n",))
    pd.DataFrame({"x": [1], "n" * 1001: [2]}).to_parquet("long.parquet")
    fails("inspect", "long.parquet", expect=("error: long.parquet: the name of column 2 has 1001 characters; "
                                             "column names have at most 1000\n",))


def test_a_long_cell_never_sizes_a_text_array():
    # numpy text arrays are as wide as their longest value: 1000 short values and one of 10 MB were 40 GB
    series = pd.Series([f"v{i}" for i in range(1000)] + ["w" * 10_000_000], dtype="str")
    cells = factor(series)
    assert cells.text.nbytes <= 1001 * (MAX_LABEL_CHARS + 1) * 4
    assert cells.first_too_long() == (1000, 10_000_000) and len(cells.raw[1000]) == 10_000_000
    assert cache._frame_arrays(pd.DataFrame({"a": series})) is None  # not cached rather than 40 GB


@pytest.mark.parametrize("column, name", [(3, "colour"), (4, "label")])
def test_a_category_or_class_label_too_long_is_refused_at_its_line(project, column, name):
    with_cell(6, column, "q" * 5000)
    fails("train", "config.yaml", expect=(f"error: data/train.csv:6: column '{name}': a value of 5000 characters; "
                                          "categories and class labels have at most 1000",))


def test_a_category_too_long_is_refused_by_predict_at_its_line(project):
    with_cell(6, 3, "q" * 5000)
    fails("predict", "run", "data/train.csv", expect=("error: data/train.csv:6: column 'colour': a value of 5000 "
                                                      "characters; categories and class labels have at most 1000",))


def test_a_long_missing_mark_still_matches_its_whole_cell():
    mark = "m" * 2000
    cells = factor(pd.Series(["a", mark, "m" * 1999 + "n"], dtype=object), marks=Marks.of([mark]))
    assert cells.codes.tolist() == [0, -1, 2] and cells.first_too_long() == (2, 2000)


def test_a_one_hot_target_over_the_memory_limit_is_refused(project, monkeypatch):
    # a target with a class per row made a rows x rows matrix: a bare MemoryError (exit 1), or all the memory
    monkeypatch.setattr(preprocess, "MAX_FEATURE_BYTES", 100_000)
    frame = table(400)
    frame["label"] = [f"c{i}" for i in range(len(frame))]
    frame.to_csv("data/train.csv", index=False)
    with_config(replaced("units: 1, activation: sigmoid", "units: 300, activation: softmax").replace(
        "loss: binary_crossentropy", "loss: categorical_crossentropy").replace("valid: 0.25", "valid: null"))
    fails("check", "config.yaml", expect=(
        "error: data/train.csv: column 'label': its 400 classes make the one-hot target matrix 400 rows x 400 "
        "columns of float32: 625 KiB, over the limit of 97.7 KiB; is it a number to predict? then use a regression "
        "loss such as mse\n",))


def test_a_delimiter_pandas_cannot_split_on_is_a_config_error(project):
    with_config(replaced("valid: 0.25", 'valid: 0.25\n  delimiter: "é"'))
    fails("check", "config.yaml", expect=("error: config.yaml:7: data.delimiter: must be auto or a single ASCII "
                                          "character (a tab is \"\\t\", quoted), got 'é'\n",))


def test_a_delimiter_pandas_cannot_split_on_is_refused_by_the_reader_too(tmp_path):
    (tmp_path / "t.csv").write_text("aéb\n1é2\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_table(tmp_path / "t.csv", "é", display_path="t.csv")
    assert str(caught.value) == "t.csv: the delimiter must be a single ASCII character, got 'é'"


# --- paths the system refuses --------------------------------------------------------------------------------

LONG_NAME = "n" * 300  # longer than a file name may be (255 bytes)


@pytest.mark.parametrize("args", [("predict", LONG_NAME, "new.csv"), ("eval", f"{LONG_NAME}/run", "new.csv"),
                                  ("train", "config.yaml", "--out", LONG_NAME),
                                  ("train", "config.yaml", "--out", LONG_NAME, "--resume")])
def test_a_path_too_long_to_look_at_is_named_with_exit_2(project, args):
    fails(*args, expect=(f"error: {LONG_NAME}", "File name too long\n"))


def test_a_symlink_loop_as_data_is_a_data_error(project):
    Path("a.csv").symlink_to("b.csv")
    Path("b.csv").symlink_to("a.csv")
    with_config(replaced("train: data/train.csv", f"train: {project / 'a.csv'}"))  # absolute: shown relative
    fails("check", "config.yaml", expect=("a.csv: cannot read the file: Too many levels of symbolic links\n",))


def test_a_deleted_working_directory_is_said_plainly(project, monkeypatch):
    config = (project / "config.yaml").read_text().replace("data/train.csv", str(project / "data/train.csv"))
    (project / "abs.yaml").write_text(config)
    (project / "gone").mkdir()
    monkeypatch.chdir(project / "gone")
    (project / "gone").rmdir()
    assert CliRunner().invoke(app, ["check", str(project / "abs.yaml")]).exit_code == 0
    result = CliRunner().invoke(app, ["train", str(project / "abs.yaml")])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == ("error: .: cannot find the working directory, where runs/ goes (No such file or "
                             "directory); was it deleted? Change to another one, or give --out DIR\n")
    for args, where in ((["init", str(project / "data/train.csv"), "--target", "label"], "the config goes"),
                        (["predict", str(project / "run"), str(project / "data/train.csv"), "-o", "out.csv"],
                         "the output goes")):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and result.stderr == (
            f"error: .: cannot find the working directory, where {where} (No such file or directory); was it "
            "deleted? Change to another one, or give -o with a full path\n")


def test_a_legal_output_name_near_the_length_limit_is_written(project):
    name = "p" * 250  # its temporary once took '.NAME.XXXXXXXX.tmp': over 255 bytes, and the write failed
    result = CliRunner().invoke(app, ["predict", "run", "data/train.csv", "-o", name])
    assert result.exit_code == 0, result.stderr
    assert Path(name).read_text().startswith("label,") and sorted(Path().glob(".*")) == []
    assert CliRunner().invoke(app, ["init", "data/train.csv", "--target", "label", "-o", "q" * 250]).exit_code == 0


def test_an_output_name_too_long_is_named_with_exit_2(project):
    fails("init", "data/train.csv", "--target", "label", "-o", LONG_NAME,
          expect=(f"error: {LONG_NAME}: cannot write the file: File name too long\n",))


def test_a_plot_directory_that_is_a_symlink_loop_is_named(project):
    pytest.importorskip("matplotlib")
    api.train("config.yaml", out="finished", overrides=["training.epochs=1"])
    Path("a").symlink_to("b")
    Path("b").symlink_to("a")
    fails("plot", "finished", "-o", "a", expect=("error: a: cannot create the directory for the plots: a file is "
                                                 "in the way\n",))


@needs_fifo
def test_a_model_that_is_a_pipe_or_a_symlink_loop_is_named_for_what_it_is(project):
    os.mkfifo("pipe.npz")  # nobody writes it: opening it to read would hang
    started = time.perf_counter()
    fails("predict", "pipe.npz", "new.csv", expect=("error: pipe.npz: is not a regular file (a pipe, a device or a "
                                                    "socket): an .npz file must be a file nncli can seek in\n",))
    assert time.perf_counter() - started < 5
    Path("a.npz").symlink_to("b.npz")
    Path("b.npz").symlink_to("a.npz")
    fails("eval", "a.npz", "new.csv", expect=("error: a.npz: cannot read the file: Too many levels of symbolic "
                                              "links\n",))


# --- models that compute nonsense -----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["predict", "eval", "explain"])
def test_a_row_whose_output_overflows_is_an_error_at_its_line(project, command):
    # every weight finite, but 3e38 times an input overflows: predict wrote a class and blank probabilities
    arrays = model_arrays()
    arrays["layers.0.weight"] = np.full_like(arrays["layers.0.weight"], 3e38)
    with open("huge.npz", "wb") as stream:
        np.savez(stream, **arrays)
    message = fails(command, "huge.npz", "new.csv")
    assert re.fullmatch(r"error: new\.csv:\d+: the network's output for this row is not a finite number \(it "
                        r"overflowed\): its features .*\n", message), message


# --- tables and warnings show what the user wrote, as written ---------------------------------------------------

def test_labels_and_names_that_look_like_markup_are_shown_as_written(tmp_path, monkeypatch):
    # rich read '[/]' as a closing tag: eval printed half its tables, then failed with a MarkupError (exit 1)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=40), "label": ["[/]", "[bold]b"] * 20}).to_csv("m.csv", index=False)
    Path("m.yaml").write_text("data: {train: m.csv, target: label, valid: null}\nlayers:\n"
                              "  - {type: dense, units: 2, activation: softmax, name: '[/]'}\n"
                              "loss: categorical_crossentropy\ntraining: {epochs: 1}\n")
    for args, shown in ((["train", "m.yaml", "--out", "[/]run", "--quiet"], ""),
                        (["check", "m.yaml"], "[/] (dense)"),
                        (["eval", "[/]run", "m.csv"], "│ [bold]b "),
                        (["explain", "[/]run", "m.csv", "--repeats", "1"], "x")):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.stderr
        assert shown in result.stdout


def test_inspect_shows_control_characters_escaped_and_long_values_cut(project):
    Path("ctl.csv").write_text('x,"na\u202eme",label\n1,"\x1b[31mred",a\n2,"' + "z" * 100_000 + '",b\n3,red,a\n')
    result = CliRunner().invoke(app, ["inspect", "ctl.csv"])
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and len(result.stdout) < 5000
    assert "na\\u202eme" in result.stdout and "\\x1b[31mred (1)" in result.stdout


def test_a_warning_stays_one_escaped_line(capsys):
    show_warnings(["column 'a\nb' looks like an id"])
    assert capsys.readouterr().err == "warning: column 'a\\nb' looks like an id\n"


def test_class_weights_for_many_classes_are_matched_by_index():
    from types import SimpleNamespace

    from nncli.weights import class_weights

    classes = np.array([f"c{i}" for i in range(30_000)])
    fitted = SimpleNamespace(classes=list(classes), class_text=classes)
    started = time.perf_counter()
    weights = class_weights({f"c{i}": 2.0 for i in range(0, 30_000, 2)}, fitted, np.zeros((1, 1)))
    assert time.perf_counter() - started < 5 and weights[:4].tolist() == [2.0, 1.0, 2.0, 1.0]
    with pytest.raises(ConfigError) as caught:
        class_weights({"c1": 2.0, "nope": 3.0}, fitted, np.zeros((1, 1)))
    assert str(caught.value) == ("training.class_weight: names class 'nope', which the training data does not have "
                                 "(classes: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, "
                                 "c16, c17, c18, c19, ... (30000 in all))")
