"""Exact resume, in process: a run stopped at any batch and resumed ends bit-identical to one never stopped, its
history continues, a changed config or changed data is refused with the differences listed, and raising
training.epochs continues like a longer run. Same config and seed: bit-identical model.npz.

The signals (SIGINT, SIGTERM, SIGKILL) through a real process are in test_signals.py."""

import csv
import json
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import StopRequests, app
from nncli.train import Interrupted

CONFIG = """\
name: animals
seed: 4
data:
  train: data/train.csv
  target: label
  valid: 0.2
layers:
  - {type: dense, units: 12, activation: relu}
  - {type: batchnorm}
  - {type: dropout, rate: 0.2}
  - {type: dense, units: 3, activation: softmax}
loss: categorical_crossentropy
metrics: [accuracy, f1]
optimizer: {type: adam, lr: 0.02}
schedule: {type: plateau, monitor: val_loss, patience: 1, factor: 0.5}
regularization: {l2: 0.001}
training:
  epochs: 6
  batch_size: 16
  early_stopping: {monitor: val_loss, patience: 4, restore_best: true}
"""
BATCHES = 8  # 120 training rows (150 less the 20% held out) in batches of 16


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(11)
    label = rng.integers(0, 3, size=150)
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 1.5]])
    points = centres[label] + rng.normal(scale=0.6, size=(150, 2))
    (tmp_path / "data").mkdir()
    pd.DataFrame({"a": points[:, 0].round(4), "b": points[:, 1].round(4),
                  "size": np.array(["S", "M", "L"])[rng.integers(0, 3, size=150)],
                  "label": np.array(["ant", "bee", "cat"])[label]}).to_csv(tmp_path / "data" / "train.csv",
                                                                           index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def assert_same_arrays(first: Path, second: Path) -> None:
    a, b = read_npz(first), read_npz(second)
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), f"{key} differs"


def metrics_without_seconds(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as stream:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(stream)]


class StopAfter:
    """`should_stop` and `on_batch` callbacks that ask to stop once `batches` batches have run."""

    def __init__(self, batches: int):
        self.batches, self.done = batches, 0

    def __call__(self) -> bool:
        return self.done >= self.batches

    def on_batch(self, index: int) -> None:
        self.done += 1


def stopped(out: str, batches: int, resume: bool = False) -> None:
    """Train into `out` (resuming when asked) and stop after `batches` more batches."""
    stop = StopAfter(batches)
    with pytest.raises(Interrupted, match=r"stopped at epoch \d+/\d+, batch \d/8"):
        api.train("config.yaml", out=out, resume=resume, should_stop=stop, on_batch=stop.on_batch)


def test_same_config_and_seed_give_a_bit_identical_model(project):
    api.train("config.yaml", out="first")
    api.train("config.yaml", out="second")
    assert_same_arrays(Path("first/model.npz"), Path("second/model.npz"))
    assert metrics_without_seconds(Path("first")) == metrics_without_seconds(Path("second"))


@pytest.mark.parametrize("batches", [0, 3, BATCHES, 2 * BATCHES + 5, 6 * BATCHES - 1])
def test_resume_after_a_stop_at_any_batch_is_bit_identical(project, batches):
    reference = api.train("config.yaml", out="reference")
    stopped("cut", batches)
    checkpoint = read_npz(Path("cut/checkpoint.npz"))
    assert (int(checkpoint["state.epoch"]), int(checkpoint["state.batch"])) == divmod(batches, BATCHES)
    assert not Path("cut/model.npz").exists()
    resumed = api.train("config.yaml", out="cut", resume=True)
    assert_same_arrays(Path("reference/model.npz"), Path("cut/model.npz"))
    assert metrics_without_seconds(Path("cut")) == metrics_without_seconds(Path("reference"))
    assert [row["epoch"] for row in metrics_without_seconds(Path("cut"))] == [str(e) for e in range(6)]
    summary = json.loads(Path("cut/summary.json").read_text())
    expected = {key: value for key, value in reference.summary.items() if key not in ("run_dir", "wall_seconds")}
    assert {key: value for key, value in summary.items() if key not in ("run_dir", "wall_seconds")} == expected
    assert summary["epochs_run"] == 6 and resumed.summary["wall_seconds"] > 0


def test_a_resume_can_be_interrupted_and_resumed_again(project):
    api.train("config.yaml", out="reference")
    for batches in (5, 11, 8):
        stopped("cut", batches, resume=Path("cut").exists())
    assert int(read_npz(Path("cut/checkpoint.npz"))["state.epoch"]) == 3
    api.train("config.yaml", out="cut", resume=True)
    assert_same_arrays(Path("reference/model.npz"), Path("cut/model.npz"))


