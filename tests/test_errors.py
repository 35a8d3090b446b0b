"""Bad input never costs more than one clear line: exit code 2, one `error:` paragraph naming the file and line
(or the config field) and what would be valid, no traceback, and no file created or changed. Divergence exits 1
and keeps the last good checkpoint. Every file nncli writes goes through the atomic writer."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nncli import api, run, runs
from nncli.cli import app
from nncli.errors import TrainingError

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
name: tiny
seed: 0
data:
  train: data/train.csv
  target: label
  valid: 0.25
layers:
  - {type: dense, units: 8, activation: relu}
  - {type: dropout, rate: 0.1}
  - {type: dense, units: 1, activation: sigmoid}
loss: binary_crossentropy
metrics: [accuracy]
optimizer: {type: adam, lr: 0.01}
schedule: {type: exponential, decay: 0.01}
training:
  epochs: 3
  batch_size: 8
"""

REGRESSION = """\
name: line
seed: 0
data: {train: data/line.csv, target: y, valid: 0.2}
layers:
  - {type: dense, units: 16, activation: relu}
  - {type: dense, units: 1}
loss: mse
optimizer: {type: sgd, lr: 1000000.0}
training: {epochs: 5, batch_size: 8}
"""


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=rows).round(4), rng.normal(size=rows).round(4)
    return pd.DataFrame({"x": x, "y": y, "colour": np.array(["red", "green", "blue"])[np.arange(rows) % 3],
                         "label": np.where(x + y > 0, "b", "a")})


