"""Data as it comes: compressed CSV files, Parquet, CSV on standard input, `predict --keep`, and what `eval`
reports (rows scored and skipped, every metric the config names)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zstandard
from typer.testing import CliRunner

from nncli import api
from nncli.cli import app
from nncli.data import cache, reading
from nncli.errors import DataError
from nncli.metrics import binary_auc

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
name: inputs
seed: 0
data: {{train: {train}, target: label, valid: 0.25, missing: drop}}
layers:
  - {{type: dense, units: 8, activation: relu}}
  - {{type: dense, units: 1, activation: sigmoid}}
loss: binary_crossentropy
metrics: [accuracy, auc]
optimizer: {{type: adam, lr: 0.01}}
training: {{epochs: 3, batch_size: 8}}
"""

COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
               ".zst": lambda data: zstandard.ZstdCompressor().compress(data)}


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=rows).round(4), rng.normal(size=rows).round(4)
    return pd.DataFrame({"id": [f"{i:03d}" for i in range(rows)], "x": x, "y": y,
                         "colour": np.array(["red", "green", "blue"])[np.arange(rows) % 3],
                         "label": np.where(x + y > 0, "b", "a")})


def csv_bytes(rows: int = 40, seed: int = 0) -> bytes:
    return table(rows, seed).drop(columns="id").to_csv(index=False).encode()


