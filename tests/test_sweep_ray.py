"""`--executor ray`: the same trials and the same numbers as the local executor, on a local Ray
(`ray.init(num_cpus=2)`); results written into the sweep directory. Skipped when Ray is not installed."""

import json
from pathlib import Path

import pandas as pd
import pytest

from nncli import api

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")

REPO = Path(__file__).resolve().parents[1]

CONFIG = f"""\
name: xor
seed: 0
data: {{train: {REPO / "configs" / "data" / "xor.csv"}, target: label, valid: null}}
layers:
  - {{type: dense, units: 4, activation: tanh}}
  - {{type: dense, units: 1, activation: sigmoid}}
loss: binary_crossentropy
metrics: [accuracy]
optimizer: {{type: adam, lr: 0.01}}
training: {{epochs: 12, batch_size: 2}}
"""


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_grid_and_random_sweeps_agree_across_executors_and_asha_prunes(project, local_ray):
    (project / "grid.yaml").write_text("config: config.yaml\nmethod: grid\nmetric: loss\nspace:\n"
                                       "  optimizer.lr: [0.01, 0.1]\n  layers.0.units: [3]\n")
    (project / "random.yaml").write_text("config: config.yaml\nmethod: random\ntrials: 2\nmetric: loss\nseed: 4\n"
                                         "space:\n  optimizer.lr: {loguniform: [1.0e-3, 1.0e-1]}\n")
    for name in ("grid", "random"):
        on_ray = api.sweep(f"{name}.yaml", out=f"{name}-ray", executor="ray", jobs=2)
        local = api.sweep(f"{name}.yaml", out=f"{name}-local", jobs=2)
        board_ray, board_local = (pd.read_csv(project / f"{name}-{where}" / "leaderboard.csv").drop(columns="seconds")
                                  for where in ("ray", "local"))
        assert board_ray.equals(board_local), (board_ray, board_local)
        assert on_ray.best["values"] == local.best["values"]
        summary = json.loads((project / f"{name}-ray" / "summary.json").read_text())
        assert summary["executor"] == "ray" and summary["status"] == "finished"
        for record in summary["trials"]:  # each trial's run directory is in the sweep directory
            assert (Path(record["run_dir"]) / "model.npz").is_file()
            assert Path(record["run_dir"]).parent == (project / f"{name}-ray" / "trials").resolve()
    (project / "asha.yaml").write_text("config: config.yaml\nmethod: grid\nmetric: loss\nprune: asha\nspace:\n"
                                       "  optimizer.lr: [0.3, 0.1, 0.00001, 0.000001]\n")
    result = api.sweep("asha.yaml", out="asha-ray", executor="ray", jobs=2)
    statuses = [record["status"] for record in result.trials]
    assert "pruned" in statuses and statuses[0] == "ok", statuses
