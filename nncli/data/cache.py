"""A binary cache of parsed CSV files, so an unchanged file is not parsed (and prepared) twice.

Where it lives: the folder `nncli-cache/` inside the user's cache directory (`platformdirs.user_cache_dir`:
`~/.cache/nncli` on Linux, honouring XDG_CACHE_HOME), or inside the directory named by the environment variable
NNCLI_CACHE_DIR; NNCLI_CACHE=0 turns caching off. nncli creates that folder (private to the user, with a
CACHEDIR.TAG) and never writes, reads or deletes anything outside it, nor in it a file it did not name: the
user's own files stay untouched even when NNCLI_CACHE_DIR is a folder they use. Files under MIN_BYTES are not
cached (parsing them is as fast). Each CSV file has one cache file per kind (its parsed table, the datasets
prepared from it by `load_datasets`), overwritten when the file or the settings change; deleting the folder is
always safe.

A cache file is a JSON header followed by raw numpy arrays: no pickle, text as codes into a vocabulary. Its
key is the CSV file's absolute path, size, mtime_ns, ctime_ns and inode, a digest of its first and last
64 KiB and of blocks sampled in between, the reading options and FORMAT_VERSION. A cache whose key differs,
that is cut short or whose arrays fail their checksum is ignored and written anew. Writes go to a temporary
file renamed into place, so readers see the old cache or the new one, never a torn one; a folder that
cannot be written means no cache, silently. Reading maps the file (copy-on-write) instead of copying it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import stat
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT_VERSION = 1
MIN_BYTES = 1 << 20
MAX_WORDS_BYTES = 256 << 20  # a text column whose words would take more is not cached
DIRECTORY = "nncli-cache"
"""nncli's own folder inside the cache location: the only place it writes, reads or deletes cache files."""
_MAGIC = b"nncli-cache\n"
_PREFIX = len(_MAGIC) + 8
_ALIGN = 64
_EDGE_BYTES = 1 << 16
_SAMPLES, _SAMPLE_BYTES = 14, 1 << 12
_DTYPE_KINDS = "biufU"  # no object arrays, ever
_TEMPORARY_PREFIX, _TEMPORARY_SUFFIX = ".nncli-tmp-", ".part"  # what only nncli's temporary files are named
_NAME_CHARACTERS = 100  # of the CSV file's name kept in its cache file's name, within any file-name limit
_CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                 "# This file is a cache directory tag created by nncli: backup tools may skip this folder.\n"
                 "# For information about cache directory tags, see https://bford.info/cachedir/\n")
_writers: dict[Path, threading.Thread] = {}  # background writes under way, by cache file

Arrays = dict[str, np.ndarray]


