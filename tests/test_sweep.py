"""`nncli sweep`: sweep files checked like configs; grid, random and tpe trials, each a run directory; the
leaderboard best first, best.yaml trainable as is; failed trials recorded; resume; ASHA pruning; parallel jobs
give the same numbers."""

import json
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
from nncli.sweep.asha import milestones
from nncli.sweep.draw import yaml_text

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
name: tiny
seed: 0
data: {train: data/train.csv, target: label, valid: 0.25}
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 1, activation: sigmoid}
loss: binary_crossentropy
metrics: [accuracy]
optimizer: {type: adam, lr: 0.01}
training: {epochs: 4, batch_size: 16}
"""

SWEEP = """\
config: config.yaml
method: random
trials: 4
metric: val_loss
seed: 3
space:
  optimizer.lr: {loguniform: [1.0e-3, 1.0e-1]}
  layers.0.units: [4, 8]
  regularization.l2: {uniform: [0.0, 0.001]}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2)).round(4)
    (tmp_path / "data").mkdir()
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "label": np.where(x.sum(1) > 0, "b", "a")}).to_csv(
        tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def leaderboard(path: Path) -> pd.DataFrame:
    return pd.read_csv(path / "leaderboard.csv")


def test_random_sweep_writes_trials_leaderboard_best_and_summary(project):
    result = api.sweep("sweep.yaml", jobs=1)
    sweep_dir = project / "runs" / "sweep"
    assert result.sweep_dir == sweep_dir and not result.interrupted
    board = leaderboard(sweep_dir)
    assert list(board.columns) == ["trial", "optimizer.lr", "layers.0.units", "regularization.l2", "val_loss",
                                   "status", "seconds"]
    assert sorted(board["trial"]) == [0, 1, 2, 3] and list(board["val_loss"]) == sorted(board["val_loss"])
    best = result.best
    assert best["trial"] == board["trial"][0]
    trial_summary = json.loads((sweep_dir / "trials" / str(best["trial"]) / "summary.json").read_text())
    assert best["metric"] == trial_summary["best"]["val_loss"]
    trained = api.train(sweep_dir / "best.yaml", out=project / "again")  # best.yaml trains as it is, anywhere
    assert trained.summary["best"]["val_loss"] == best["metric"]
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["best"]["trial"] == best["trial"]
    assert len(summary["trials"]) == 4 and summary["sweep"]["mode"] == "min"
    lr = [record["values"]["optimizer.lr"] for record in summary["trials"]]
    assert all(1e-3 <= value <= 1e-1 for value in lr) and len(set(lr)) == 4


def test_parallel_jobs_and_a_second_run_draw_the_same_trials_and_numbers(project):
    one = api.sweep("sweep.yaml", out="one", jobs=1)
    two = api.sweep("sweep.yaml", out="two", jobs=2)
    strip = ["trial", "optimizer.lr", "layers.0.units", "regularization.l2", "val_loss", "status"]
    assert leaderboard(project / "one")[strip].equals(leaderboard(project / "two")[strip])
    assert one.best["values"] == two.best["values"]


def test_grid_runs_every_combination_and_a_bad_value_fails_only_its_trial(project):
    (project / "grid.yaml").write_text("config: config.yaml\nmethod: grid\nspace:\n"
                                       "  layers.0.units: [4, -1]\n  training.batch_size: {int: [15, 16]}\n")
    result = api.sweep("grid.yaml", jobs=1)
    records = {record["trial"]: record for record in result.trials}
    assert [records[k]["values"] for k in range(4)] == [
        {"layers.0.units": 4, "training.batch_size": 15}, {"layers.0.units": 4, "training.batch_size": 16},
        {"layers.0.units": -1, "training.batch_size": 15}, {"layers.0.units": -1, "training.batch_size": 16}]
    assert [records[k]["status"] for k in range(4)] == ["ok", "ok", "failed", "failed"]
    assert "layers[0].units" in records[2]["error"]
    assert list(leaderboard(result.sweep_dir)["status"]) == ["ok", "ok", "failed", "failed"]


def test_an_interrupted_sweep_resumes_without_rerunning_finished_trials(project):
    finished = []
    result = api.sweep("sweep.yaml", jobs=1, should_stop=lambda: len(finished) >= 2,
                       on_trial=lambda record, board: finished.append(record["trial"]))
    assert result.interrupted and finished == [0, 1]
    first = (project / "runs" / "sweep" / "trials" / "0" / "model.npz").read_bytes()
    again = []
    resumed = api.sweep("sweep.yaml", out="runs/sweep", resume=True, jobs=1,
                        on_trial=lambda record, board: again.append(record["trial"]))
    assert again == [2, 3] and not resumed.interrupted
    assert (project / "runs" / "sweep" / "trials" / "0" / "model.npz").read_bytes() == first
    whole = api.sweep("sweep.yaml", out="whole", jobs=1)
    assert [r["metric"] for r in resumed.trials] == [r["metric"] for r in whole.trials]


def test_asha_prunes_trials_worse_than_the_rung_quantile(project):
    (project / "asha.yaml").write_text(
        "config: config.yaml\nmethod: grid\nprune: asha\nmetric: val_loss\n"
        "space:\n  optimizer.lr: [0.05, 0.02, 0.0001, 0.00001]\n  training.epochs: [10]\n")
    assert milestones(10) == [1, 3, 9]
    result = api.sweep("asha.yaml", jobs=1)
    status = {record["trial"]: record["status"] for record in result.trials}
    assert status[0] == "ok" and "pruned" in (status[2], status[3])
    rungs = json.loads((result.sweep_dir / "asha.json").read_text())
    assert set(rungs) <= {"1", "3", "9"} and len(rungs["1"]) == 4


def test_tpe_without_optuna_names_the_install_command(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    (project / "tpe.yaml").write_text(SWEEP.replace("method: random", "method: tpe"))
    result = CliRunner().invoke(app, ["sweep", "tpe.yaml"])
    assert result.exit_code == 2 and 'pip install "nncli[tune]"' in result.stderr, result.stderr
    assert not (project / "runs").exists()


def test_tpe_sweep_when_optuna_is_installed(project):
    pytest.importorskip("optuna")
    (project / "tpe.yaml").write_text(SWEEP.replace("method: random", "method: tpe"))
    result = api.sweep("tpe.yaml", jobs=1)
    assert sorted(record["trial"] for record in result.trials) == [0, 1, 2, 3]
    assert all(record["status"] == "ok" for record in result.trials)


@pytest.mark.parametrize("line, expect", [
    ("  optimizer.lrr: [0.1]", "sweep.yaml:10: space['optimizer.lrr']: unknown config path 'optimizer.lrr'; "
                               "did you mean 'optimizer.lr'?"),
    ("  layers.5.units: [4]", "sweep.yaml:10: space['layers.5.units']: unknown config path"),
    ("  optimizer.eps: {uniform: [0.1, 0.01]}", "sweep.yaml:10: space['optimizer.eps']: uniform: low (0.1) is "
                                                "greater than high (0.01)"),
    ("  optimizer.eps: {loguniform: [0.0, 0.1]}", "loguniform needs low > 0"),
    ("  optimizer.eps: {normal: [0.0, 0.1]}", "unknown kind 'normal'"),
    ("  optimizer.eps: []", "choice needs a non-empty list"),
])
def test_bad_sweep_files_point_at_the_line(project, line, expect):
    (project / "sweep.yaml").write_text(SWEEP + line + "\n")
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: ") and expect in result.stderr, result.stderr
    assert not (project / "runs").exists()


@pytest.mark.parametrize("text, expect", [
    (SWEEP.replace("metric: val_loss", "metric: val_acuracy"), "sweep.yaml:4: metric: 'val_acuracy' is not a "
                                                               "metrics.csv column"),
    (SWEEP.replace("method: random", "method: grid"), "method grid needs values to list"),
    (SWEEP.replace("trials: 4", "trails: 4"), "unknown key 'trails'; did you mean 'trials'?"),
    (SWEEP.replace("config: config.yaml", "config: nothere.yaml"), "nothere.yaml: config file not found"),
])
def test_bad_sweep_settings(project, text, expect):
    (project / "sweep.yaml").write_text(text)
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml"])
    assert result.exit_code == 2 and expect in result.stderr, result.stderr


def test_yaml_text_reads_back_as_the_same_value():
    import yaml

    for value in (1e-05, 0.001, 3, "relu", [16, 8], 2.5e+20, True):
        assert yaml.safe_load(yaml_text(value)) == value


def test_cli_plain_lines_and_json(project):
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml", "--jobs", "1"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == ["trial 0", "trial 1", "trial 2", "trial 3"]
    assert lines[-1].startswith("best: trial ") and "best.yaml" in lines[-1]
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml", "--jobs", "1", "--json", "--out", "j"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "finished"


def test_sweep_with_folds_ranks_by_the_mean_over_folds(project):
    (project / "cv.yaml").write_text(SWEEP.replace("trials: 4", "trials: 2") + "folds: 2\n")
    result = api.sweep("cv.yaml", jobs=1)
    for record in result.trials:
        assert record["metric"] == pytest.approx(np.mean(record["folds"]))
        assert (Path(record["run_dir"]) / "cv.json").is_file()


def test_sweep_in_a_real_process(project):
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "sweep", "sweep.yaml", "--jobs", "2", "--json"],
                          capture_output=True, text=True, env=environment, timeout=180)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["jobs"] == 2 and len(summary["trials"]) == 4
    assert (project / "runs" / "sweep" / "best.yaml").is_file()


