"""The binary CSV cache, the block reader and the memory-lean load: same frames, arrays and errors as parsing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nncli.data import Preprocessor, blocks, cache, read_table, reading
from nncli.errors import DataError
from tests.test_data import load

MIXED = ("n,x,t,b,y\n" + "".join(f"{i},{i * 0.25 if i % 7 else ''},{'tõ' if i % 3 else ''}{i % 5},"
                                 f"{bool(i % 2)},{'ab'[i % 2]}\n" for i in range(300)))


@pytest.fixture(autouse=True)
def small_files_cached(monkeypatch, tmp_path_factory):
    """Cache even tiny files, each test in a cache of its own; blocks of BLOCK_BYTES whatever the width."""
    monkeypatch.setattr(cache, "MIN_BYTES", 0)
    monkeypatch.setattr(blocks, "COLUMN_BYTES", 0)
    monkeypatch.delenv("NNCLI_CACHE", raising=False)
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def parses(monkeypatch) -> list[Path]:
    """The files read_table parsed (rather than loaded from the cache)."""
    seen: list[Path] = []
    original = reading._parse

    def spy(path, *args):
        seen.append(path)
        return original(path, *args)

    monkeypatch.setattr(reading, "_parse", spy)
    return seen


def write(folder: Path, text: str, name: str = "data.csv") -> Path:
    path = folder / name
    path.write_bytes(text.encode())
    return path


def cache_files() -> list[Path]:
    """The cache files in nncli's cache folder (its tag aside)."""
    cache.wait()  # for the background writes
    directory = cache.directory()
    return sorted(path for path in directory.iterdir() if path.name != "CACHEDIR.TAG") if directory.exists() else []


def data_error(call, *args, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def first_array_offset(data: bytes) -> int:
    """Where the first array of a cache file starts (after its JSON header)."""
    length = int.from_bytes(data[len(cache._MAGIC):cache._PREFIX], "little")
    return cache._aligned(cache._PREFIX + length)


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert list(left.dtypes) == list(right.dtypes)
    assert type(left.index) is type(right.index) and left.columns.dtype == right.columns.dtype


# ----- the table cache


def test_cache_hit_gives_an_identical_frame(tmp_path, parses):
    path = write(tmp_path, MIXED)
    parsed = read_table(path)
    assert len(cache_files()) == 1 and len(parses) == 1
    cached = read_table(path)
    assert len(parses) == 1  # loaded, not parsed
    assert_same(cached, parsed)
    assert cached["x"].isna().sum() == parsed["x"].isna().sum() > 0


def test_cached_rows_keep_their_file_lines(tmp_path, parses):
    path = write(tmp_path, "a,b\n1,2\n\n3,4\n5,6\n")  # a blank line shifts the following rows' lines
    parsed = read_table(path)
    cached = read_table(path)
    assert len(parses) == 1 and cached.index.tolist() == parsed.index.tolist() == [0, 2, 3]
    assert_same(cached, parsed)


@pytest.mark.parametrize("change", ["same size, same mtime", "other size", "touch"])
def test_a_changed_file_is_parsed_again(tmp_path, parses, change):
    path = write(tmp_path, MIXED)
    expected = read_table(path)
    status = path.stat()
    if change == "touch":
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000))
    else:
        text = MIXED.replace("\n150,", "\n151,") if change.startswith("same") else MIXED + "999,1,z,True,a\n"
        write(tmp_path, text)
        if change.startswith("same"):
            assert path.stat().st_size == status.st_size
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        expected = pd.read_csv(path, index_col=False)
    assert_same(read_table(path), expected)
    assert len(parses) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "garbage", "empty"])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path, parses, damage):
    path = write(tmp_path, MIXED)
    parsed = read_table(path)
    [stored] = cache_files()
    data = bytearray(stored.read_bytes())
    if damage == "truncate":
        data = data[:len(data) - 100]
    elif damage == "flip a byte":
        data[first_array_offset(data) + 3] ^= 0xFF
    elif damage == "garbage":
        data[:64] = os.urandom(64)
    else:
        data = bytearray()
    stored.write_bytes(bytes(data))
    assert_same(read_table(path), parsed)
    assert len(parses) == 2
    assert_same(read_table(path), parsed)  # the rebuilt cache serves the next read
    assert len(parses) == 2 and cache_files() == [stored]


