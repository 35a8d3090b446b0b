"""Oversized input is refused before it costs time or memory: configs over 1 MiB or 100000 values, run names no
directory can carry, networks larger than the machine, each with exit 2 and one `error:` paragraph naming the
file and field. The CSV cache never touches a file it did not create."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nncli import memory
from nncli.arrays import fit_arrays
from nncli.cli import app
from nncli.config import config_from_dict, load_config, parse_config, yamlio
from nncli.data import cache
from nncli.errors import ConfigError
from tests.test_errors import CONFIG, assert_one_error_paragraph, csv_lines, fails, replaced, run_nncli, with_config


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with the valid config of test_errors and its data."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("\n".join(csv_lines()) + "\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config_error(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def flow_list(items: int) -> str:
    return "[" + ",".join(["1"] * items) + "]"


# --- config size ---------------------------------------------------------------------------------------------


def test_a_50_mb_config_is_refused_unread(project):
    Path("config.yaml").write_text(CONFIG + "extra: " + flow_list(25_000_000) + "\n")
    size = Path("config.yaml").stat().st_size
    started = time.perf_counter()
    message = config_error(load_config, "config.yaml")
    assert time.perf_counter() - started < 1.0
    assert message == f"config.yaml: the file is {size} bytes; configs are limited to 1 MiB"
    fails("check", "config.yaml", expect=(message,))


def test_a_config_of_exactly_1_mib_is_read(project):
    padding = yamlio.MAX_BYTES - len(CONFIG.encode()) - 3
    Path("config.yaml").write_text(CONFIG + "# " + "x" * padding + "\n")
    assert Path("config.yaml").stat().st_size == yamlio.MAX_BYTES
    assert load_config("config.yaml").name == "tiny"
    with open("config.yaml", "a") as more:
        more.write("\n")
    assert "limited to 1 MiB" in config_error(load_config, "config.yaml")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_file_is_read_no_further_than_the_limit():
    assert config_error(load_config, "/dev/zero") == \
        "/dev/zero: the file is more than 1048576 bytes; configs are limited to 1 MiB"


def test_a_long_document_is_refused_while_parsing(project):
    with_config(CONFIG + "extra: " + flow_list(200_000) + "\n")
    started = time.perf_counter()
    message = config_error(load_config, "config.yaml")
    elapsed = time.perf_counter() - started
    assert message == "config.yaml:18: the document holds more than 100000 values"
    if yaml.__with_libyaml__:
        assert elapsed < 5.0, elapsed  # PyYAML alone takes about 10 s on a busy host to compose it
    fails("check", "config.yaml", expect=(message,))


@pytest.mark.parametrize("libyaml", [True, False])
def test_values_are_counted_alike_with_and_without_libyaml(monkeypatch, libyaml):
    monkeypatch.setattr(yamlio, "MAX_VALUES", 50)
    if not libyaml:
        monkeypatch.delattr(yaml, "CBaseLoader", raising=False)
    elif not yaml.__with_libyaml__:
        pytest.skip("no libyaml")
    # 50 values: the root mapping, 1, b's mapping and its 39 values, c's list and its 7 items (keys are not values)
    fits = "a: 1\nb: {" + ", ".join(f"k{i}: {i}" for i in range(39)) + "}\nc: " + flow_list(7) + "\n"
    assert len(yamlio.read_yaml(fits, "x")[0]["b"]) == 39
    over = fits.replace("a: 1", "a: [1]")
    assert config_error(yamlio.read_yaml, over, "x") == "x:3: the document holds more than 50 values"


@pytest.mark.parametrize("text, expected", [("a: \ud800", "x:1: unacceptable character #xd800"),
                                            ("a: [1, 2", "x:1:9: expected ',' or ']'")])
def test_text_libyaml_cannot_count_gets_pyyaml_s_message(text, expected):
    assert config_error(yamlio.read_yaml, text, "x").startswith(expected)


def test_aliases_are_still_capped_after_expanding():
    text = "a: &a " + flow_list(1000) + "\nb: [" + ", ".join(["*a"] * 200) + "]\n"
    assert "more than 100000 values (after expanding aliases)" in config_error(yamlio.read_yaml, text, "x")


def test_a_long_document_given_as_text_is_refused():
    text = "name: x\nextra: '" + "x" * yamlio.MAX_BYTES + "'\n"
    assert config_error(parse_config, text, source="given.yaml").startswith(
        f"given.yaml: the document is {len(text)} bytes; configs are limited to 1 MiB")


def test_long_set_values_are_refused_and_not_echoed(project):
    override = "extra=" + "x" * yamlio.MAX_BYTES
    message = fails("check", "config.yaml", "--set", override,
                    expect=(f"the override is {len(override)} bytes; configs are limited to 1 MiB",))
    assert len(message) < 300
    message = fails("check", "config.yaml", "--set", "extra=" + flow_list(200_000),
                    expect=("--set extra=[1,1,", "...: the document holds more than 100000 values"))
    assert len(message) < 300


# --- run names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("a" * 300, "name: must be at most 200 bytes to make a directory name, got 300 bytes"),
    ("é" * 101, "name: must be at most 200 bytes to make a directory name, got 202 bytes"),
    ('"a\\0b"', "name: must be a name usable as a directory name"),
    ('"a\\tb"', "name: must be a name usable as a directory name"),
    ('"a\\x7fb"', "name: must be a name usable as a directory name"),
    ("a/b", "name: must be a name usable as a directory name (no '/' or '\\')"),
    ("'..'", "name: must be a name usable as a directory name"),
    ("'.'", "name: must be a name usable as a directory name"),
    ("''", "name: must be a name usable as a directory name"),
])
def test_names_no_directory_can_carry_are_refused(project, name, expected):
    with_config(replaced("name: tiny", f"name: {name}"))
    fails("check", "config.yaml", expect=("config.yaml:1: " + expected,))
    fails("train", "config.yaml", expect=("config.yaml:1: " + expected,))


def test_the_longest_name_trains_and_takes_a_suffix(project):
    name = "é" * 99 + "ab"  # 200 bytes
    with_config(replaced("name: tiny", f"name: {name}").replace("epochs: 3", "epochs: 1"))
    for _ in range(2):
        result = CliRunner().invoke(app, ["train", "config.yaml"])
        assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in Path("runs").iterdir()) == [name, name + "-2"]


# --- network size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("units, words", [(2_000_000_000, "with 2,000,000,000 units the network needs about"),
                                          (10**30, "with 1,000,000,000,000,000,000,000,000,000,000 units")])
def test_a_network_larger_than_the_machine_is_refused(project, units, words):
    with_config(replaced("units: 8", f"units: {units}"))
    for command in ("check", "train"):
        message = fails(command, "config.yaml", expect=("config.yaml:8: layers[0].units: " + words,
                                                        "of memory to train", "adam state", "allowed"))
        assert "MemoryError" not in message and "ValueError" not in message
    fails("check", "config.yaml", "--set", f"layers.2.units={units}",
          expect=(f"--set layers.2.units={units}: layers[2].units: with",))


def test_the_size_and_the_limit_are_named(project, monkeypatch):
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 100 << 20)
    with_config(replaced("units: 8", "units: 1000000"))
    # 5 inputs (x, y, three colours): (5 + 1) * 1e6 + 1e6 + 1 parameters, 5 arrays of each for adam (value,
    # gradient, two averages, one work array of its numpy passes), 4 bytes
    # each; outputs and their gradients of the dense, dropout and output layers for the 30 training rows
    fails("check", "config.yaml", expect=(
        "config.yaml:8: layers[0].units: with 1,000,000 units the network needs about 591 MiB of memory to train "
        "(7,000,001 parameters with their gradients and adam state: 134 MiB; layer outputs for 30 rows: 458 MiB),"
        " more than the 100 MiB allowed",))
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 700 << 20)
    assert CliRunner().invoke(app, ["check", "config.yaml"]).exit_code == 0


def test_a_batch_too_large_is_named(project, monkeypatch):
    rng = np.random.default_rng(0)
    rows = ["x,label"] + [f"{value:.3f},{int(value > 0)}" for value in rng.normal(size=20_000)]
    Path("data/train.csv").write_text("\n".join(rows) + "\n")
    with_config(replaced("batch_size: 8", "batch_size: 20000").replace("units: 8", "units: 512"))
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 20 << 20)
    fails("check", "config.yaml", expect=("config.yaml:17: training.batch_size: with batches of 15,000 rows",))


def test_arrays_training_checks_the_size_too(monkeypatch):
    monkeypatch.setattr(memory, "MEMORY_LIMIT", 1 << 20)
    config = config_from_dict({"layers": [{"type": "dense", "units": 100_000}, {"type": "dense", "units": 1}]})
    message = config_error(fit_arrays, config, np.zeros((4, 3)), np.zeros((4, 1)))
    assert message.startswith("<dict>: layers[0].units: with 100,000 units the network needs about")


def test_the_default_limit_is_half_the_memory():
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    assert memory.MEMORY_LIMIT is None and memory.memory_limit() > 0
    if total is not None:
        assert memory.memory_limit() <= total // 2


def test_a_huge_network_fails_cleanly_in_a_real_process(project):
    with_config(replaced("units: 8", "units: 2000000000"))
    done = run_nncli("train", "config.yaml")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: config.yaml:8: layers[0].units: with 2,000,000,000 units")
    assert_one_error_paragraph(done.stderr)
    assert not Path("runs").exists()


# --- the cache -----------------------------------------------------------------------------------------------


def test_a_run_with_a_shared_cache_folder_leaves_its_files_alone(project, monkeypatch):
    shared = project.parent / "shared"
    shared.mkdir()
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(shared))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    theirs = {name: name.encode() for name in (".tmp-notes", ".tmp-a.part", ".nncli-tmp-b", "nncli-cache.txt")}
    for name, content in theirs.items():
        (shared / name).write_bytes(content)
        os.utime(shared / name, (0, 0))
    data_before = sorted(Path("data").iterdir())
    result = CliRunner().invoke(app, ["train", "config.yaml"])
    cache.wait()
    assert result.exit_code == 0, result.stderr
    assert {path.name: path.read_bytes() for path in shared.iterdir() if path.is_file()} == theirs
    assert sorted(path.suffix for path in (shared / cache.DIRECTORY).iterdir()) == [".TAG", ".datasets"]
    assert sorted(Path("data").iterdir()) == data_before


def test_an_unwritable_cache_folder_never_fails_a_run(project, monkeypatch):
    Path("blocker").write_text("a file where the cache folder would go")
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(project / "blocker" / "cache"))
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    result = CliRunner().invoke(app, ["train", "config.yaml"])
    cache.wait()
    assert result.exit_code == 0, result.stderr
    assert Path("blocker").read_text() == "a file where the cache folder would go"
