"""Hostile or unlucky data fails fast and clearly: pipes and devices are read once and never hang, what is no CSV
is refused at its first line, numbers too large for the run's dtype, NUL bytes, classes lost to the split, a
fraction written as text and a one-hot encoding too wide for memory each get one `error:` paragraph (exit 2)
naming the file and line or the config field, and change no file."""

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli.cli import app
from nncli.data import blocks, cache, preprocess, read_table, split_indices
from nncli.errors import DataError, format_values
from tests import test_errors as errors
from tests.test_errors import csv_lines, fails, replaced, run_nncli, snapshot, table, with_config

# The fixtures of test_errors: a working directory with a config, its data and a trained run.
trained = errors.trained
project = errors.project

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
needs_dev_zero = pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")


def bounded(work: Callable[[], object], seconds: float = 10.0) -> object:
    """Run `work` on a thread and fail (rather than hang) unless it ends within `seconds`; return its result."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def fifo_with(path: Path, content: bytes) -> threading.Thread:
    """A named pipe at `path` and a thread that writes `content` into it once, for one reader."""
    os.mkfifo(path)

    def write() -> None:
        try:
            with open(path, "wb") as pipe:
                pipe.write(content)
        except BrokenPipeError:  # the reader stopped early: what a refused file does
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def data_error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        read_table(*args, **kwargs)
    return str(caught.value)


# --- pipes, devices and what is no CSV -----------------------------------------------------------------------

@needs_fifo
def test_a_named_pipe_is_read_once_like_the_file(project):
    content = Path("new.csv").read_bytes()
    writer = fifo_with(project / "pipe.csv", content)
    started = time.monotonic()
    frame = bounded(lambda: read_table(Path("pipe.csv"), numbers=np.float32))
    assert time.monotonic() - started < 5
    writer.join(5)
    pd.testing.assert_frame_equal(frame, read_table(Path("new.csv")))


@needs_fifo
def test_predict_and_eval_read_a_named_pipe_through_a_real_process(project):
    expected = run_nncli("predict", "run", "new.csv")
    assert expected.returncode == 0, expected.stderr
    for command in ("predict", "eval"):
        fifo = project / f"{command}.pipe"
        writer = fifo_with(fifo, Path("new.csv").read_bytes())
        done = run_nncli(command, "run", fifo.name)  # a second open of the pipe would hang until the timeout
        writer.join(5)
        fifo.unlink()
        assert done.returncode == 0, done.stderr
        if command == "predict":
            assert done.stdout == expected.stdout


@needs_fifo
def test_a_named_pipe_of_binary_bytes_is_refused_at_its_first_line(project):
    fifo_with(project / "pipe.csv", b"PK\x03\x04\x00\x00" + bytes(range(256)) * 64)
    message = bounded(lambda: data_error(Path("pipe.csv")), 5)
    assert message == ("pipe.csv:1: the first line holds a NUL byte: a binary file (or UTF-16 text), not a UTF-8 "
                       "CSV file")


@needs_dev_zero
def test_dev_zero_as_training_data_fails_at_once(project):
    with_config(replaced("train: data/train.csv", "train: /dev/zero"))
    started = time.monotonic()
    fails("train", "config.yaml",
          expect=("error: /dev/zero: the first line is longer than 1048576 bytes: not a CSV header",))
    assert time.monotonic() - started < 5


@needs_dev_zero
def test_dev_zero_as_predict_data_through_a_real_process(project):
    before = snapshot(project)
    done = run_nncli("predict", "run", "/dev/zero")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: /dev/zero: the first line is longer than 1048576 bytes: not a CSV header\n"
    assert snapshot(project) == before


def test_a_regular_file_without_line_breaks_is_refused_after_its_first_mebibyte(project):
    Path("long.csv").write_bytes(b"x" * (3 << 20))
    fails("predict", "run", "long.csv", expect=("long.csv: the first line is longer than 1048576 bytes",))


@pytest.mark.parametrize("content, expected", [
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(300), "bin.csv:1: the first line holds a NUL byte"),
    ("x,label\n1,a\n".encode("utf-16"), "bin.csv:1: the first line holds a NUL byte: a binary file (or UTF-16"),
    (b"x,y\rz,label\n1,2,a\n", "bin.csv:1: cannot read the header row: new-line character seen in unquoted field"),
])
def test_binary_files_are_refused(project, content, expected):
    Path("bin.csv").write_bytes(content)
    fails("predict", "run", "bin.csv", expect=(expected,))
    fails("eval", "run", "bin.csv", expect=(expected,))


def test_a_directory_or_a_missing_file_for_valid_or_test_names_the_field(project):
    with_config(replaced("valid: 0.25", "valid: data/valid.csv"))
    fails("check", "config.yaml", expect=("error: data/valid.csv: data.valid: file not found",))
    with_config(replaced("valid: 0.25", "valid: data"))
    fails("check", "config.yaml", expect=("error: data: data.valid: is a directory, not a CSV file",))
    with_config(replaced("valid: 0.25", "valid: 0.25\n  test: data/test.csv"))
    fails("check", "config.yaml", expect=("error: data/test.csv: data.test: file not found",))


# --- numbers too large for the run's dtype -------------------------------------------------------------------

def with_cell(line: int, column: int, text: str, path: str = "data/train.csv") -> None:
    """The training CSV with the cell at (line, column), both from 1, replaced by `text`."""
    lines = csv_lines()
    cells = lines[line - 1].split(",")
    cells[column - 1] = text
    lines[line - 1] = ",".join(cells)
    Path(path).write_text("\n".join(lines) + "\n")


TOO_LARGE = "column 'x': 1e39 is too large for float32 (largest 3.4e38); use dtype: float64 or rescale the column"


def test_a_number_too_large_for_float32_names_line_and_column(project):
    with_cell(7, 1, "1e39")
    fails("train", "config.yaml", expect=(f"error: data/train.csv:7:1: {TOO_LARGE}",))
    with_cell(7, 1, "-1e39")
    fails("check", "config.yaml", expect=("data/train.csv:7:1: column 'x': -1e39 is too large for float32",))
    with_config(replaced("seed: 0", "seed: 0\ndtype: float64"))
    with_cell(7, 1, "1e39")
    assert CliRunner().invoke(app, ["check", "config.yaml"]).exit_code == 0


def test_a_regression_target_too_large_for_float32(project):
    Path("data/line.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(30))
                                     + "1,2,3.5e38\n")
    fails("train", "line.yaml", expect=("data/line.csv:32:3: column 'y': 3.5e38 is too large for float32",))


def test_a_number_too_large_is_found_by_the_block_reader_too(project, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    monkeypatch.setattr(blocks, "COLUMN_BYTES", 0)
    path = Path("data/train.csv")
    assert blocks.parse_blocks(path, ",", path.read_bytes()[:100], np.dtype(np.float32), ["label"]) is not None
    with_cell(30, 1, "1e39")
    # The block reader steps aside (rather than hand on an infinity) and the whole-file parser names the cell.
    assert blocks.parse_blocks(path, ",", path.read_bytes()[:100], np.dtype(np.float32), ["label"]) is None
    fails("train", "config.yaml", expect=(f"data/train.csv:30:1: {TOO_LARGE}",))


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_predict_and_eval_refuse_a_number_too_large_for_the_model(project, monkeypatch, command):
    monkeypatch.setattr(cache, "MIN_BYTES", 0)  # the second read comes from the table cache
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(project.parent / f"{project.name}-cache"))
    frame = table(12, seed=5).astype({"y": object})
    frame.loc[4, "y"] = "2e40"
    frame.to_csv("huge.csv", index=False)
    expected = "error: huge.csv:6:2: column 'y': 2e40 is too large for float32 (largest 3.4e38)"
    fails(command, "run", "huge.csv", expect=(expected,))
    fails(command, "run", "huge.csv", expect=(expected,))


# --- control characters in messages --------------------------------------------------------------------------

def test_a_nul_byte_in_a_cell_is_shown(project):
    with_cell(5, 2, "0.571\x00")
    fails("train", "config.yaml", expect=("data/train.csv:5: column 'y': expected a number, got '0.571\\x00'",))


def test_a_trailing_nul_byte_in_an_unknown_class_is_shown(project):
    frame = table(12)
    frame.loc[3, "label"] = "z\x00"
    frame.to_csv("nul.csv", index=False)
    fails("eval", "run", "nul.csv", expect=("nul.csv:5: column 'label': unknown class 'z\\x00'; known: a, b",))


def test_listed_values_escape_control_characters():
    assert format_values(["a\x00", "b\tc", "d\ne", "é"]) == "a\\x00, b\\tc, d\\ne, é"


# --- the validation split and its setting --------------------------------------------------------------------

def test_a_class_held_out_whole_is_named_with_its_rows_and_the_fraction(project):
    lines = csv_lines()
    for line in (9, 20):
        lines[line - 1] = lines[line - 1].rsplit(",", 1)[0] + ",z"
    Path("data/train.csv").write_text("\n".join(lines) + "\n")
    with_config(replaced("valid: 0.25", "valid: 0.75"))
    fails("train", "config.yaml", expect=(
        "error: data/train.csv: data.valid: class 'z' has too few rows for a validation fraction of 0.75: all 2 of "
        "its rows would be held out, leaving none to train on; use a smaller fraction or add rows of that class",))


def test_split_names_a_numeric_class_as_written():
    labels = np.array([1.0] * 10 + [2.0] * 10 + [3.0])
    with pytest.raises(DataError) as caught:
        split_indices(len(labels), 0.6, np.random.default_rng(0), labels, source="t.csv")
    assert str(caught.value).startswith("t.csv: data.valid: class '3' has too few rows for a validation fraction "
                                        "of 0.6: its only row would be held out")
    train, valid = split_indices(len(labels), 0.2, np.random.default_rng(0), labels)  # 3 stays in training
    assert 20 in train and len(valid) == 4


@pytest.mark.parametrize("text", ["'0.2'", '"0.2"', "'.5'", "'1e-1'"])
def test_a_fraction_written_as_text_is_a_config_error(project, text):
    with_config(replaced("valid: 0.25", f"valid: {text}"))
    value = text.strip("'\"")
    fails("check", "config.yaml", expect=(
        f"error: config.yaml:6: data.valid: must be a fraction in (0, 1), a CSV file path or null, got the text "
        f"'{value}': write a fraction as a number, without quotes ({value}), or give the path of a CSV file",))


# --- one-hot encodings too wide for memory -------------------------------------------------------------------

def test_a_one_hot_encoding_over_the_memory_limit_is_refused(project, monkeypatch):
    monkeypatch.setattr(preprocess, "MAX_FEATURE_BYTES", 100_000)
    frame = table(400)
    frame["id"] = [f"user{i}" for i in range(len(frame))]
    frame.to_csv("data/train.csv", index=False)
    fails("train", "config.yaml", expect=(
        "error: data/train.csv: column 'id': one-hot encoding its 300 distinct values makes the feature matrix "
        "300 rows x 305 columns (300 of them for this column) of float32: 357 KiB, over the limit of 97.7 KiB; "
        "leave the column out by listing the other columns in data.features",))
    with_config(replaced("target: label", "target: label\n  features: [x, y, colour]"))
    assert CliRunner().invoke(app, ["check", "config.yaml"]).exit_code == 0


def test_predict_refuses_a_matrix_over_the_limit(project, monkeypatch):
    monkeypatch.setattr(preprocess, "MAX_FEATURE_BYTES", 1000)
    table(200).to_csv("many.csv", index=False)
    fails("predict", "run", "many.csv", expect=("many.csv: column 'colour': one-hot encoding its 3 distinct values",
                                                "200 rows x 5 columns"))