def test_nncli_cache_0_turns_it_off(tmp_path, parses, monkeypatch):
    monkeypatch.setenv("NNCLI_CACHE", "0")
    path = write(tmp_path, MIXED)
    read_table(path)
    read_table(path)
    assert len(parses) == 2 and not cache.directory().exists()


def test_nncli_cache_dir_moves_it(tmp_path, parses, monkeypatch):
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "elsewhere"))
    path = write(tmp_path, MIXED)
    read_table(path)
    read_table(path)
    assert len(parses) == 1 and sorted(path.name for path in tmp_path.iterdir()) == ["data.csv", "elsewhere"]
    assert cache_files()[0].parent == tmp_path / "elsewhere" / cache.DIRECTORY and len(cache_files()) == 1


def test_an_unwritable_cache_directory_means_no_cache(tmp_path, parses, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "file" / "cache"))
    path = write(tmp_path, MIXED)
    assert_same(read_table(path), read_table(path))
    assert len(parses) == 2


def test_a_read_only_data_directory_is_cached_and_left_alone(tmp_path, parses):
    path = write(tmp_path, MIXED)
    tmp_path.chmod(0o555)
    try:
        assert_same(read_table(path), read_table(path))
    finally:
        tmp_path.chmod(0o755)
    assert len(parses) == 1 and len(cache_files()) == 1 and [path.name for path in tmp_path.iterdir()] == ["data.csv"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_cache_directory_means_no_cache(tmp_path, parses, monkeypatch):
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir(mode=0o555)
    path = write(tmp_path, MIXED)
    try:
        assert_same(read_table(path), read_table(path))
    finally:
        (tmp_path / "cache").chmod(0o755)
    assert len(parses) == 2 and not cache.directory().exists()


def test_a_failed_write_leaves_no_cache_and_no_temporary_file(tmp_path, parses, monkeypatch):
    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    path = write(tmp_path, MIXED)
    read_table(path)
    assert not cache_files()


def test_a_background_write_finishes_before_the_process_exits(tmp_path):
    path = write(tmp_path, MIXED)
    script = "import sys; from nncli.data import cache, read_table; cache.MIN_BYTES = 0; read_table(sys.argv[1])"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert len(cache_files()) == 1
    assert cache.load_table(path, ",", cache.file_key(path)) is not None


def old_file(path: Path, content: bytes = b"half a cache") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (0, 0))
    return path


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    stale = old_file(cache.directory() / ".nncli-tmp-killed.part")
    read_table(write(tmp_path, MIXED))
    assert len(cache_files()) == 1 and not stale.exists()