def invoke(*args: str, code: int = 0, input: bytes | None = None):
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def train(root: Path, data: str, config: str = CONFIG) -> Path:
    (root / f"{data}.yaml").write_text(config.format(train=data))
    return api.train(root / f"{data}.yaml", out=root / f"run-{data}").run_dir


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> tuple[Path, Path]:
    """A folder with the training CSV and a run trained on it."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "train.csv").write_bytes(csv_bytes())
    (root / "new.csv").write_bytes(csv_bytes(12, seed=5))
    return root, train(root, "train.csv")


@pytest.fixture
def folder(plain, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("train.csv", "new.csv"):
        (tmp_path / name).write_bytes((plain[0] / name).read_bytes())
    return tmp_path


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_compressed_csv_trains_predicts_and_evaluates_as_the_plain_file(plain, folder, suffix):
    _root, plain_run = plain
    (folder / f"train.csv{suffix}").write_bytes(COMPRESSORS[suffix](csv_bytes()))
    (folder / f"new.csv{suffix}").write_bytes(COMPRESSORS[suffix](csv_bytes(12, seed=5)))
    run = train(folder, f"train.csv{suffix}")
    with np.load(run / "model.npz") as model, np.load(plain_run / "model.npz") as expected:
        for key in expected.files:
            if key.startswith("layers."):
                assert np.array_equal(model[key], expected[key]), key
    predicted = invoke("predict", str(plain_run), f"new.csv{suffix}").stdout
    assert predicted == invoke("predict", str(plain_run), "new.csv").stdout
    assert predicted.splitlines()[0] == "label,prob_a,prob_b" and len(predicted.splitlines()) == 13
    report = json.loads(invoke("eval", str(plain_run), f"new.csv{suffix}", "--json").stdout)
    assert report == json.loads(invoke("eval", str(plain_run), "new.csv", "--json").stdout)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_errors_in_a_compressed_csv_name_its_line(plain, folder, suffix):
    lines = csv_bytes(12, seed=5).decode().splitlines()
    lines[4] = "oops," + lines[4].split(",", 1)[1]  # data row 4, line 5
    (folder / f"bad.csv{suffix}").write_bytes(COMPRESSORS[suffix](("\n".join(lines) + "\n").encode()))
    result = invoke("predict", str(plain[1]), f"bad.csv{suffix}", code=2)
    assert result.stderr.startswith(f"error: bad.csv{suffix}:5: column 'x': "), result.stderr


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_a_damaged_or_cut_compressed_file_is_a_clear_error(plain, folder, suffix):
    packed = COMPRESSORS[suffix](csv_bytes(400))
    (folder / f"cut.csv{suffix}").write_bytes(packed[: len(packed) // 2])
    (folder / f"junk.csv{suffix}").write_bytes(b"this is not compressed data\n" * 10)
    for name in (f"cut.csv{suffix}", f"junk.csv{suffix}"):
        result = invoke("eval", str(plain[1]), name, code=2)
        assert result.stderr.startswith(f"error: {name}: cannot decompress the file as "), result.stderr
        assert "\n" not in result.stderr.rstrip("\n")


def test_zstd_without_its_package_names_the_extra(plain, folder, monkeypatch):
    (folder / "new.csv.zst").write_bytes(COMPRESSORS[".zst"](csv_bytes(12)))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # `import zstandard` now fails
    result = invoke("predict", str(plain[1]), "new.csv.zst", code=2)
    assert result.stderr == ('error: new.csv.zst: reading a zstd-compressed file (.zst) needs the zstandard '
                             'package: pip install "nncli[zstd]" (or decompress the file first)\n')


def test_a_gzip_bomb_is_refused_quickly(plain, folder, monkeypatch):
    monkeypatch.setattr(reading, "MAX_STREAM_BYTES", 8 << 20)
    member = gzip.compress(b"x,y,colour,label\n" + b"1,2,red,a\n" * (1 << 20), compresslevel=9)  # 10 MiB each
    with open(folder / "bomb.csv.gz", "wb") as bomb:
        for _ in range(400):  # 4 GiB once decompressed, in about 4 MB
            bomb.write(member)
    started = time.perf_counter()
    result = invoke("eval", str(plain[1]), "bomb.csv.gz", code=2)
    assert time.perf_counter() - started < 10
    assert result.stderr == ("error: bomb.csv.gz: a compressed file is decompressed into memory, and this one holds "
                             "more than 8 MiB; decompress it to a file first\n")


def test_a_compressed_file_is_cached_by_the_compressed_file(folder, monkeypatch):
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path = folder / "train.csv.gz"
    path.write_bytes(gzip.compress(csv_bytes(40)))
    first = reading.read_table(path)
    cache.wait()
    monkeypatch.setattr(reading, "_parse", lambda *args: pytest.fail("parsed again"))
    pd.testing.assert_frame_equal(reading.read_table(path), first)
    monkeypatch.undo()
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    path.write_bytes(gzip.compress(csv_bytes(30, seed=3)))  # a new file: the cache must miss
    changed = reading.read_table(path)
    assert len(changed) == 30 and changed["x"].iloc[0] == table(30, seed=3)["x"].iloc[0]


def test_parquet_trains_predicts_and_evaluates_as_the_csv(plain, folder):
    _root, plain_run = plain
    for name in ("train", "new"):
        pd.read_csv(folder / f"{name}.csv").to_parquet(folder / f"{name}.parquet")
    run = train(folder, "train.parquet")
    with np.load(run / "model.npz") as model, np.load(plain_run / "model.npz") as expected:
        assert np.array_equal(model["layers.0.weight"], expected["layers.0.weight"])
    assert invoke("predict", str(plain_run), "new.parquet").stdout == invoke("predict", str(plain_run),
                                                                             "new.csv").stdout
    assert json.loads(invoke("eval", str(plain_run), "new.parquet", "--json").stdout)["rows"] == 12


def test_parquet_errors_name_the_row(plain, folder):
    frame = pd.read_csv(folder / "new.csv").astype({"x": str})  # numbers as text, as a CSV may hold them
    frame.loc[3, "x"] = "oops"
    frame.to_parquet(folder / "bad.parquet")
    result = invoke("predict", str(plain[1]), "bad.parquet", code=2)
    assert result.stderr.startswith("error: bad.parquet: row 4: column 'x': "), result.stderr


def test_parquet_without_pyarrow_names_the_extra(plain, folder, monkeypatch):
    pd.read_csv(folder / "new.csv").to_parquet(folder / "new.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke("eval", str(plain[1]), "new.parquet", code=2)
    assert result.stderr == 'error: new.parquet: reading a Parquet file needs pyarrow: pip install "nncli[parquet]"\n'


def test_a_file_that_is_not_parquet_is_a_clear_error(plain, folder):
    (folder / "fake.parquet").write_bytes(csv_bytes(12))
    result = invoke("predict", str(plain[1]), "fake.parquet", code=2)
    assert result.stderr.startswith("error: fake.parquet: cannot read the file as Parquet ("), result.stderr


def cli_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def test_stdin_through_a_real_process(plain, folder):
    run = str(plain[1])
    expected = invoke("predict", run, "new.csv").stdout
    with open(folder / "new.csv", "rb") as rows:
        done = subprocess.run([sys.executable, "-m", "nncli", "predict", run, "-", "-o", "-"], stdin=rows,
                              capture_output=True, env=cli_env(), cwd=folder, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout.decode() == expected
    with open(folder / "new.csv", "rb") as rows:
        done = subprocess.run([sys.executable, "-m", "nncli", "eval", run, "-", "--json"], stdin=rows,
                              capture_output=True, env=cli_env(), cwd=folder, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(invoke("eval", run, "new.csv", "--json").stdout)
    done = subprocess.run([sys.executable, "-m", "nncli", "predict", run, "-"], input=b"x,y,colour\n1,2,mauve\n",
                          capture_output=True, env=cli_env(), cwd=folder, timeout=120, check=False)
    assert done.returncode == 2 and done.stderr.decode().startswith("error: <stdin>:2: column 'colour': ")


def test_keep_copies_input_columns_as_written(plain, folder):
    lines = table(12, seed=5).to_csv(index=False).splitlines()
    lines[1] = "007," + lines[1].split(",", 1)[1]  # leading zeros: not a number to reformat
    lines[2] = lines[2].split(",", 1)[0] + ",1.50" + "," + lines[2].split(",", 2)[2]
    (folder / "ids.csv").write_text("\n".join(lines) + "\n")
    out = invoke("predict", str(plain[1]), "ids.csv", "--keep", "id,x", "--keep", "colour").stdout.splitlines()
    assert out[0] == "id,x,colour,label,prob_a,prob_b"
    assert out[1].startswith("007,") and out[2].startswith("001,1.50,")
    written = [line.split(",") for line in lines[1:]]
    assert [line.split(",")[:3] for line in out[1:]] == [[row[0], row[1], row[3]] for row in written]
    plain_predictions = invoke("predict", str(plain[1]), "ids.csv").stdout.splitlines()
    assert [line.split(",", 3)[3] for line in out] == plain_predictions


def test_keep_from_stdin_and_an_empty_cell(plain, folder):
    rows = b"name,x,y,colour\n,0.1,0.2,red\nbob,0.3,-1,blue\n"
    out = invoke("predict", str(plain[1]), "-", "--keep", "name", input=rows).stdout.splitlines()
    assert [line.split(",")[0] for line in out] == ["name", "", "bob"]


def test_keep_an_unknown_column_suggests_the_closest(plain, folder):
    result = invoke("predict", str(plain[1]), "new.csv", "--keep", "colur", code=2)
    assert result.stderr == ("error: new.csv: --keep: column 'colur' not found; did you mean 'colour'? available "
                             "columns: x, y, colour, label\n")
    result = invoke("predict", str(plain[1]), "new.csv", "--keep", "label", code=2)
    assert result.stderr.startswith("error: new.csv: --keep: column 'label' is also a column of the predictions")
    result = invoke("predict", str(plain[1]), "new.csv", "--keep", "x,,y", code=2)
    assert result.stderr.startswith("error: --keep: expected column names separated by commas")


def test_eval_counts_the_rows_it_scores_and_skips(plain, folder):
    lines = csv_bytes(12, seed=5).decode().splitlines()
    for row in (2, 5, 9):  # no target
        lines[row] = lines[row].rsplit(",", 1)[0] + ","
    for row in (3, 7):  # a missing feature cell
        lines[row] = "," + lines[row].split(",", 1)[1]
    (folder / "gaps.csv").write_text("\n".join(lines) + "\n")
    (folder / "clean.csv").write_text("\n".join(line for i, line in enumerate(lines)
                                                if i not in (2, 3, 5, 7, 9)) + "\n")
    report = json.loads(invoke("eval", str(plain[1]), "gaps.csv", "--json").stdout)
    assert report["rows"] == 7
    assert report["rows_skipped"] == {"missing_target": 3, "missing_features": 2}
    clean = json.loads(invoke("eval", str(plain[1]), "clean.csv", "--json").stdout)
    assert {k: v for k, v in report.items() if k != "rows_skipped"} == \
        {k: v for k, v in clean.items() if k != "rows_skipped"}
    assert clean["rows_skipped"] == {"missing_target": 0, "missing_features": 0}
    text = invoke("eval", str(plain[1]), "gaps.csv").stdout
    assert "7 rows scored; 5 skipped: 3 with a missing target, 2 with missing feature cells" in text
    (folder / "none.csv").write_text(lines[0] + "\n" + lines[2] + "\n" + lines[3] + "\n")
    result = invoke("eval", str(plain[1]), "none.csv", code=2)
    assert result.stderr == ("error: none.csv: no rows to score: 2 rows, all skipped (1 with a missing target, "
                             "1 with missing feature cells)\n")


def test_eval_reports_every_metric_the_config_names(plain, folder):
    report = json.loads(invoke("eval", str(plain[1]), "new.csv", "--json").stdout)
    assert list(report)[:6] == ["loss", "accuracy", "precision", "recall", "f1", "auc"]
    predictions = api.predict(plain[1], folder / "new.csv")
    truth = pd.read_csv(folder / "new.csv")["label"].to_numpy() == "b"
    assert report["auc"] == pytest.approx(binary_auc(truth, predictions["prob_b"].to_numpy()), abs=1e-6)
    text = invoke("eval", str(plain[1]), "new.csv").stdout
    assert any(line.split("│")[1:3] and line.split("│")[1].strip() == "auc" and
               line.split("│")[2].strip() == f"{report['auc']:.4g}" for line in text.splitlines()), text


def test_the_read_table_api_names_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,b\n1,2\n3,x\n")))
    frame = reading.read_table(Path("-"))
    assert frame.shape == (2, 2)
    with pytest.raises(DataError, match="the file is empty"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        reading.read_table(Path("-"), display_path="ignored")


def test_train_output_says_which_weights_were_saved_and_has_no_trailing_spaces(folder):
    config = CONFIG.replace("training: {{epochs: 3, batch_size: 8}}", "training: {{epochs: 4, batch_size: 8, "
                            "early_stopping: {{monitor: val_loss, patience: 10, restore_best: {restore}}}}}")
    for restore in ("true", "false"):
        (folder / f"{restore}.yaml").write_text(config.format(train="train.csv", restore=restore))
        text = invoke("train", f"{restore}.yaml", "--out", f"run-{restore}").stdout
        assert [line for line in text.splitlines() if line != line.rstrip()] == []
        summary = json.loads((folder / f"run-{restore}" / "summary.json").read_text())
        assert summary["weights_restored"] is (restore == "true")
        if restore == "true":
            assert summary["weights_epoch"] == summary["best_epoch"]
            assert f"weights of epoch {summary['best_epoch'] + 1}, the best (restored by early stopping)" in text
        else:
            assert summary["weights_epoch"] == 3 and "weights of epoch 4, the last" in text
        assert "final lr    1.00e-02" in text
        assert not any(line.strip("│ ").startswith("lr ") for line in text.splitlines())


def test_stdin_that_is_a_terminal_is_refused_instead_of_waiting(plain, folder, monkeypatch):
    class Terminal(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(io.BytesIO(b"")))
    with pytest.raises(DataError, match="standard input, which is not redirected; pipe or redirect"):
        api.predict(plain[1], "-")