def csv_lines(rows: int = 40) -> list[str]:
    """The training CSV as lines: line 1 is the header, data row i is on line i + 2."""
    return table(rows).to_csv(index=False).splitlines()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small trained run (a classifier with a categorical column), made once for the predict/eval cases."""
    root = tmp_path_factory.mktemp("trained")
    (root / "data").mkdir()
    table(40).to_csv(root / "data" / "train.csv", index=False)
    (root / "config.yaml").write_text(CONFIG)
    api.train(root / "config.yaml", out=root / "run")
    return root / "run"


@pytest.fixture
def project(tmp_path, monkeypatch, trained):
    """A working directory with a valid config, its data, a line-regression config and a copy of a trained run."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("\n".join(csv_lines()) + "\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    x = np.random.default_rng(1).uniform(-1, 1, size=(200, 2))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": 3 * x[:, 0] - 2 * x[:, 1]}).to_csv(
        tmp_path / "data" / "line.csv", index=False)
    (tmp_path / "line.yaml").write_text(REGRESSION)
    (tmp_path / "run").mkdir()
    for name in ("model.npz", "config.yaml"):
        (tmp_path / "run" / name).write_bytes((trained / name).read_bytes())
    table(12, seed=5).to_csv(tmp_path / "new.csv", index=False)
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and directory under `root`."""
    return {str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
            for path in sorted(root.rglob("*"))}


def assert_one_error_paragraph(stderr: str) -> None:
    assert stderr.startswith("error: "), stderr
    assert stderr.endswith("\n") and "\n" not in stderr.rstrip("\n"), stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr


def fails(*args: str, expect: tuple[str, ...] = (), code: int = 2) -> str:
    """Run the CLI, assert a clean failure that changed no file, and return the message."""
    root = Path.cwd()
    before = snapshot(root)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        result.exception
    assert result.stdout == "", result.stdout
    assert_one_error_paragraph(result.stderr)
    for text in expect:
        assert text in result.stderr, f"{text!r} not in {result.stderr!r}"
    assert snapshot(root) == before, "a file was created or changed"
    return result.stderr


def with_config(text: str) -> None:
    Path("config.yaml").write_text(text)


def replaced(old: str, new: str) -> str:
    assert old in CONFIG, old
    return CONFIG.replace(old, new, 1)


# --- the config ----------------------------------------------------------------------------------------------

CONFIG_CASES = {
    "negative units": (replaced("units: 8", "units: -3"),
                       ["config.yaml:8: layers[0].units: must be a positive integer, got -3"]),
    "zero batch size": (replaced("batch_size: 8", "batch_size: 0"),
                        ["config.yaml:17: training.batch_size: must be a positive integer, got 0"]),
    "rate of 1": (replaced("rate: 0.1", "rate: 1.0"), ["config.yaml:9: layers[1].rate:", "[0, 1)", "1.0"]),
    "negative rate": (replaced("rate: 0.1", "rate: -0.1"), ["config.yaml:9: layers[1].rate:", "[0, 1)"]),
    "string for a number": (replaced("lr: 0.01", "lr: fast"), ["config.yaml:13: optimizer.lr:", "'fast'"]),
    "NaN learning rate": (replaced("lr: 0.01", "lr: .nan"), ["config.yaml:13: optimizer.lr:", "finite", "nan"]),
    "NaN units": (replaced("units: 8", "units: .nan"), ["config.yaml:8: layers[0].units:", "positive integer"]),
    "infinite decay": (replaced("decay: 0.01", "decay: .inf"), ["config.yaml:14: schedule.decay:", "inf"]),
    "list for a mapping": (replaced("layers:\n", "layers: 5\nunused:\n"), ["config.yaml:7: layers:", "list"]),
    "unknown key": (replaced("seed: 0", "seed: 0\nsede: 1"),
                    ["config.yaml:3: sede: unknown key 'sede'; did you mean 'seed'?", "valid:"]),
    "unknown nested key": (replaced("epochs: 3", "epochz: 3"),
                           ["config.yaml:16: training.epochz:", "did you mean 'epochs'?"]),
    "unknown layer type": (replaced("type: dropout", "type: dropuot"),
                           ["config.yaml:9: layers[1].type:", "did you mean 'dropout'?", "valid: add, batchnorm"]),
    "unknown activation": (replaced("activation: relu", "activation: relux"),
                           ["config.yaml:8: layers[0].activation:", "did you mean 'relu'?", "valid:"]),
    "unknown loss": (replaced("loss: binary_crossentropy", "loss: binary_crossentropyy"),
                     ["config.yaml:11: loss:", "did you mean 'binary_crossentropy'?", "valid:"]),
    "unknown optimizer": (replaced("type: adam", "type: adamm"),
                          ["config.yaml:13: optimizer.type:", "did you mean 'adam'?", "valid: adagrad"]),
    "unknown schedule": (replaced("type: exponential", "type: exponentail"),
                         ["config.yaml:14: schedule.type:", "did you mean 'exponential'?"]),
    "unknown metric": (replaced("[accuracy]", "[acuracy]"),
                       ["config.yaml:12: metrics[0]:", "did you mean 'accuracy'?"]),
    "duplicate key": (replaced("seed: 0", "seed: 0\nseed: 1"),
                      ["config.yaml:3: seed: duplicate key 'seed': given on line 2 and line 3"]),
    "YAML syntax": (replaced("layers:\n", "layers: [\n"), ["config.yaml:8:3:"]),
    "tab indentation": (replaced("  target", "\ttarget"), ["config.yaml:5:1:", "'\\t'"]),
    "required key": (replaced("  target: label\n", ""), ["config.yaml:3: data.target: required"]),
    "empty config": ("", ["config.yaml: a config must be a mapping"]),
    "softmax width": (replaced("units: 1, activation: sigmoid", "units: 3, activation: softmax").replace(
        "loss: binary_crossentropy", "loss: categorical_crossentropy"),
        ["config.yaml:10: layers[2].units: the output has 3 units but the data has 2 classes (a, b): one unit per"]),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_errors(project, case):
    text, expected = CONFIG_CASES[case]
    with_config(text)
    fails("check", "config.yaml", expect=tuple(expected))
    fails("train", "config.yaml", expect=tuple(expected))


@pytest.mark.parametrize("tag", ['!!python/object/apply:os.system ["touch pwned"]', "!!python/name:os.system",
                                 '!!python/object/new:subprocess.Popen [["touch", "pwned"]]'])
def test_yaml_tags_that_would_run_code_are_refused_and_nothing_runs(project, tag):
    with_config(replaced("seed: 0", f"seed: {tag}"))
    fails("train", "config.yaml", expect=("config.yaml:2: seed: tag !!python/", "is not allowed"))
    assert not Path("pwned").exists()


def test_config_file_missing_or_a_directory(project):
    fails("train", "absent.yaml", expect=("absent.yaml: config file not found",))
    fails("check", "data", expect=("data: is a directory, not a config file",))


@pytest.mark.parametrize("override, expected", [
    ("training.epochz=3", "--set training.epochz=3: training.epochz: unknown key 'epochz'; did you mean 'epochs'?"),
    ("layers.7.units=3", "--set layers.7.units=3: layers has 3 items: index 7 is out of range"),
    ("nothere.x=1", "--set nothere.x=1: nothere: unknown key 'nothere';"),
    ("seed.x=1", "--set seed.x=1: seed is 0, not a mapping or list"),
    ("optimizer.lr", "--set: expected KEY=VALUE, such as optimizer.lr=0.01, got 'optimizer.lr'"),
    ("layers.0.units=-1", "--set layers.0.units=-1: layers[0].units: must be a positive integer, got -1"),
])
def test_set_paths_that_do_not_exist(project, override, expected):
    fails("train", "config.yaml", "--set", override, expect=(expected,))


# --- the data ------------------------------------------------------------------------------------------------

def with_csv_line(line_number: int, text: str | None) -> None:
    """Replace (or, with None, drop) one line of the training CSV."""
    lines = csv_lines()
    if text is None:
        del lines[line_number - 1]
    else:
        lines[line_number - 1] = text
    Path("data/train.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("line, expected", [
    ("0.5,0.25,red", "data/train.csv:5: expected 4 fields (as in the header), found 3"),
    ("0.5,0.25,red,a,9", "data/train.csv:5: expected 4 fields (as in the header), found 5"),
    ("0.5,abc,red,a", "data/train.csv:5: column 'y': expected a number, got 'abc'"),
    ("0.5,,red,a", "data/train.csv:5: column 'y': missing value (data.missing is 'error'; set it to 'drop' or "
                   "'impute'"),
    ("inf,0.25,red,a", "data/train.csv:5: column 'x': infinite value 'inf'; only finite numbers are allowed"),
    ("0.5,-inf,red,a", "data/train.csv:5: column 'y': infinite value '-inf'"),
])
def test_bad_cells_name_line_column_and_value(project, line, expected):
    with_csv_line(5, line)
    fails("check", "config.yaml", expect=(expected,))
    fails("train", "config.yaml", expect=(expected,))


def test_a_missing_target_is_refused_under_missing_target_error(project):
    with_csv_line(5, "0.5,0.25,red,")
    expected = "data/train.csv:5: column 'label': missing target value (data.missing_target is 'error'"
    fails("check", "config.yaml", "--set", "data.missing_target=error", expect=(expected,))


@pytest.mark.parametrize("content, expected", [
    (b"", "data/train.csv: the file is empty; expected a header row and data rows"),
    (b"x,y,colour,label\n", "data/train.csv: the file has a header row but no data rows"),
    (b"x,y,colour,label\n1,2,red,a\n3,\xff,red,b\n", "data/train.csv:3: column 'y': invalid UTF-8 (byte 0xff)"),
])
def test_empty_header_only_and_undecodable_csv(project, content, expected):
    Path("data/train.csv").write_bytes(content)
    fails("train", "config.yaml", expect=(expected,))


def test_missing_csv_and_a_directory(project):
    Path("data/train.csv").unlink()
    fails("train", "config.yaml", expect=("data/train.csv: file not found",))
    Path("data/train.csv").mkdir()
    fails("check", "config.yaml", expect=("data/train.csv: is a directory, not a CSV file",))


def test_unreadable_csv(project, monkeypatch):
    from nncli.data import reading

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reading, "open", refuse, raising=False)
    fails("train", "config.yaml", expect=("data/train.csv: cannot read the file: Permission denied",))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_csv_by_permissions(project):
    Path("data/train.csv").chmod(0)
    try:
        fails("train", "config.yaml", expect=("data/train.csv: cannot read the file",))
    finally:
        Path("data/train.csv").chmod(0o644)


def test_target_column_that_does_not_exist(project):
    with_config(replaced("target: label", "target: lable"))
    fails("train", "config.yaml", expect=("config.yaml:", "data.target: column 'lable' not found in data/train.csv; "
                                          "did you mean 'label'? available columns: x, y, colour, label"))


def test_too_few_rows_for_the_split(project):
    Path("data/train.csv").write_text("\n".join(csv_lines(3)) + "\n")
    fails("train", "config.yaml", expect=("data/train.csv: data.valid: too few rows (3) to hold out a fraction "
                                          "of 0.25", "data.valid to null"))


def test_binary_loss_on_three_classes(project):
    Path("data/train.csv").write_text(csv_lines()[0] + "\n" + "\n".join(
        f"{i},{i % 5},red,{'abc'[i % 3]}" for i in range(30)) + "\n")
    fails("train", "config.yaml", expect=("data/train.csv: column 'label' has 3 classes (a, b, c); "
                                          "binary_crossentropy needs exactly 2",))


# --- predict and eval ----------------------------------------------------------------------------------------

def test_predict_and_eval_with_missing_columns(project):
    table(12).drop(columns=["colour"]).to_csv("no_colour.csv", index=False)
    expected = "no_colour.csv: column 'colour' not found; available columns: x, y, label"
    fails("predict", "run", "no_colour.csv", expect=(expected,))
    fails("eval", "run", "no_colour.csv", expect=(expected,))
    table(12).drop(columns=["label"]).to_csv("no_label.csv", index=False)
    fails("eval", "run", "no_label.csv", expect=("no_label.csv: column 'label' not found",))


def test_predict_with_an_unseen_category(project):
    frame = table(12)
    frame.loc[3, "colour"] = "purple"
    frame.to_csv("purple.csv", index=False)
    expected = "purple.csv:5: column 'colour': unknown category 'purple'; known: blue, green, red"
    fails("predict", "run", "purple.csv", expect=(expected,))
    fails("eval", "run", "purple.csv", "--json", expect=(expected,))


def model_arrays() -> dict[str, np.ndarray]:
    with np.load("run/model.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def broken_models() -> dict[str, tuple[object, str]]:
    return {
        "missing": (None, "absent.npz: no such file"),
        "not a zip": (b"layers.0.weight = 1\n", "notzip.npz: is not a readable .npz file (not a zip archive"),
        "truncated": ("truncate", "truncated.npz: is not a readable .npz file"),
        "pickled": ("pickle", "pickled.npz: meta.config: holds pickled Python objects, which nncli never loads"),
        "missing weight": ("drop layers.0.bias", "missing_weight.npz: layers.0.bias: is missing: the network "
                                                 "meta.architecture describes needs it"),
        "extra weight": ("add layers.5.weight", "extra_weight.npz: layers.5.weight: is not part of the network "
                                                "meta.architecture describes"),
        "wrong shape": ("shape layers.0.weight", "wrong_shape.npz: layers.0.weight: has shape (5, 3); the "
                                                 "architecture needs (5, 8)"),
        "missing meta": ("drop meta.feature_names", "missing_meta.npz: meta.feature_names: is missing: the file is "
                                                    "not an nncli model or is damaged"),
        "bad config": ("garble meta.config", "bad_config.npz: meta.config: is not valid JSON"),
    }


def write_broken_model(case: str, how: object) -> str:
    name = {"missing": "absent", "not a zip": "notzip"}.get(case, case.replace(" ", "_")) + ".npz"
    if how is None:
        return name
    if isinstance(how, bytes):
        Path(name).write_bytes(how)
        return name
    arrays = model_arrays()
    if how == "truncate":
        data = Path("run/model.npz").read_bytes()
        Path(name).write_bytes(data[: len(data) * 2 // 3])
        return name
    if how == "pickle":
        arrays["meta.config"] = np.array([{"__reduce__": "os.system"}], dtype=object)
    else:
        action, key = how.split()
        if action == "drop":
            del arrays[key]
        elif action == "add":
            arrays[key] = np.zeros((2, 2), dtype=np.float32)
        elif action == "shape":
            arrays[key] = arrays[key][:, :3]
        else:
            arrays[key] = np.array("{not json")
    with open(name, "wb") as stream:
        np.savez(stream, **arrays)
    return name


@pytest.mark.parametrize("case", list(broken_models()))
def test_broken_model_files(project, case):
    how, expected = broken_models()[case]
    name = write_broken_model(case, how)
    fails("predict", name, "new.csv", expect=(expected,))
    fails("eval", name, "new.csv", expect=(expected,))


def test_model_of_an_interrupted_run(project):
    Path("run/model.npz").rename("run/checkpoint.npz")
    fails("predict", "run", "new.csv", expect=("run: no model.npz: the run was interrupted", "--resume"))


def test_predict_output_that_cannot_be_written(project):
    fails("predict", "run", "new.csv", "-o", "nowhere/p.csv",
          expect=("nowhere/p.csv: cannot write the file: the directory 'nowhere' does not exist",))
    fails("predict", "run", "new.csv", "-o", "data", expect=("data: is a directory",))


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(project, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs.tempfile, "mkstemp", full_disk)
    fails("predict", "run", "new.csv", "-o", "p.csv", code=1,
          expect=("p.csv: cannot write the file: No space left on device",))


# --- run directories -----------------------------------------------------------------------------------------

def test_out_holding_a_model_is_refused_and_untouched(project):
    fails("train", "config.yaml", "--out", "run", expect=("run: already holds a trained run (model.npz); nothing "
                                                          "was changed", "--resume"))


def test_out_that_is_a_file(project):
    fails("train", "config.yaml", "--out", "new.csv", expect=("new.csv: --out: is a file, not a directory",))
    fails("train", "config.yaml", "--out", "new.csv/run", expect=("cannot create the run directory",))


def test_resume_without_a_checkpoint(project):
    fails("train", "config.yaml", "--resume", expect=("--resume needs --out DIR",))
    fails("train", "config.yaml", "--out", "fresh", "--resume",
          expect=("fresh: --resume: no checkpoint.npz to resume from (the directory does not exist)",))
    fails("train", "config.yaml", "--out", "run", "--resume",
          expect=("run: --resume: no checkpoint.npz to resume from",))


# --- through a real process ----------------------------------------------------------------------------------

def run_nncli(*args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "nncli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, stdin=subprocess.DEVNULL)


def test_errors_through_a_real_process(project):
    with_config(replaced("layers:\n", "layers: [\n"))
    Path("bad.csv").write_text("x,y,colour,label\n1,2,red,a\n3,4,red\n")
    cases = [(("train", "config.yaml"), "error: config.yaml:8:3: "),
             (("eval", "run", "bad.csv"), "error: bad.csv:3: expected 4 fields (as in the header), found 3"),
             (("predict", write_broken_model("pickled", "pickle"), "new.csv"),
              "error: pickled.npz: meta.config: holds pickled")]
    before = snapshot(project)
    for args, expected in cases:
        done = run_nncli(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(expected), done.stderr
        assert_one_error_paragraph(done.stderr)
        assert done.stdout == ""
    assert snapshot(project) == before


def test_debug_shows_the_traceback(project):
    with_config(replaced("units: 8", "units: -3"))
    done = run_nncli("check", "config.yaml", "--debug")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ConfigError" in done.stderr and "layers[0].units" in done.stderr


# --- divergence ----------------------------------------------------------------------------------------------

def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def test_divergence_exits_1_naming_epoch_and_batch(project):
    result = CliRunner().invoke(app, ["train", "line.yaml", "--out", "diverged", "--quiet"])
    assert result.exit_code == 1, result.stderr
    assert_one_error_paragraph(result.stderr)
    message = result.stderr
    assert "training diverged: the loss is not finite at epoch 1/5, batch " in message
    assert "/20;" in message  # 160 training rows in batches of 8
    assert "diverged/checkpoint.npz keeps the last good state (the initial weights" in message
    assert "model.npz was not written" in message
    assert "optimizer.lr (it is 1e+06)" in message and "training.clip_norm" in message
    assert sorted(os.listdir("diverged")) == [".nncli-run", "checkpoint.npz", "config.yaml", "metrics.csv"]
    checkpoint = read_npz(Path("diverged/checkpoint.npz"))
    assert int(checkpoint["state.epoch"]) == 0 and int(checkpoint["state.batch"]) == 0
    assert all(np.isfinite(value).all() for key, value in checkpoint.items() if value.dtype.kind == "f")


def corrupting(after_epoch: int, key: str, value: float, monkeypatch):
    """An on_epoch callback that writes `value` into one weight once `after_epoch` (0-based) has finished."""
    monkeypatch.setattr(run, "CHECKPOINT_SECONDS", 0.0)  # every epoch is checkpointed
    holder = {}

    def on_start(prepared, run_dir, first_epoch):
        holder["model"] = prepared.model

    def on_epoch(record):
        if record["epoch"] == after_epoch:
            holder["model"].state_dict()[key].flat[0] = value

    return on_start, on_epoch


def test_a_later_divergence_keeps_the_last_good_checkpoint(project, monkeypatch):
    on_start, on_epoch = corrupting(1, "layers.0.weight", np.inf, monkeypatch)
    with pytest.raises(TrainingError, match=r"the loss is not finite at epoch 3/5, batch 1/20; .*checkpoint.npz "
                                            r"keeps the last good state \(saved after epoch 2/5\)"):
        api.train("line.yaml", out="later", overrides=["optimizer.lr=0.01"], on_start=on_start, on_epoch=on_epoch)
    checkpoint = read_npz(Path("later/checkpoint.npz"))
    assert int(checkpoint["state.epoch"]) == 2 and np.isfinite(checkpoint["model.layers.0.weight"]).all()
    assert not Path("later/model.npz").exists()


def test_non_finite_weights_are_never_saved_even_when_the_loss_stays_finite(project, monkeypatch):
    # a -inf bias silences its relu unit: the loss stays finite, the weights do not
    on_start, on_epoch = corrupting(1, "layers.0.bias", -np.inf, monkeypatch)
    with pytest.raises(TrainingError, match=r"the weights are no longer finite after epoch 3/5, batch 20/20; "
                                            r".*\(saved after epoch 2/5\)"):
        api.train("line.yaml", out="silent", overrides=["optimizer.lr=0.01"], on_start=on_start, on_epoch=on_epoch)
    checkpoint = read_npz(Path("silent/checkpoint.npz"))
    assert int(checkpoint["state.epoch"]) == 2
    assert all(np.isfinite(value).all() for value in checkpoint.values() if value.dtype.kind == "f")
    assert not Path("silent/model.npz").exists()


# --- every file is written atomically -------------------------------------------------------------------------

def test_every_file_nncli_writes_goes_through_the_atomic_writer(project, monkeypatch):
    written: list[Path] = []
    atomic = runs.write_atomically

    def spy(path, write):
        written.append(Path(path).resolve())
        atomic(path, write)

    monkeypatch.setattr(runs, "write_atomically", spy)
    result = CliRunner().invoke(app, ["train", "config.yaml", "--out", "fresh", "--quiet"])
    assert result.exit_code == 0, result.stderr
    result = CliRunner().invoke(app, ["predict", "fresh", "new.csv", "-o", "predictions.csv"])
    assert result.exit_code == 0, result.stderr
    # the marker is created once (O_EXCL) when the run claims the directory, never replaced
    files = {path.resolve() for path in Path("fresh").iterdir() if path.name != runs.RUN_MARKER}
    files |= {Path("predictions.csv").resolve()}
    assert set(written) == files
    assert not [name for name in os.listdir("fresh") if name.endswith(".tmp")]
    mode = Path("fresh/model.npz").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not the 0600 of a bare temporary file
