"""A model file or checkpoint from someone else cannot exhaust memory, and a damaged one never gives silent
nonsense: every hostile file below, made from a real trained model, fails `predict` and `eval` with exit 2 and
one `error:` paragraph naming the file and the key, before any large allocation."""

import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.lib import format as npy
from typer.testing import CliRunner

from nncli import api, npz, runs
from nncli.cli import app
from nncli.errors import ModelFileError
from nncli.modelfile import load_model
from tests.test_errors import assert_one_error_paragraph

REPO = Path(__file__).resolve().parents[1]

CLASSIFIER = """\
name: three
seed: 0
data: {train: train.csv, target: label, valid: 0.25}
layers:
  - {type: dense, units: 6, activation: relu}
  - {type: batchnorm}
  - {type: dense, units: 3, activation: softmax}
loss: categorical_crossentropy
optimizer: {type: adam, lr: 0.01}
training: {epochs: 2, batch_size: 8}
"""

REGRESSION = """\
name: line
seed: 0
data: {train: line.csv, target: y, valid: 0.2}
layers:
  - {type: dense, units: 4, activation: relu}
  - {type: dense, units: 1}
loss: mse
optimizer: {type: adam, lr: 0.01}
training: {epochs: 2, batch_size: 8}
"""


def classifier_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=rows).round(3), rng.normal(size=rows).round(3)
    return pd.DataFrame({"x": x, "y": y, "colour": np.array(["red", "green", "blue"])[np.arange(rows) % 3],
                         "label": np.array(["a", "b", "c"])[np.arange(rows) % 3]})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-class classifier (a categorical column, batchnorm) and a regression model, trained once."""
    root = tmp_path_factory.mktemp("models")
    classifier_table(48).to_csv(root / "train.csv", index=False)
    x = np.random.default_rng(1).uniform(-1, 1, size=(40, 2)).round(3)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x[:, 0] - x[:, 1]}).to_csv(root / "line.csv", index=False)
    (root / "three.yaml").write_text(CLASSIFIER)
    (root / "line.yaml").write_text(REGRESSION)
    api.train(root / "three.yaml", out=root / "three")
    api.train(root / "line.yaml", out=root / "line")
    return root


@pytest.fixture
def here(tmp_path, monkeypatch, trained) -> Path:
    for name in ("three", "line"):
        (tmp_path / f"{name}.npz").write_bytes((trained / name / "model.npz").read_bytes())
    classifier_table(9, seed=3).to_csv(tmp_path / "new.csv", index=False)
    (tmp_path / "one.csv").write_text("a,b,y\n0.5,0.25,0.25\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def arrays_of(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    npy.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def npy_header(shape: tuple, descr: str = "<f4", data: bytes = b"") -> bytes:
    """A .npy file whose header declares `shape`, followed by `data` (whatever its size)."""
    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + data


def write_members(name: str, members: dict[str, bytes | np.ndarray]) -> str:
    with zipfile.ZipFile(name, "w") as archive:
        for key, value in members.items():
            archive.writestr(f"{key}.npy", value if isinstance(value, bytes) else npy_bytes(value))
    return name


def changed(name: str, source: str = "three.npz", drop: tuple[str, ...] = (), **replace: object) -> str:
    """A copy of a model with keys dropped and others replaced (keys with dots given as `a__b`)."""
    members: dict[str, bytes | np.ndarray] = dict(arrays_of(source))
    for key in drop:
        del members[key]
    members.update({key.replace("__", "."): value for key, value in replace.items()})
    return write_members(name, members)


def fails_cleanly(model: str, key: str | None, *texts: str, data: str = "new.csv") -> str:
    """predict and eval both exit 2 with one `error: MODEL: KEY: ...` paragraph and print nothing on stdout."""
    stderr = ""
    for command in ("predict", "eval"):
        result = CliRunner().invoke(app, [command, model, data])
        assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
        assert result.stdout == ""
        stderr = result.stderr
        assert_one_error_paragraph(stderr)
        prefix = f"error: {model}: " + (f"{key}: " if key else "")
        assert stderr.startswith(prefix), stderr
        for text in texts:
            assert text in stderr, stderr
    return stderr


def peak_bytes(*args: str) -> int:
    """The peak of memory traced while the CLI runs `args` (numpy's arrays included)."""
    tracemalloc.start()
    try:
        CliRunner().invoke(app, list(args))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- sizes: nothing large is allocated before it is checked ------------------------------------------------------

def test_header_claiming_a_trillion_elements(here):
    model = changed("huge.npz", layers__0__weight=npy_header((10**12,), data=b"\0" * 64))
    fails_cleanly(model, "layers.0.weight", "declares shape (1000000000000,) of float32 (4000000000000 bytes) "
                                            "but holds 64 bytes: the file is damaged")
    assert peak_bytes("predict", model, "new.csv") < 32 << 20
    model = changed("short.npz", layers__0__bias=npy_header((6,), data=bytes(20)))
    fails_cleanly(model, "layers.0.bias", "declares shape (6,) of float32 (24 bytes) but holds 20 bytes")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak memory from /proc")
def test_header_claiming_a_trillion_elements_in_a_real_process_stays_small(here):
    model = changed("huge.npz", layers__0__weight=npy_header((10**6, 10**6), data=b"\0" * 64))
    # VmHWM: this process's peak resident memory (ru_maxrss would also count the forking pytest process)
    script = ("import re, sys\nfrom nncli.cli import app\ntry:\n    app(sys.argv[2:], prog_name='nncli')\nfinally:\n"
              "    status = open('/proc/self/status').read()\n"
              "    open(sys.argv[1], 'w').write(re.search(r'VmHWM:\\s*(\\d+)', status).group(1))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script, "rss.txt", "predict", model, "new.csv"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.startswith("error: huge.npz: layers.0.weight: declares shape (1000000, 1000000)"), done
    assert int(Path("rss.txt").read_text()) < 250_000  # kB: about 110 000 with numpy and pandas loaded


def test_zip_bomb_is_refused_before_inflating(here):
    """A member of 100 MB of zeros, deflated to about 100 kB: refused from the zip directory alone."""
    members = arrays_of("three.npz")
    del members["layers.0.weight"]
    write_members("bomb.npz", members)
    zeros = bytes(1 << 20)
    with (zipfile.ZipFile("bomb.npz", "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
          archive.open("layers.0.weight.npy", "w", force_zip64=True) as member):
            member.write(npy_header((100 << 18,)))
            for _ in range(100):
                member.write(zeros)
    assert Path("bomb.npz").stat().st_size < 1 << 20
    fails_cleanly("bomb.npz", "layers.0.weight", "would inflate from", "refused as a possible zip bomb")
    assert peak_bytes("eval", "bomb.npz", "new.csv") < 32 << 20


def test_architecture_far_larger_than_the_file(here):
    specs = runs.from_json_array(arrays_of("three.npz")["meta.architecture"])
    specs[0]["units"] = 10**9
    model = changed("wide.npz", meta__architecture=runs.json_array(specs))
    fails_cleanly(model, "meta.architecture", "describes a network of at least", "the file is damaged")
    assert peak_bytes("predict", model, "new.csv") < 32 << 20


def test_oversized_npy_header(here):
    header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }" + " " * 20_000 + "\n").encode()
    member = npy.MAGIC_PREFIX + b"\x02\x00" + struct.pack("<I", len(header)) + header + bytes(24)
    model = changed("header.npz", layers__0__bias=member)
    fails_cleanly(model, "layers.0.bias", "the .npy header is larger than 10000 bytes (20058 bytes)")


def test_oversized_meta_array(here):
    model = changed("names.npz", meta__versions=npy_header((70 << 20,), descr="|u1", data=bytes(70 << 20)))
    fails_cleanly(model, "meta.versions", f"holds {70 << 20} bytes; nncli's meta arrays are at most 64 MiB")


# --- what the zip holds -----------------------------------------------------------------------------------------

def test_pickled_objects_and_structured_dtypes_are_refused(here):
    model = changed("pickled.npz", meta__classes=np.array(["a", {"b": 1}, "c"], dtype=object))
    fails_cleanly(model, "meta.classes", "holds pickled Python objects, which nncli never loads")
    model = changed("void.npz", layers__0__bias=np.zeros(6, dtype=[("a", "<f4")]))
    fails_cleanly(model, "layers.0.bias", "has dtype", "which nncli never writes")


def test_member_that_is_not_npy(here):
    write_members("text.npz", arrays_of("three.npz"))
    with zipfile.ZipFile("text.npz", "a") as archive:
        archive.writestr("notes.txt", "hello")
    fails_cleanly("text.npz", "notes.txt", "is not a .npy array")


def test_duplicate_member(here):
    write_members("twice.npz", arrays_of("three.npz"))
    with pytest.warns(UserWarning), zipfile.ZipFile("twice.npz", "a") as archive:
        archive.writestr("layers.0.bias.npy", npy_bytes(np.ones(6, dtype=np.float32)))
    fails_cleanly("twice.npz", "layers.0.bias", "appears twice in the archive")


# --- the weights ------------------------------------------------------------------------------------------------

def test_nan_weight_and_infinite_batchnorm_statistic(here):
    weight = arrays_of("three.npz")["layers.0.weight"].copy()
    weight[1, 2] = np.nan
    fails_cleanly(changed("nan.npz", layers__0__weight=weight), "layers.0.weight",
                  "holds 1 non-finite value (NaN or infinity); a trained model's arrays are finite")
    running = arrays_of("three.npz")["layers.1.running_var"].copy()
    running[:2] = np.inf
    fails_cleanly(changed("inf.npz", layers__1__running_var=running), "layers.1.running_var",
                  "holds 2 non-finite values")


@pytest.mark.parametrize("dtype, words", [(np.float64, "holds floats (float64); expected float32"),
                                          (np.int64, "holds integers (int64); expected float32"),
                                          (np.complex64, "holds complex numbers (complex64); expected float32")])
def test_weight_of_the_wrong_dtype(here, dtype, words):
    weight = arrays_of("three.npz")["layers.2.weight"].astype(dtype)
    fails_cleanly(changed("dtype.npz", layers__2__weight=weight), "layers.2.weight", words)


def test_weight_of_the_wrong_shape(here):
    weight = arrays_of("three.npz")["layers.0.weight"][:, :4]
    fails_cleanly(changed("shape.npz", layers__0__weight=weight), "layers.0.weight",
                  "has shape (5, 4); the architecture needs (5, 6)")


def test_missing_and_extra_layer_arrays(here):
    fails_cleanly(changed("nobias.npz", drop=("layers.2.bias",)), "layers.2.bias", "is missing")
    fails_cleanly(changed("extra.npz", layers__1__scale=np.ones(6, np.float32)), "layers.1.scale",
                  "is not part of the network meta.architecture describes")
    fails_cleanly(changed("junk.npz", junk=np.ones(2)), "junk", "is not an array of an nncli model")


# --- the preprocessing ------------------------------------------------------------------------------------------

def test_feature_names_inconsistent_with_the_weights(here):
    meta = arrays_of("three.npz")
    model = changed("features.npz", meta__feature_names=np.array(["x", "y", "colour", "z"]),
                    meta__categorical=np.append(meta["meta.categorical"], False),
                    **{f"meta__{key}": np.append(meta[f"meta.{key}"], 1.0)
                       for key in ("impute_values", "scale_offset", "scale_divisor")})
    fails_cleanly(model, "meta.feature_names", "the 4 features encode to 6 inputs, but the network "
                                               "(meta.input_width) takes 5")


def test_classes_inconsistent_with_the_output_layer(here):
    model = changed("classes.npz", meta__classes=np.array(["a", "b", "c", "d"]))
    fails_cleanly(model, "meta.classes", "lists 4, which needs an output layer of one unit per class (4), but the "
                                         "network's output layer has 3 units")


def test_regression_targets_inconsistent_with_the_output_layer(here):
    model = changed("targets.npz", source="line.npz", meta__target_names=np.array(["y", "z"]))
    fails_cleanly(model, "meta.target_names", "output layer has 1 units", data="one.csv")


def test_scale_divisor_of_the_wrong_length(here):
    model = changed("divisor.npz", meta__scale_divisor=np.ones(2))
    fails_cleanly(model, "meta.scale_divisor", "is a float64 array of shape (2,); expected 3 floats, one per "
                                               "feature")


def test_scale_divisor_of_zero_and_nan_offset(here):
    divisor = arrays_of("three.npz")["meta.scale_divisor"].copy()
    divisor[1] = 0
    fails_cleanly(changed("zero.npz", meta__scale_divisor=divisor), "meta.scale_divisor", "is 0 for feature 'y'")
    offset = arrays_of("three.npz")["meta.scale_offset"].copy()
    offset[0] = np.nan
    fails_cleanly(changed("offset.npz", meta__scale_offset=offset), "meta.scale_offset",
                  "is not finite for feature 'x'")


def test_categorical_vocabularies(here):
    fails_cleanly(changed("vocab.npz", meta__categories__colour=np.array(["blue", "red", "blue"])),
                  "meta.categories.colour", "repeats 'blue'")
    fails_cleanly(changed("novocab.npz", drop=("meta.categories.colour",)), "meta.categories.colour",
                  "is missing")
    fails_cleanly(changed("strayvocab.npz", meta__categories__x=np.array(["1", "2"])), "meta.categories.x",
                  "is a vocabulary for 'x', which is not a categorical feature")


def test_missing_meta_and_bad_choices(here):
    fails_cleanly(changed("noclasses.npz", drop=("meta.classes",)), "meta.classes", "is missing")
    fails_cleanly(changed("nodtype.npz", drop=("meta.dtype",)), "meta.dtype", "is missing")
    fails_cleanly(changed("float16.npz", meta__dtype=np.array("float16")), "meta.dtype",
                  "expected one of float32, float64")
    fails_cleanly(changed("scale.npz", meta__scale=np.array("robust")), "meta.scale",
                  "expected one of standard, minmax, none")
    fails_cleanly(changed("task.npz", meta__task=np.array("regression")), "meta.task",
                  "is 'regression' but meta.config says 'classification'")


# --- what still works -------------------------------------------------------------------------------------------

def test_a_valid_model_loads_with_fortran_order_and_big_endian_arrays(here):
    expected = load_model("three.npz").predict_frame(pd.read_csv("new.csv"))
    arrays = arrays_of("three.npz")
    changed("layout.npz", layers__0__weight=np.asfortranarray(arrays["layers.0.weight"]),
            layers__2__weight=arrays["layers.2.weight"].astype(">f4"))
    pd.testing.assert_frame_equal(load_model("layout.npz").predict_frame(pd.read_csv("new.csv")), expected)


def test_read_arrays_round_trips_every_kind(tmp_path):
    arrays = {"f": np.arange(6.0).reshape(2, 3), "i": np.arange(4), "b": np.array(True), "u": np.array(["ab", "c"]),
              "e": np.zeros((0, 3), np.float32), "t": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    runs.write_arrays(tmp_path / "all.npz", arrays)
    loaded = runs.read_arrays(tmp_path / "all.npz")
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape


def test_a_damaged_crc_is_reported(tmp_path):
    runs.write_arrays(tmp_path / "m.npz", {"w": np.arange(100.0)})
    data = bytearray((tmp_path / "m.npz").read_bytes())
    data[200] ^= 0xFF  # inside the array data of the stored member
    (tmp_path / "m.npz").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"m.npz: w: cannot be read: the file is damaged"):
        npz.read_arrays(tmp_path / "m.npz", "m.npz")


# --- the checkpoint ---------------------------------------------------------------------------------------------

def resume_fails(trained: Path, name: str, key: str, *texts: str, **replace: object) -> None:
    """--resume from a copy of the classifier's checkpoint with some arrays replaced fails before training."""
    run = trained / name
    run.mkdir()
    members: dict[str, bytes | np.ndarray] = dict(arrays_of(str(trained / "three" / "checkpoint.npz")))
    members.update({key.replace("__", "."): value for key, value in replace.items()})
    write_members(str(run / "checkpoint.npz"), members)
    (run / runs.RUN_MARKER).touch()  # a run directory nncli started
    result = CliRunner().invoke(app, ["train", str(trained / "three.yaml"), "--out", str(run), "--resume", "--quiet",
                                      "--set", "training.epochs=4"])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert_one_error_paragraph(result.stderr)
    assert result.stderr.startswith(f"error: {run / 'checkpoint.npz'}: {key}: "), result.stderr
    for text in texts:
        assert text in result.stderr, result.stderr
    assert sorted(os.listdir(run)) == sorted(["checkpoint.npz", runs.RUN_MARKER])


def test_checkpoint_claiming_a_trillion_elements(trained):
    resume_fails(trained, "huge", "model.layers.0.weight", "declares shape (1000000000000,)",
                 model__layers__0__weight=npy_header((10**12,), data=bytes(64)))


def test_checkpoint_array_of_the_wrong_shape(trained):
    resume_fails(trained, "shape", "optimizer.exp_avg_sum.0", "has shape (7,); the run's network and optimizer need",
                 optimizer__exp_avg_sum__0=np.zeros(7, np.float32))


def test_checkpoint_with_nan_weights(trained):
    weight = np.full((5, 6), np.nan, dtype=np.float32)
    resume_fails(trained, "nan", "model.layers.0.weight", "holds non-finite weights", model__layers__0__weight=weight)


# --- eval output --------------------------------------------------------------------------------------------------

def test_eval_json_of_an_undefined_r2_is_null(here):
    result = CliRunner().invoke(app, ["eval", "line.npz", "one.csv", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout, parse_constant=lambda constant: pytest.fail(f"{constant} is not JSON"))
    assert report["r2"] is None and report["per_target"]["y"]["r2"] is None
    assert isinstance(report["mse"], float)
    table = CliRunner().invoke(app, ["eval", "line.npz", "one.csv"])
    assert table.exit_code == 0
    assert [line.split()[-2] for line in table.stdout.splitlines() if " r2 " in line] == ["n/a"]