def test_files_nncli_did_not_name_are_never_touched_in_a_shared_folder(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    monkeypatch.setenv("NNCLI_CACHE_DIR", str(shared))
    names = [".tmp-notes.part", ".tmp-draft", ".nncli-tmp-mine.txt", "nncli-tmp-x.part", "data.csv.cache"]
    mine = [old_file(shared / name, name.encode()) for name in names]
    mine += [old_file(shared / cache.DIRECTORY / name, name.encode()) for name in names]
    os.mkdir(shared / cache.DIRECTORY / ".nncli-tmp-folder.part")  # a directory, even if named like ours
    read_table(write(tmp_path, MIXED))
    assert len(cache_files()) == 1 + len(names) + 1
    assert all(path.read_bytes() == path.name.encode() for path in mine)
    assert (shared / cache.DIRECTORY / ".nncli-tmp-folder.part").is_dir()


def test_the_default_place_is_the_user_cache_directory(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("NNCLI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("nncli", appauthor=False)) / cache.DIRECTORY
    if sys.platform.startswith("linux"):
        assert expected == tmp_path / "xdg" / "nncli" / cache.DIRECTORY
    assert cache.directory() == expected
    (tmp_path / "data").mkdir()
    read_table(write(tmp_path / "data", MIXED))
    if sys.platform.startswith("linux"):
        assert [stored.parent for stored in cache_files()] == [expected]
        assert (expected / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
        if hasattr(os, "getuid"):
            assert expected.stat().st_mode & 0o777 == 0o700
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["data.csv"]


def test_no_home_directory_means_no_cache(tmp_path, monkeypatch, parses):
    import platformdirs

    monkeypatch.delenv("NNCLI_CACHE_DIR")
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *args, **kwargs: "~/.cache/nncli")
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, MIXED)
    assert cache.directory() is None
    assert_same(read_table(path), read_table(path))
    assert len(parses) == 2 and [path.name for path in tmp_path.iterdir()] == ["data.csv"]


@pytest.mark.parametrize("what", ["a link to a folder", "a file"])
def test_a_cache_folder_that_is_not_nncli_s_own_is_not_used(tmp_path, parses, what):
    folder = cache.directory()
    folder.parent.mkdir(parents=True, exist_ok=True)
    if what == "a file":
        folder.write_text("mine")
    else:
        (tmp_path / "elsewhere").mkdir()
        folder.symlink_to(tmp_path / "elsewhere")
    path = write(tmp_path, MIXED)
    assert_same(read_table(path), read_table(path))
    cache.wait()
    assert len(parses) == 2
    assert (folder.read_text() == "mine") if what == "a file" else not any((tmp_path / "elsewhere").iterdir())


def test_small_files_are_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_BYTES", 1 << 20)
    read_table(write(tmp_path, MIXED))
    assert not cache_files()


def test_files_that_fail_to_parse_are_never_cached(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,5\n6,7,8\n")
    first = data_error(read_table, path, display_path="t.csv")
    assert first == data_error(read_table, path, display_path="t.csv")
    assert first.startswith("t.csv:3: expected 3 fields") and not cache_files()


def test_errors_name_the_same_line_with_and_without_the_cache(tmp_path, parses, monkeypatch):
    rows = [f"{i},{i % 2}" for i in range(40)]
    rows[30] = "oops,1"
    path = write(tmp_path, "x,y\n\n" + "\n".join(rows) + "\n")  # a blank line: lines are not row + 2
    settings = SimpleNamespace(data=SimpleNamespace(
        train=path, valid=None, delimiter="auto", missing="error", test=None, target="y", features="all",
        categorical="auto", scale="standard"), task="auto", loss={"type": "binary_crossentropy"},
        dtype="float32", layers=[{"type": "dense", "units": 1}])
    frame = read_table(path)
    expected = ":33: column 'x': expected a number, got 'oops' (the column is numeric)"
    fit = dict(target="y", features="all", categorical="auto", scale="standard", missing="error",
               task="classification", target_encoding="binary", source="t.csv")
    assert data_error(Preprocessor.fit, frame, **fit).endswith(expected)
    assert data_error(Preprocessor.fit, read_table(path), **fit).endswith(expected)
    assert len(parses) == 1
    assert data_error(load, settings, np.random.default_rng(0)).endswith(expected)
    monkeypatch.setenv("NNCLI_CACHE", "0")
    assert data_error(load, settings, np.random.default_rng(0)).endswith(expected)


# ----- the block reader


def block_file(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["a,b,label,c,d"]
    for i in range(400):
        a = "" if i % 37 == 0 else repr(float(rng.normal() * 1e3))
        b = str(int(rng.integers(-9, 9))) if i < 200 else f"{rng.normal():.3f}"  # ints, then floats
        lines.append(f"{a},{b},{i % 3},{'xyz'[i % 3]},{rng.integers(0, 2**40)}" if i != 120 else "")
    return write(folder, "\r\n".join(lines) + "\r\n")


def test_blocks_give_the_whole_file_frame_cast(tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 300)
    path = block_file(tmp_path)
    whole = read_table(path)
    lean = blocks.parse_blocks(path, ",", path.read_bytes()[:100], np.dtype(np.float32), exact=["label"])
    assert lean is not None
    lean = reading._check_rows(lean, path, ",", "t.csv")
    expected = whole.astype({"a": np.float32, "b": np.float32, "d": np.float32})
    assert_same(lean, expected)
    assert expected["b"].dtype == np.float32 and whole["b"].dtype == np.float64  # ints and floats joined


@pytest.mark.parametrize("text", ['a,b\n1,"x"\n' * 200, "a,b\n" + "1,2\n" * 200 + "x,2\n" * 5])
def test_blocks_step_aside_for_quotes_and_for_types_that_differ(tmp_path, monkeypatch, text):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    path = write(tmp_path, text)
    assert blocks.parse_blocks(path, ",", text.encode()[:10], np.dtype(np.float32)) is None
    assert_same(read_table(path, numbers=np.float32), read_table(path))


def test_blocks_report_the_whole_file_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    path = write(tmp_path, "a,b,c\n" + "1,2,3\n" * 100 + "4,5\n" + "1,2,3\n" * 20)
    message = data_error(read_table, path, display_path="t.csv", numbers=np.float32)
    assert message == data_error(read_table, path, display_path="t.csv")
    assert message.startswith("t.csv:102: expected 3 fields")


# ----- prepared datasets


def settings_for(path: Path, **data) -> SimpleNamespace:
    options = dict(train=path, valid=0.25, delimiter="auto", missing="drop", test=None, target="label",
                   features="all", categorical="auto", scale="standard")
    options.update(data)
    return SimpleNamespace(data=SimpleNamespace(**options), task="auto", dtype="float32",
                           loss={"type": "categorical_crossentropy"}, layers=[{"type": "dense", "units": 3}])


def same_datasets(left, right) -> None:
    for part in ("train", "valid", "test"):
        a, b = getattr(left, part), getattr(right, part)
        assert (a is None) == (b is None)
        if a is not None:
            for field in ("features", "targets", "frame_rows"):
                assert np.array_equal(getattr(a, field), getattr(b, field))
                assert getattr(a, field).dtype == getattr(b, field).dtype
    before, after = left.preprocessor.to_arrays(), right.preprocessor.to_arrays()
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])  # NaN (no imputation value) equals NaN


def test_prepared_datasets_are_cached_with_the_split_state(tmp_path, monkeypatch):
    path = block_file(tmp_path)
    first_rng, second_rng = np.random.default_rng(7), np.random.default_rng(7)
    first = load(settings_for(path), first_rng)
    monkeypatch.setattr(reading, "_parse", None)  # a second parse would fail
    monkeypatch.setattr(reading, "parse_blocks", None)
    second = load(settings_for(path), second_rng)
    same_datasets(first, second)
    assert first_rng.random() == second_rng.random()  # left where the split left it


def test_a_changed_setting_prepares_again(tmp_path):
    path = block_file(tmp_path)
    standard = load(settings_for(path), np.random.default_rng(0))
    minmax = load(settings_for(path, scale="minmax"), np.random.default_rng(0))
    other_seed = load(settings_for(path), np.random.default_rng(1))
    assert minmax.train.features.min() == 0 and standard.train.features.min() < 0
    assert not np.array_equal(other_seed.valid.frame_rows, standard.valid.frame_rows)


@pytest.mark.parametrize("valid", [0.25, None])
def test_block_reading_and_caching_do_not_change_the_arrays(tmp_path, monkeypatch, valid):
    path = block_file(tmp_path)
    monkeypatch.setenv("NNCLI_CACHE", "0")
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1 << 40)
    whole = load(settings_for(path, valid=valid), np.random.default_rng(3))
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 500)
    lean = load(settings_for(path, valid=valid), np.random.default_rng(3))
    monkeypatch.delenv("NNCLI_CACHE")
    load(settings_for(path, valid=valid), np.random.default_rng(3))
    cached = load(settings_for(path, valid=valid), np.random.default_rng(3))
    same_datasets(whole, lean)
    same_datasets(whole, cached)


def test_float32_inputs_are_the_same_from_a_float32_or_a_float64_table():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({"x": rng.normal(1e6, 3.0, 500), "z": rng.normal(0, 1, 500), "y": rng.integers(0, 2, 500)})
    narrow = wide.astype({"x": np.float32, "z": np.float32})
    options = dict(target="y", features="all", categorical="auto", scale="standard", missing="error",
                   task="classification", target_encoding="binary", source="t", dtype=np.float32)
    from_wide, prepared_wide = Preprocessor.fit_prepare(wide, **options)
    from_narrow, prepared_narrow = Preprocessor.fit_prepare(narrow, **options)
    assert np.array_equal(from_wide.offset, from_narrow.offset)
    assert np.array_equal(from_wide.divisor, from_narrow.divisor)
    assert np.array_equal(from_wide.features(prepared_wide, np.float32),
                          from_narrow.features(prepared_narrow, np.float32))
