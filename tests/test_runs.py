"""Run-directory files: atomic writes, safe .npz reading, run directory naming."""

import json
import os
import re

import numpy as np
import pytest

from nncli import runs
from nncli.errors import ModelFileError, NncliError


def test_write_atomically_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "summary.json"
    runs.write_text(path, "old")

    def explode(stream):
        stream.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runs.write_atomically(path, explode)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["summary.json"]  # no temporary file left behind


def test_arrays_round_trip_without_pickle(tmp_path):
    arrays = {"layers.0.weight": np.arange(6.0).reshape(2, 3), "meta.config": runs.json_array({"a": [1, 2]})}
    runs.write_arrays(tmp_path / "m.npz", arrays)
    loaded = runs.read_arrays(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded["layers.0.weight"], arrays["layers.0.weight"])
    assert runs.from_json_array(loaded["meta.config"]) == {"a": [1, 2]}


def test_read_arrays_explains_missing_corrupt_truncated_and_pickled_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        runs.read_arrays(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match=re.escape("not a readable .npz")):
        runs.read_arrays(tmp_path / "text.npz")
    runs.write_arrays(tmp_path / "full.npz", {"a": np.arange(1000.0)})
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        runs.read_arrays(tmp_path / "cut.npz")
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="pickled"):
        runs.read_arrays(tmp_path / "pickled.npz")


def test_metrics_csv_orders_columns(tmp_path):
    history = [{"epoch": 0, "lr": 0.1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4,
                "seconds": 0.01}]
    runs.write_metrics_csv(tmp_path / "metrics.csv", history)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,lr,loss,val_loss,accuracy,val_accuracy,seconds"


def test_run_directories_are_never_reused(tmp_path):
    first = runs.choose_run_dir("moons", None, False, base=tmp_path)
    second = runs.choose_run_dir("moons", None, False, base=tmp_path)
    assert first.name == "moons" and second.name == "moons-2"


def test_out_with_a_model_is_refused_untouched(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"keep")
    with pytest.raises(NncliError, match="--resume"):
        runs.choose_run_dir("x", tmp_path, False)
    assert (tmp_path / "model.npz").read_bytes() == b"keep"
    with pytest.raises(NncliError, match=re.escape("no checkpoint.npz")):
        runs.choose_run_dir("x", tmp_path / "new", True)


def test_summary_json_is_plain_json(tmp_path):
    runs.write_json(tmp_path / "s.json", {"a": 1.5})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": 1.5}