def test_raising_epochs_continues_like_a_longer_run(project):
    api.train("config.yaml", out="long", overrides=["training.epochs=9"])
    api.train("config.yaml", out="short")
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "short", "--resume", "--quiet",
                                      "--set", "training.epochs=9"])
    assert result.exit_code == 0, result.stderr
    assert_same_arrays(Path("long/model.npz"), Path("short/model.npz"))
    rows = metrics_without_seconds(Path("short"))
    assert rows == metrics_without_seconds(Path("long"))
    assert [row["epoch"] for row in rows] == [str(e) for e in range(len(rows))]
    assert json.loads(Path("short/summary.json").read_text())["epochs_run"] == len(rows)
    assert "epochs: 9" in Path("short/config.yaml").read_text()


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
            for path in sorted(root.rglob("*"))}


@pytest.mark.parametrize("overrides, expected", [
    (["layers.0.units=16"], "layers.0.units: 12 -> 16"),
    (["layers.2.rate=0.3", "optimizer.lr=0.01"], "layers.2.rate: 0.2 -> 0.3; optimizer.lr: 0.02 -> 0.01"),
    (["optimizer.type=sgd"], "optimizer.type: 'adam' -> 'sgd'"),
    (["data.scale=minmax"], "data.scale: 'standard' -> 'minmax'"),
    (["data.valid=0.3"], "data.valid: 0.2 -> 0.3"),
    (["seed=5"], "seed: 4 -> 5"),
    (["training.batch_size=8"], "training.batch_size: 16 -> 8"),
])
def test_resume_refuses_a_changed_config_listing_the_differences(project, overrides, expected):
    stopped("cut", 10)
    before = snapshot(project)
    arguments = ["train", "config.yaml", "--out", "cut", "--resume"]
    for override in overrides:
        arguments += ["--set", override]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 2, result.stderr
    message = result.stderr
    assert message.startswith("error: cut/checkpoint.npz: --resume refuses a changed config") and \
        "\n" not in message.strip(), message
    assert "only training.epochs may change" in message and expected in message
    assert snapshot(project) == before


def test_resume_refuses_changed_data(project):
    stopped("cut", 10)
    frame = pd.read_csv("data/train.csv")
    frame.loc[7, "a"] += 1.0
    frame.to_csv("data/train.csv", index=False)
    before = snapshot(project)
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "cut", "--resume"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cut/checkpoint.npz: --resume refuses changed data")
    assert snapshot(project) == before


def test_resume_refuses_fewer_epochs_than_already_run(project):
    stopped("cut", 3 * BATCHES + 2)
    before = snapshot(project)
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "cut", "--resume", "--set",
                                      "training.epochs=3"])
    assert result.exit_code == 2
    assert "already run 3 epochs and 2 batches, more than training.epochs = 3" in result.stderr
    assert "may only be raised" in result.stderr
    assert snapshot(project) == before


def test_resume_refuses_a_damaged_checkpoint(project):
    stopped("cut", 4)
    arrays = read_npz(Path("cut/checkpoint.npz"))
    del arrays["state.history"]
    with open("cut/checkpoint.npz", "wb") as stream:
        np.savez(stream, **arrays)
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "cut", "--resume"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cut/checkpoint.npz: is not a complete nncli checkpoint")
    Path("cut/checkpoint.npz").write_bytes(b"PK\x03\x04 torn")
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "cut", "--resume"])
    assert result.exit_code == 2 and result.stderr.startswith("error: cut/checkpoint.npz: is not a readable .npz")


def test_stale_temporary_files_are_removed_on_resume(project):
    stopped("cut", 4)
    Path("cut/.checkpoint.npz.abc123.tmp").write_bytes(b"half a checkpoint")
    api.train("config.yaml", out="cut", resume=True)
    assert sorted(p.name for p in Path("cut").iterdir()) == [".nncli-run", "checkpoint.npz", "config.yaml",
                                                             "metrics.csv", "model.npz", "summary.json"]


def test_stop_requests_with_real_signals():
    stops = StopRequests()
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with stops.installed():
            signal.raise_signal(signal.SIGTERM)
            assert stops() and stops.signal_number == signal.SIGTERM
            signal.raise_signal(signal.SIGTERM)  # a second SIGTERM changes nothing
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)  # a second Ctrl-C stops at once
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # more Ctrl-C cannot garble the exit message
        signal.signal(signal.SIGINT, handlers[signal.SIGINT])
        fresh = StopRequests()
        with fresh.installed():
            signal.raise_signal(signal.SIGINT)
            assert fresh.signal_number == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) == handlers[signal.SIGINT]
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
