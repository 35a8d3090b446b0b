"""Signals through a real `python -m nncli train` process, on a run that takes a few seconds.

SIGINT mid-epoch and SIGTERM stop at the next batch with a checkpoint and a one-line `--resume` hint (exit 130 and
143); SIGKILL at an arbitrary moment leaves the last checkpoint; each resumed run ends with a model.npz whose every
array is bit-identical to the run that was never interrupted. A second SIGINT stops at once, leaving the
checkpoint as it was.

The four training runs and the three resumes each run side by side to keep the test time down. Each process gets
one BLAS thread: they share the machine, and the thread count is part of what makes results bit-identical.
"""

import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 12

CONFIG = f"""\
name: big
seed: 3
data: {{train: big.csv, target: target, valid: 0.1}}
layers:
  - {{type: dense, units: 64, activation: relu}}
  - {{type: batchnorm}}
  - {{type: dropout, rate: 0.1}}
  - {{type: dense, units: 64, activation: tanh}}
  - {{type: dense, units: 1}}
loss: mse
metrics: [r2]
optimizer: {{type: adam, lr: 0.001}}
schedule: {{type: exponential, decay: 0.05}}
regularization: {{l2: 0.0001}}
training:
  epochs: {EPOCHS}
  batch_size: 32
  early_stopping: {{monitor: val_loss, patience: 20, restore_best: true}}
"""

# Few long batches of small matrix products: a batch lasts long enough for two signals, one product does not.
WIDE = """\
name: wide
seed: 0
data: {train: big.csv, target: target, valid: null}
layers:
""" + "  - {type: dense, units: 1024, activation: relu}\n" * 6 + """\
  - {type: dense, units: 1}
loss: mse
optimizer: {type: sgd, lr: 0.0001}
training: {epochs: 1, batch_size: 1024}
"""


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


class Run:
    """One `nncli` process with its output in files (pipes could fill up and block it)."""

    def __init__(self, root: Path, *args: str):
        self.root, self.name = root, args[args.index("--out") + 1]
        self.stdout, self.stderr = root / f"{self.name}.out", root / f"{self.name}.err"
        command = args[1:] if args[0] == "nncli" else args
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "nncli", *command], cwd=root, stdout=out,
                                            stderr=err, stdin=subprocess.DEVNULL, env=environment())

    @property
    def run_dir(self) -> Path:
        return self.root / self.name

    def wait(self) -> int:
        return self.process.wait(timeout=120)

    def error_text(self) -> str:
        return self.stderr.read_text()

    def epochs_saved(self) -> list[dict]:
        """The rows of metrics.csv (written with each checkpoint)."""
        try:
            with open(self.run_dir / "metrics.csv", newline="") as stream:
                return list(csv.DictReader(stream))
        except FileNotFoundError:
            return []

    def signal_mid_epoch(self, number: int, after_epochs: int, fraction: float) -> None:
        """Send a signal `fraction` of an epoch after a checkpoint holding at least `after_epochs` epochs."""
        deadline = time.monotonic() + 60
        while len(rows := self.epochs_saved()) < after_epochs:
            assert self.process.poll() is None, f"{self.name} ended early: {self.error_text()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(fraction * float(rows[-1]["seconds"]))
        self.process.send_signal(number)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def assert_same_model(reference: Path, run_dir: Path) -> None:
    a, b = read_npz(reference / "model.npz"), read_npz(run_dir / "model.npz")
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), f"{key} differs"


def without_seconds(rows: list[dict]) -> list[dict]:
    return [{key: value for key, value in row.items() if key != "seconds"} for row in rows]