def enabled() -> bool:
    """False when NNCLI_CACHE says off (0, false, no, off)."""
    return os.environ.get("NNCLI_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def file_key(path: Path) -> dict[str, Any] | None:
    """What identifies a file's content without reading it all; None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            size = status.st_size
            starts = [0, *(size * (i + 1) // (_SAMPLES + 1) for i in range(_SAMPLES)), max(0, size - _EDGE_BYTES)]
            for number, start in enumerate(starts):
                handle.seek(start)
                digest.update(handle.read(_EDGE_BYTES if number in (0, len(starts) - 1) else _SAMPLE_BYTES))
    except OSError:
        return None
    return {"path": os.path.abspath(path), "size": size, "mtime_ns": status.st_mtime_ns,
            "ctime_ns": status.st_ctime_ns, "inode": status.st_ino, "device": status.st_dev,
            "sample": digest.hexdigest()}


def cache_path(path: Path, kind: str, *options: str) -> Path | None:
    """The cache file for `path` (one per kind and options), or None when caching is off or not worth it."""
    if not enabled():
        return None
    try:
        if os.path.getsize(path) < MIN_BYTES:
            return None
    except OSError:
        return None
    folder = directory()
    if folder is None:
        return None
    slot = hashlib.blake2b("\0".join([os.path.abspath(path), kind, *options]).encode(), digest_size=8)
    return folder / f"{Path(path).name[:_NAME_CHARACTERS]}.{slot.hexdigest()}.{kind}"


def directory() -> Path | None:
    """nncli's cache folder: `nncli-cache` in $NNCLI_CACHE_DIR, else in the user's cache directory.

    None when no absolute location is known (no home directory): a relative one would land in the
    working directory.
    """
    folder = os.environ.get("NNCLI_CACHE_DIR", "").strip()
    if folder:
        base = os.path.abspath(os.path.expanduser(folder))
    else:
        import platformdirs  # only when a file is big enough to cache: it costs start-up time

        base = platformdirs.user_cache_dir("nncli", appauthor=False)
    return Path(base) / DIRECTORY if os.path.isabs(base) else None


def store(target: Path, key: dict[str, Any], arrays: Arrays, meta: dict[str, Any], *,
          background: bool = False) -> None:
    """Write a cache file atomically; any failure (read-only directory, full disk) leaves no cache and no error.

    With `background`, a thread writes it while the caller goes on (the arrays must not change meanwhile; if
    they do, their checksums, taken now, reject the cache); the process waits for it before exiting.
    """
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    arrays = {name: array if array.flags.c_contiguous else array.copy(order="C") for name, array in arrays.items()}
    entries, offset = [], 0
    for name, array in arrays.items():
        if array.dtype.kind not in _DTYPE_KINDS:
            return
        entries.append([name, array.dtype.str, list(array.shape), offset, _checksum(array)])
        offset = _aligned(offset + array.nbytes)
    try:
        header = json.dumps({"version": FORMAT_VERSION, "key": key, "meta": meta, "arrays": entries,
                             "size": offset}).encode()
    except (TypeError, ValueError):
        return
    wait(target)
    if not background:
        _write(target, header, entries, list(arrays.values()), offset)
        return
    writer = threading.Thread(target=_write, args=(target, header, entries, list(arrays.values()), offset),
                              name="nncli-cache-writer")
    _writers[target] = writer
    writer.start()


def wait(target: Path | None = None) -> None:
    """Wait for the background writes of `target` (of every cache file when None) to finish."""
    for path in [target] if target is not None else list(_writers):
        writer = _writers.pop(path, None)
        if writer is not None:
            writer.join()


def _write(target: Path, header: bytes, entries: list, arrays: list[np.ndarray], size: int) -> None:
    temporary = None
    try:
        _make_folder(target.parent)
        if not _own_folder(target.parent):
            return
        _remove_stale_temporaries(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=_TEMPORARY_PREFIX, suffix=_TEMPORARY_SUFFIX)
        with os.fdopen(handle, "wb") as out:
            start = _aligned(_PREFIX + len(header))
            out.write(_MAGIC + struct.pack("<Q", len(header)) + header + bytes(start - _PREFIX - len(header)))
            for (_, _, _, position, _), array in zip(entries, arrays, strict=False):
                out.seek(start + position)
                out.write(_raw(array).data)
            out.truncate(start + size)
        os.replace(temporary, target)
    except Exception:  # a cache that cannot be written is no cache, never an error
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _make_folder(folder: Path) -> None:
    """Create nncli's cache folder, private to the user and tagged as a cache, unless it exists."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return
    try:
        with open(folder / "CACHEDIR.TAG", "x", encoding="ascii") as tag:
            tag.write(_CACHEDIR_TAG)
    except OSError:
        pass


def _own_folder(folder: Path) -> bool:
    """Is `folder` a directory itself (not a link to one) and, where there are owners, the user's own?"""
    try:
        status = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and (not hasattr(os, "getuid") or status.st_uid == os.getuid())


def _remove_stale_temporaries(folder: Path) -> None:
    """Temporary files a killed nncli left behind (an hour old: no live writer takes that long).

    Only files named as nncli names them: whatever else is in the folder is not nncli's to delete.
    """
    limit = time.time() - 3600
    for entry in os.scandir(folder):
        try:
            if (entry.name.startswith(_TEMPORARY_PREFIX) and entry.name.endswith(_TEMPORARY_SUFFIX)
                    and entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < limit):
                os.unlink(entry.path)
        except OSError:
            pass


def load(target: Path, key: dict[str, Any]) -> tuple[Arrays, dict[str, Any]] | None:
    """The arrays and meta stored under `key`, or None when missing, stale, cut short or damaged."""
    wait(target)
    if not _own_folder(target.parent):
        return None
    try:
        with open(target, "rb") as handle:
            prefix = handle.read(_PREFIX)
            if len(prefix) != _PREFIX or not prefix.startswith(_MAGIC):
                return None
            length = struct.unpack("<Q", prefix[len(_MAGIC):])[0]
            if length > os.fstat(handle.fileno()).st_size:
                return None
            header = json.loads(handle.read(length))
            if header.get("version") != FORMAT_VERSION or header.get("key") != _plain(key):
                return None
            start = _aligned(_PREFIX + length)
            if os.fstat(handle.fileno()).st_size != start + header["size"]:
                return None
            # A private copy-on-write mapping: no copy from the page cache, arrays writable, and nncli only ever
            # replaces cache files (never rewrites one in place), so the mapped file cannot shrink under us.
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
        arrays = {}
        for name, descr, shape, offset, checksum in header["arrays"]:
            dtype, shape = _safe_dtype(descr), tuple(int(n) for n in shape)
            count = int(np.prod(shape))
            if int(offset) + dtype.itemsize * count > header["size"]:
                return None
            if dtype.itemsize == 0:
                array = np.empty(shape, dtype=dtype)
            else:
                array = np.frombuffer(mapped, dtype=dtype, count=count, offset=start + int(offset)).reshape(shape)
            if _checksum(array) != checksum:
                return None
            arrays[str(name)] = array
        return arrays, header["meta"]
    except (OSError, ValueError, TypeError, KeyError, AttributeError, struct.error, MemoryError):
        return None


def _plain(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _raw(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1).view(np.uint8)


def _safe_dtype(descr: str) -> np.dtype:
    dtype = np.dtype(descr)
    if dtype.kind not in _DTYPE_KINDS or dtype.hasobject:
        raise ValueError(f"refused dtype {descr!r}")
    return dtype


def _checksum(array: np.ndarray) -> int:
    """The sum of the array's bytes as 64-bit words, wrapping: cheap (memory speed) and enough to catch damage."""
    raw = _raw(array)
    whole = raw.size - raw.size % 8
    return (int(raw[:whole].view(np.uint64).sum(dtype=np.uint64)) + int(raw[whole:].sum(dtype=np.uint64))) % 2**64


# ----- tables


def table_key(path: Path, sep: str) -> dict[str, Any] | None:
    """The key of the file's table cache, or None when it has no cache (caching off, small file)."""
    return None if cache_path(path, "table", sep) is None else file_key(path)


def load_table(path: Path, sep: str, key: dict[str, Any], options: dict[str, Any] | None = None) -> pd.DataFrame | None:
    """The frame cached for this file, delimiter and reading `options` (`read_table`'s na_values and text
    columns), if the file is unchanged since."""
    target = cache_path(path, "table", sep)
    found = None if target is None else load(target, {"file": key, "sep": sep, **(options or {})})
    if found is None:
        return None
    try:
        return _frame(*found)
    except (KeyError, ValueError, TypeError, IndexError):
        return None


def store_table(path: Path, sep: str, frame: pd.DataFrame, key: dict[str, Any] | None,
                options: dict[str, Any] | None = None) -> None:
    """Cache a parsed frame, keyed by the file as it was before parsing (nothing if it changed meanwhile)."""
    target = cache_path(path, "table", sep)
    if target is None or key is None or file_key(path) != key:
        return
    encoded = _frame_arrays(frame)
    if encoded is not None:
        store(target, {"file": key, "sep": sep, **(options or {})}, *encoded, background=True)


def _frame_arrays(frame: pd.DataFrame) -> tuple[Arrays, dict[str, Any]] | None:
    """A frame as arrays and a JSON description; None for what the cache does not hold exactly (object cells)."""
    arrays: Arrays = {}
    columns = []
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        dtype = column.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
            arrays[f"{position}"] = column.to_numpy()
        elif isinstance(dtype, pd.StringDtype) and pd.api.types.pandas_dtype(str(dtype)) == dtype:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            words = list(uniques)
            if len(words) * max(map(len, words), default=0) * 4 > MAX_WORDS_BYTES:
                return None  # a numpy text array is as wide as its longest word: one 20 MB cell makes it huge
            vocabulary = np.array(words, dtype=str) if words else np.array([], dtype="<U1")
            if vocabulary.tolist() != words:  # numpy drops trailing NUL characters
                return None
            arrays[f"{position}"] = codes.astype(np.int32 if len(words) < 2**31 else np.int64)
            arrays[f"{position}.words"] = vocabulary
        else:
            return None
        columns.append([name, str(dtype)])
    index = frame.index
    if index.name is not None or frame.columns.name is not None:
        return None
    if isinstance(index, pd.RangeIndex):
        where: Any = [index.start, index.stop, index.step]
    elif index.dtype == np.int64:
        where, arrays["index"] = "array", index.to_numpy()
    else:
        return None
    return arrays, {"columns": columns, "columns_dtype": str(frame.columns.dtype), "index": where}


def _frame(arrays: Arrays, meta: dict[str, Any]) -> pd.DataFrame:
    index = pd.Index(arrays["index"]) if meta["index"] == "array" else pd.RangeIndex(*meta["index"])
    data = {}
    for position, (name, dtype) in enumerate(meta["columns"]):
        values = arrays[f"{position}"]
        if f"{position}.words" in arrays:
            words = np.array([*arrays[f"{position}.words"].tolist(), np.nan], dtype=object)
            values = pd.array(words[values], dtype=pd.api.types.pandas_dtype(dtype))
        elif values.dtype != np.dtype(dtype):
            raise ValueError(f"column {name!r} is {values.dtype}, expected {dtype}")
        if len(values) != len(index):
            raise ValueError(f"column {name!r} has {len(values)} rows, expected {len(index)}")
        data[position] = values
    frame = pd.DataFrame(data, index=index, copy=False)
    frame.columns = pd.Index([name for name, _ in meta["columns"]], dtype=meta["columns_dtype"])
    return frame