def test_sigterm_stops_the_workers_with_checkpoints_and_resume_finishes(project):
    """SIGTERM: running trials stop at a batch with their checkpoint (exit 143, a --resume hint); --resume runs
    the rest and continues the stopped trials from their checkpoints."""
    import signal
    import time

    (project / "slow.yaml").write_text(SWEEP.replace("trials: 4", "trials: 3") + "  training.epochs: [400]\n")
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "nncli", "sweep", "slow.yaml", "--jobs", "2", "--out", "slow"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.monotonic() + 60
    while not list((project / "slow" / "trials").glob("*/checkpoint.npz")) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    summary = json.loads((project / "slow" / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert {record["status"] for record in summary["trials"]} <= {"interrupted", "ok"}
    done = subprocess.run([*command, "--resume", "--json"], capture_output=True, text=True, env=environment,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert [record["status"] for record in json.loads(done.stdout)["trials"]] == ["ok", "ok", "ok"]


def test_the_example_sweep_beats_the_hand_written_config(tmp_path):
    """configs/moons-sweep.yaml's best trial has a lower val_loss than configs/moons.yaml."""
    base = api.train(REPO / "configs" / "moons.yaml", out=tmp_path / "base")
    result = api.sweep(REPO / "configs" / "moons-sweep.yaml", out=tmp_path / "sweep", jobs=2)
    assert result.best["metric"] < base.summary["best"]["val_loss"]


def test_ray_executor_without_ray_names_the_install_command(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml", "--executor", "ray"])
    assert result.exit_code == 2 and 'pip install "nncli[ray]"' in result.stderr, result.stderr
    assert not (project / "runs").exists()
    result = CliRunner().invoke(app, ["sweep", "sweep.yaml", "--executor", "dask"])
    assert result.exit_code == 2 and "--executor: must be local or ray" in result.stderr, result.stderr


def test_an_oversized_sweep_file_is_refused_unread(tmp_path):
    from nncli.errors import ConfigError
    from nncli.sweep.spec import load_sweep

    path = tmp_path / "big.yaml"
    path.write_text("config: moons.yaml\n" + "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=r"big.yaml: the file is \d+ bytes; configs are limited to 1 MiB"):
        load_sweep(path)
