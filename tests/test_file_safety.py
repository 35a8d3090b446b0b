"""predict and train never destroy a file nncli did not write.

`predict -o` never replaces its data, its model, a run's files, a read-only file, a symbolic link or a special
file (`-` and `/dev/stdout` are standard output); `train --out` takes only a new or empty directory, or with
`--resume` a directory nncli marked as its run; two trains never share a run directory, whatever the timing.
Each refusal: exit 2, one `error:` paragraph naming the file, no traceback, every file's bytes and mode as they
were. A closed standard output stops train's printing, not the run; predict then ends with one error line.
"""

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from nncli import api, runs
from nncli.cli import app
from nncli.console import GuardedStdout
from nncli.errors import NncliError

REPO = Path(__file__).resolve().parents[1]
RUN_FILES = {*runs.RUN_FILES, runs.RUN_MARKER}
LONG_EPOCHS = 100000  # far longer than the test: the run is killed

CONFIG = """\
name: tiny
seed: 0
data: {train: data/train.csv, target: label, valid: 0.25}
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dense, units: 1, activation: sigmoid}
loss: binary_crossentropy
optimizer: {type: adam, lr: 0.01}
training: {epochs: 3, batch_size: 8}
"""


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=rows).round(4), rng.normal(size=rows).round(4)
    return pd.DataFrame({"x": x, "y": y, "label": np.where(x + y > 0, "b", "a")})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    (root / "data").mkdir()
    table(40).to_csv(root / "data" / "train.csv", index=False)
    (root / "config.yaml").write_text(CONFIG)
    api.train(root / "config.yaml", out=root / "run")
    return root / "run"


