"""`nncli plot`: learning curves for several runs and a confusion matrix for classification runs with a test set;
without matplotlib the command names the install line. Also the run-directory reader it shares with compare."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.runview import flatten, read_run

pytest.importorskip("matplotlib")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A classification run with a test set (moons) and a regression run (friedman), a few epochs each."""
    root = tmp_path_factory.mktemp("runs")
    for name in ("moons", "friedman"):
        api.train(CONFIGS / f"{name}.yaml", out=root / name, overrides=["training.epochs=3"])
    return root


def test_plot_writes_curves_and_a_confusion_matrix_into_each_run(two_runs):
    result = CliRunner().invoke(app, ["plot", str(two_runs / "moons"), str(two_runs / "friedman")])
    assert result.exit_code == 0, result.output
    moons, friedman = two_runs / "moons", two_runs / "friedman"
    assert result.stdout.splitlines() == [f"wrote {moons / 'learning_curves.png'}",
                                          f"wrote {friedman / 'learning_curves.png'}",
                                          f"wrote {moons / 'confusion_matrix.png'}"]
    for file in (moons / "learning_curves.png", friedman / "learning_curves.png", moons / "confusion_matrix.png"):
        assert file.read_bytes().startswith(PNG)
    assert not (friedman / "confusion_matrix.png").exists()  # regression: no confusion matrix


def test_plot_into_a_directory_names_each_runs_matrix(two_runs, tmp_path):
    out = tmp_path / "plots"
    result = CliRunner().invoke(app, ["plot", str(two_runs / "moons"), str(two_runs / "friedman"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == ["confusion_matrix_moons.png", "learning_curves.png"]


def test_curves_one_panel_per_quantity_with_a_line_per_run(two_runs):
    from nncli.plot import curve_names, learning_curves, require_matplotlib

    views = [read_run(two_runs / "moons"), read_run(two_runs / "friedman")]
    assert curve_names(views) == ["loss", "accuracy", "auc", "rmse", "r2"]
    pyplot = require_matplotlib()
    figure = learning_curves(pyplot, views)
    loss = figure.axes[0]
    assert loss.get_title() == "loss" and loss.get_xlabel() == "epoch"
    solid = [line for line in loss.get_lines() if line.get_linestyle() == "-"]
    assert [list(line.get_xdata()) for line in solid] == [[1, 2, 3], [1, 2, 3]]  # epochs from 1, one per run
    pyplot.close(figure)


def test_without_matplotlib_the_install_line_is_named(two_runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(app, ["plot", str(two_runs / "moons")])
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: plot needs matplotlib: pip install "nncli[plot]"'


def test_a_directory_that_is_not_a_run_is_one_error_paragraph(tmp_path):
    result = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'metrics.csv'}: is missing")
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_flatten_uses_dotted_paths_as_set_takes_them():
    config = {"optimizer": {"lr": 0.1, "betas": [0.9, 0.999]}, "layers": [{"units": 8}, {"type": "dropout"}]}
    assert flatten(config) == {"optimizer.lr": 0.1, "optimizer.betas": [0.9, 0.999], "layers.0.units": 8,
                               "layers.1.type": "dropout"}


def test_plot_in_a_real_process(two_runs, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "nncli", "plot", str(two_runs / "friedman"), "-o", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "learning_curves.png").read_bytes().startswith(PNG)