def resume_hint(stderr: str) -> list[str]:
    """The one-line hint's command, to be run as it is printed."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("interrupted (stopped at epoch "), stderr
    command = shlex.split(lines[0].split("continue with: ", 1)[1])
    assert command[:2] == ["nncli", "train"] and command[-1] == "--resume", command
    return command


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 8))
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.1 * rng.normal(size=20000)
    frame = pd.DataFrame(x.round(5), columns=[f"x{i}" for i in range(8)])
    frame["target"] = y.round(5)
    frame.to_csv(root / "big.csv", index=False)
    (root / "big.yaml").write_text(CONFIG)
    (root / "wide.yaml").write_text(WIDE)
    return root


@pytest.fixture(scope="module")
def interrupted(project) -> dict:
    """An uninterrupted run, and runs cut by SIGKILL, SIGINT and SIGTERM, then resumed (side by side)."""
    runs = {name: Run(project, "train", "big.yaml", "--out", name, "--quiet")
            for name in ("whole", "killed", "sigint", "sigterm")}
    runs["killed"].signal_mid_epoch(signal.SIGKILL, after_epochs=2, fraction=0.5)
    runs["sigint"].signal_mid_epoch(signal.SIGINT, after_epochs=3, fraction=0.4)
    runs["sigterm"].signal_mid_epoch(signal.SIGTERM, after_epochs=1, fraction=0.5)
    codes = {name: run.wait() for name, run in runs.items()}
    cut = {name: read_npz(project / name / "checkpoint.npz") for name in ("killed", "sigint", "sigterm")}
    files = {name: sorted(os.listdir(project / name)) for name in cut}
    errors = {name: runs[name].error_text() for name in cut}
    resumed = {name: Run(project, *resume_hint(errors[name])) for name in ("sigint", "sigterm")}
    resumed["killed"] = Run(project, "train", "big.yaml", "--out", "killed", "--resume", "--quiet")
    resumed_codes = {name: run.wait() for name, run in resumed.items()}
    return {"codes": codes, "checkpoints": cut, "files": files, "errors": errors, "resumed": resumed_codes,
            "resumed_errors": {name: run.error_text() for name, run in resumed.items()}, "runs": runs}


def assert_resumed_like_the_whole_run(project: Path, interrupted: dict, name: str) -> None:
    assert interrupted["codes"]["whole"] == 0
    assert interrupted["resumed"][name] == 0, interrupted["resumed_errors"][name]
    assert_same_model(project / "whole", project / name)
    whole, resumed = interrupted["runs"]["whole"].epochs_saved(), interrupted["runs"][name].epochs_saved()
    assert without_seconds(resumed) == without_seconds(whole)
    assert [int(row["epoch"]) for row in resumed] == list(range(EPOCHS))
    assert sorted(os.listdir(project / name)) == sorted(os.listdir(project / "whole"))  # no temporary files


def test_sigkill_at_an_arbitrary_moment_then_resume_is_bit_identical(project, interrupted):
    assert interrupted["codes"]["killed"] == -signal.SIGKILL
    checkpoint = interrupted["checkpoints"]["killed"]
    assert 2 <= int(checkpoint["state.epoch"]) < EPOCHS  # work after the last checkpoint is lost, and redone
    assert "model.npz" not in interrupted["files"]["killed"]
    assert_resumed_like_the_whole_run(project, interrupted, "killed")


def test_sigint_mid_epoch_saves_exits_130_and_resumes_bit_identically(project, interrupted):
    assert interrupted["codes"]["sigint"] == 130, interrupted["errors"]["sigint"]
    checkpoint = interrupted["checkpoints"]["sigint"]
    epoch, batch = int(checkpoint["state.epoch"]), int(checkpoint["state.batch"])
    assert 3 <= epoch < EPOCHS and batch > 0  # mid-epoch
    assert interrupted["errors"]["sigint"] == (
        f"interrupted (stopped at epoch {epoch + 1}/{EPOCHS}, batch {batch + 1}/563): checkpoint saved; continue "
        "with: nncli train big.yaml --out sigint --resume\n")
    assert "model.npz" not in interrupted["files"]["sigint"]
    assert_resumed_like_the_whole_run(project, interrupted, "sigint")


def test_sigterm_saves_exits_143_and_resumes_bit_identically(project, interrupted):
    assert interrupted["codes"]["sigterm"] == 143, interrupted["errors"]["sigterm"]
    assert interrupted["errors"]["sigterm"].startswith("interrupted (stopped at epoch ")
    assert int(interrupted["checkpoints"]["sigterm"]["state.epoch"]) >= 1
    assert_resumed_like_the_whole_run(project, interrupted, "sigterm")


def test_a_second_sigint_stops_at_once_leaving_the_checkpoint_intact(project):
    run = Run(project, "train", "wide.yaml", "--out", "twice")
    checkpoint = run.run_dir / "checkpoint.npz"
    deadline = time.monotonic() + 60
    while not checkpoint.exists():  # written (renamed into place) just before the first batch
        assert run.process.poll() is None and time.monotonic() < deadline, run.error_text()
        time.sleep(0.002)
    saved = checkpoint.read_bytes()
    time.sleep(0.05)
    # The first SIGINT asks for a stop after this batch; the next ones (two could merge into one) stop at once.
    for _ in range(50):
        if run.process.poll() is not None:
            break
        run.process.send_signal(signal.SIGINT)
        time.sleep(0.03)
    assert run.wait() == 130
    assert run.error_text() == ("error: interrupted at once; continue from the last checkpoint with: nncli train "
                                "wide.yaml --out twice --resume\n")
    assert checkpoint.read_bytes() == saved
    assert sorted(os.listdir(run.run_dir)) == [".nncli-run", "checkpoint.npz", "config.yaml", "metrics.csv"]
    assert int(read_npz(checkpoint)["state.batch"]) == 0