@pytest.fixture
def project(tmp_path, monkeypatch, trained):
    """A user's folder: a config, its data, a CSV to predict on and a copy of a trained run."""
    (tmp_path / "data").mkdir()
    table(40).to_csv(tmp_path / "data" / "train.csv", index=False)
    (tmp_path / "config.yaml").write_text(CONFIG)
    shutil.copytree(trained, tmp_path / "run")
    table(12, seed=5).to_csv(tmp_path / "new.csv", index=False)
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def writes_stay_in_the_test_folders(monkeypatch, tmp_path_factory):
    """A regression must fail a test, not replace the machine's /dev/null or /dev/stderr (tests may run as root)."""
    allowed, write = tmp_path_factory.getbasetemp().resolve(), runs.write_atomically

    def guarded(path, *args):
        assert Path(path).parent.resolve().is_relative_to(allowed), f"nncli was about to replace {path}"
        return write(path, *args)

    monkeypatch.setattr(runs, "write_atomically", guarded)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: its kind and mode, with a file's bytes and a link's target."""
    entries = {}
    for path in sorted(root.rglob("*")):
        mode = os.lstat(path).st_mode
        content = path.read_bytes() if stat.S_ISREG(mode) else os.readlink(path) if stat.S_ISLNK(mode) else None
        entries[str(path.relative_to(root))] = (stat.S_IFMT(mode), stat.S_IMODE(mode), content)
    return entries


def assert_one_error_paragraph(stderr: str) -> None:
    assert stderr.startswith("error: "), stderr
    assert stderr.endswith("\n") and "\n" not in stderr.rstrip("\n"), stderr
    assert "Traceback" not in stderr, stderr


def fails(*args: str, expect: tuple[str, ...], code: int = 2) -> str:
    """Run the CLI, assert a clean failure that changed nothing in the folder, and return the message."""
    root = Path.cwd()
    before = snapshot(root)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        result.exception
    assert result.stdout == ""
    assert_one_error_paragraph(result.stderr)
    for text in expect:
        assert text in result.stderr, f"{text!r} not in {result.stderr!r}"
    assert snapshot(root) == before, "a file was created or changed"
    return result.stderr


def succeeds(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


# --- predict -o ----------------------------------------------------------------------------------------------

VALID = "the output must be a new file or a regular file, or - (or /dev/stdout) for standard output"


def made(name: str, make) -> str:
    make(name)
    return name


def bind_socket(name: str) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(name)
    server.close()  # the socket file stays


def own_file(name: str) -> None:
    Path(name).write_text("mine\n")


def read_only_file(name: str) -> None:
    own_file(name)
    os.chmod(name, 0o444)


def make_symlink(target: str) -> str:
    return made("link.csv", lambda name: os.symlink(target, name))


OUTPUT_CASES = {
    "the data file": (lambda: "new.csv", ["new.csv: is the data file 'new.csv': nncli never writes over its inputs"]),
    "the data file spelt otherwise": (lambda: os.path.abspath("new.csv"), ["/new.csv: is the data file 'new.csv'"]),
    "a hard link to the data": (lambda: made("same.csv", lambda name: os.link("new.csv", name)),
                                ["same.csv: is the data file 'new.csv'"]),
    "the model file": (lambda: "run/model.npz", ["run/model.npz: is the model file 'run/model.npz'"]),
    "another file of the run": (lambda: "run/config.yaml", ["run/config.yaml: is a file of an nncli run directory"]),
    "a link to standard output": (lambda: make_symlink("/proc/self/fd/1"),
                                  ["link.csv: is a symbolic link (to '/proc/self/fd/1')", VALID]),
    "a link to a regular file": (lambda: made("kept.csv", own_file) and make_symlink("kept.csv"),
                                 ["link.csv: is a symbolic link (to 'kept.csv')", "replace the link"]),
    "a dangling link": (lambda: make_symlink("elsewhere.csv"), ["link.csv: is a symbolic link", VALID]),
    "a device": (lambda: "/dev/null", ["/dev/null: is a character device, not a regular file", VALID]),
    "/dev/stderr": (lambda: "/dev/stderr", ["/dev/stderr: is a symbolic link", VALID]),
    "a FIFO": (lambda: made("fifo.csv", os.mkfifo), ["fifo.csv: is a named pipe (FIFO), not a regular file", VALID]),
    "a socket": (lambda: made("socket.csv", bind_socket), ["socket.csv: is a socket, not a regular file", VALID]),
    "a read-only file": (lambda: made("kept.csv", read_only_file), ["kept.csv: is read-only"]),
    "a directory": (lambda: "data", ["data: is a directory"]),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_predict_refuses_an_output_it_must_not_replace(project, case):
    make, expected = OUTPUT_CASES[case]
    output = make()
    fails("predict", "run", "new.csv", "-o", output, expect=tuple(expected))


def test_the_model_given_as_a_file_is_protected_under_any_name(project):
    fails("predict", "run/model.npz", "new.csv", "-o", "run/../run/model.npz",
          expect=("run/../run/model.npz: is the model file 'run/model.npz'",))


def test_the_output_is_checked_before_any_work(project):
    # the model does not even exist: the output's refusal comes first, nothing is read
    fails("predict", "absent", "new.csv", "-o", "new.csv", expect=("new.csv: is the data file",))


def test_dash_and_dev_stdout_write_standard_output(project):
    expected = succeeds("predict", "run", "new.csv").stdout
    assert expected.startswith("label,prob_a,prob_b\n")
    before = snapshot(project)
    assert succeeds("predict", "run", "new.csv", "-o", "-").stdout == expected
    assert succeeds("predict", "run", "new.csv", "-o", "/dev/stdout").stdout == expected
    assert snapshot(project) == before  # no file named "-" and /dev/stdout still a link


def test_a_regular_output_file_is_replaced_keeping_its_mode(project):
    Path("out.csv").write_text("old\n")
    os.chmod("out.csv", 0o640)
    succeeds("predict", "run", "new.csv", "-o", "out.csv")
    assert Path("out.csv").read_text().startswith("label,prob_a,prob_b\n")
    assert stat.S_IMODE(os.stat("out.csv").st_mode) == 0o640
    assert sorted(os.listdir(project)) == ["config.yaml", "data", "new.csv", "out.csv", "run"]


# --- train --out ---------------------------------------------------------------------------------------------

def test_out_is_never_the_users_folder(project):
    fails("train", "config.yaml", "--out", ".",
          expect=(".: --out: the directory is not empty (it holds config.yaml, data, new.csv, run)",
                  "nothing was changed", "new or empty directory"))


def test_out_with_a_users_file_of_a_run_name_is_refused(project):
    Path("mine").mkdir()
    Path("mine/metrics.csv").write_text("my own metrics\n")
    fails("train", "config.yaml", "--out", "mine", expect=("mine: --out: the directory is not empty (it holds "
                                                           "metrics.csv)",))


def test_resume_needs_a_run_nncli_marked(project):
    Path("theirs").mkdir()
    for name in runs.RUN_FILES:
        shutil.copy(Path("run") / name, Path("theirs") / name)  # a run's files, but nncli did not write them here
    fails("train", "config.yaml", "--out", "theirs", "--resume",
          expect=("theirs: --resume: nncli did not start this run (there is no .nncli-run marker)",
                  "touch theirs/.nncli-run"))


def test_a_marker_that_is_not_a_file_is_refused(project):
    Path("odd/.nncli-run").mkdir(parents=True)
    fails("train", "config.yaml", "--out", "odd", expect=("odd: .nncli-run is in the way",))


def test_an_empty_directory_is_claimed_and_marked(project):
    Path("empty").mkdir()
    succeeds("train", "config.yaml", "--out", "empty", "--quiet")
    assert set(os.listdir("empty")) == RUN_FILES
    assert Path("empty/.nncli-run").read_text() == runs.MARKER_TEXT


def test_a_marker_left_by_a_run_that_wrote_nothing_counts_as_empty(project):
    Path("left").mkdir()
    Path("left/.nncli-run").write_text(runs.MARKER_TEXT)
    succeeds("train", "config.yaml", "--out", "left", "--quiet")
    assert set(os.listdir("left")) == RUN_FILES


def test_the_stale_temporaries_removed_are_only_nnclis(tmp_path):
    ours = [f".{name}.k2j4x9.tmp" for name in runs.RUN_FILES]
    theirs = [".notes.txt.k2j4x9.tmp", "model.npz.tmp", ".model.npz.tmp", "data.tmp", ".nncli-run.abc.tmp",
              ".mymodel.npz.abc.tmp"]
    for name in ours + theirs:
        (tmp_path / name).write_text("x")
    runs.remove_stale_temporaries(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(theirs)


# --- two trains at once --------------------------------------------------------------------------------------

def test_threads_claiming_one_directory_leave_it_to_exactly_one(tmp_path):
    barrier, outcomes = threading.Barrier(4), []

    def claim() -> None:
        barrier.wait()
        try:
            with runs.claim_run_dir("x", tmp_path / "race", resume=False) as directory:
                (directory / runs.CONFIG_FILE).write_text(threading.current_thread().name)  # as a run would
                time.sleep(1.0)
            outcomes.append("claimed")
        except NncliError as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=claim, name=f"run{k}") for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("claimed") == 1, outcomes
    for refusal in (outcome for outcome in outcomes if outcome != "claimed"):
        assert refusal.startswith(f"{tmp_path / 'race'}: "), refusal
        assert "another nncli train is writing" in refusal or "not empty" in refusal, refusal


def test_a_claim_is_released_when_its_run_ends(tmp_path):
    with runs.claim_run_dir("x", tmp_path / "run", resume=False) as directory:
        (directory / runs.CHECKPOINT_FILE).write_bytes(b"a checkpoint")
        with (pytest.raises(NncliError, match="another nncli train is writing this run directory right now"),
              runs.claim_run_dir("x", directory, resume=True)):
            pass
    with runs.claim_run_dir("x", directory, resume=True) as again:
        assert again == directory


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def nncli(*args: str, **options) -> subprocess.Popen:
    options = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, **options}
    return subprocess.Popen([sys.executable, "-m", "nncli", *args], stdin=subprocess.DEVNULL, env=environment(),
                            text=True, **options)


def saved_config(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return runs.from_json_array(archive["meta.config"])


def test_two_processes_started_together_never_share_a_run_directory(project):
    processes = [nncli("train", "config.yaml", "--out", "race", "--quiet", "--set", f"seed={seed}",
                       "--set", "training.epochs=50") for seed in (1, 2)]
    outcomes = [(process.wait(timeout=120), process.stderr.read()) for process in processes]
    assert sorted(code for code, _ in outcomes) == [0, 2], outcomes
    refused = next(error for code, error in outcomes if code == 2)
    assert_one_error_paragraph(refused)
    assert refused.startswith("error: race: ")
    winner = [1, 2][[code for code, _ in outcomes].index(0)]
    assert set(os.listdir("race")) == RUN_FILES
    assert yaml.safe_load(Path("race/config.yaml").read_text())["seed"] == winner
    assert saved_config(Path("race/model.npz"))["seed"] == winner  # one run's files only


def test_a_resume_never_runs_beside_its_run_and_a_killed_run_does_not_block_it(project):
    Path("long.yaml").write_text(CONFIG.replace("epochs: 3", f"epochs: {LONG_EPOCHS}"))
    running = nncli("train", "long.yaml", "--out", "long", "--quiet")
    deadline = time.monotonic() + 60
    while not Path("long/checkpoint.npz").exists():
        assert running.poll() is None and time.monotonic() < deadline, running.stderr.read()
        time.sleep(0.01)
    try:
        # the folder changes under the running train, so no snapshot here: the refusal itself is checked
        resume = nncli("train", "long.yaml", "--out", "long", "--resume", stdout=subprocess.PIPE)
        code, stdout, stderr = resume.wait(timeout=60), resume.stdout.read(), resume.stderr.read()
        assert running.poll() is None, "the run ended before the resume was tried"
    finally:
        resume.kill()
        running.send_signal(signal.SIGKILL)  # it dies holding the lock, which the kernel drops
        running.wait(timeout=60)
    assert code == 2 and stdout == ""
    assert_one_error_paragraph(stderr)
    assert stderr.startswith("error: long: another nncli train is writing this run directory right now; "
                             "nothing was changed")
    with runs.claim_run_dir("long", Path("long"), resume=True) as directory:  # no stale lock is left
        assert directory == Path("long")


# --- a closed standard output --------------------------------------------------------------------------------

def test_train_goes_on_when_its_reader_goes_away(project):
    Path("many.yaml").write_text(CONFIG.replace("epochs: 3", "epochs: 300"))
    process = nncli("train", "many.yaml", "--out", "piped", stdout=subprocess.PIPE)
    assert process.stdout.readline().startswith("config")  # `| head -1`
    process.stdout.close()
    code, stderr = process.wait(timeout=120), process.stderr.read()
    assert code == 0, stderr
    assert stderr == ("warning: standard output was closed, so nncli stopped printing; training goes on; the run "
                      "is saved in piped\n")
    assert set(os.listdir("piped")) == RUN_FILES
    assert yaml.safe_load(Path("piped/summary.json").read_text())["epochs_run"] == 300


@pytest.mark.parametrize("read_first_line", [False, True])
def test_predict_to_a_closed_pipe_is_one_error_line(project, read_first_line):
    table(6000, seed=2).to_csv("many.csv", index=False)  # more output than a pipe holds
    process = nncli("predict", "run", "many.csv", stdout=subprocess.PIPE)
    if read_first_line:
        assert process.stdout.readline() == "label,prob_a,prob_b\n"
    process.stdout.close()
    code, stderr = process.wait(timeout=120), process.stderr.read()
    assert code == 1
    assert stderr == "error: standard output was closed before everything was written (the program reading it " \
                     "exited)\n"


def test_guarded_stdout_turns_silent_once_and_says_so_once():
    stream, calls = mock.Mock(spec=["write", "flush"]), []  # no fileno: nothing to point at os.devnull
    stream.write.side_effect = stream.flush.side_effect = BrokenPipeError(32, "Broken pipe")
    guarded = GuardedStdout(stream, lambda: calls.append("closed"))
    assert guarded.write("epoch 1\n") == len("epoch 1\n")
    guarded.flush()
    guarded.write("epoch 2\n")
    assert calls == ["closed"] and stream.write.call_count == 1 and guarded.reader_gone
