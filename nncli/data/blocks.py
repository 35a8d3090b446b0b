"""Large plain CSV files parsed in byte blocks on worker threads, numeric columns narrowed as each block is read.

pandas' own parallel reader maps the whole file and holds two float64 copies of the table at its peak. Here
worker threads each read a block of whole lines and parse it with pandas' C parser (which releases the GIL);
the block's numeric columns are cast to the requested dtype at once and copied straight into their final
arrays, so the table exists once, narrowed. The frame is the one pandas gives for the whole file, up to that
cast. Whatever this path cannot reproduce exactly (quoted fields, which may hold line breaks; a column whose
type differs between blocks; a number too large for the dtype; any parse problem) returns None, and the caller
parses the whole file instead, which also reports the errors.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import warnings
from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

# Blocks are BLOCK_BYTES for narrow tables and COLUMN_BYTES per column for wide ones, up to MAX_BLOCK_BYTES:
# pandas' work per block and column is held under the GIL, so wide tables want fewer, larger blocks.
BLOCK_BYTES = 4 << 20
COLUMN_BYTES = 32 << 10
MAX_BLOCK_BYTES = 32 << 20
GROUP_BYTES = 8 << 20
MAX_WORKERS = 8


class _Unsupported(Exception):
    """This file or block needs the whole-file parser."""


def parse_blocks(path: Path, sep: str, head: bytes, numbers: np.dtype, exact: Collection[str] = (),
                 na_values: Collection[str] = (), text: Collection[str] = ()) -> pd.DataFrame | None:
    """The table with numeric columns (except `exact`) as `numbers`, or None when the whole-file parser must do it.

    `head` holds the file's first line (with any BOM). Files of one block or less return None: parsing them
    whole costs little memory. `na_values` and `text` are `read_table`'s: more missing-cell texts, and the
    columns kept as text.
    """
    end = head.find(b"\n") + 1
    if not end or b'"' in head[:end] or not sep.isascii() or sep in "\r\n\"" or not hasattr(os, "pread"):
        return None
    try:
        size = os.path.getsize(path)
        names = _header(head[:end], sep) if size > BLOCK_BYTES else None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if names is None or not names.is_unique:
        return None
    block = max(BLOCK_BYTES, min(len(names) * COLUMN_BYTES, MAX_BLOCK_BYTES))
    if size <= block:
        return None
    table = _Table(len(names), numbers, size - end)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            reading = _Reading(sep, names, numbers, frozenset(exact), list(na_values) or None,
                               {name: str for name in text if name in names} or None)
            for parsed, length in _parse_all(path, end, block, reading):
                table.add(parsed, length)
        columns = table.columns()
    except (_Unsupported, OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.ParserWarning):
        return None
    finally:
        _trim_heap()
    return pd.DataFrame(dict(zip(names, columns, strict=True)), index=pd.RangeIndex(table.rows), columns=names,
                        copy=False)


class _Reading(NamedTuple):
    """How each block is parsed: the delimiter, the header's names, the dtype of numbers and the cell options."""

    sep: str
    names: pd.Index
    numbers: np.dtype
    exact: frozenset[str]
    na_values: list[str] | None
    text: dict[str, type] | None


class _Block(NamedTuple):
    """One parsed block: its rows, the cast columns' positions and values (k, rows), and the other columns."""

    rows: int
    cast: tuple[int, ...]
    numbers: np.ndarray
    others: dict[int, Any]


class _Table:
    """The columns filled block by block: the numeric ones go straight into their final arrays (no pieces to
    join, so memory stays at one table), the others are joined at the end."""

    def __init__(self, width: int, numbers: np.dtype, size: int):
        self.width, self.numbers, self.size = width, numbers, size
        self.rows = self.read = 0
        self.cast: tuple[int, ...] = ()
        # The numeric columns as rows of a few (columns, capacity) arrays of GROUP_BYTES or more: large enough
        # to be copied into in one call and to get huge pages, small enough to be freed group by group.
        self.groups: list[np.ndarray] = []
        self.per_group = 1
        self.pieces: dict[int, list] = {}

    def add(self, block: _Block, length: int) -> None:
        """Append one block; `length` is its size in bytes."""
        if self.read == 0:
            self.cast = block.cast
            self.pieces = {position: [] for position in block.others}
        elif block.cast != self.cast:
            raise _Unsupported("a column's type differs between blocks")
        self.read += length
        stop = self.rows + block.rows
        if self.cast and (not self.groups or stop > self.groups[0].shape[1]):
            self._grow(stop)
        for number, group in enumerate(self.groups):
            first = number * self.per_group
            group[:, self.rows:stop] = block.numbers[first:first + len(group)]
        for position, pieces in self.pieces.items():
            pieces.append(block.others[position])
        self.rows = stop

    def _grow(self, needed: int) -> None:
        # Rows expected from the bytes read so far, with a margin: untouched capacity costs no memory.
        capacity = max(needed, int(1.1 * needed * self.size / max(self.read, 1)) + 1024)
        old = [self._column(slot) for slot in range(len(self.cast))] if self.groups else []
        self.per_group = max(1, -(-GROUP_BYTES // (capacity * self.numbers.itemsize)))
        self.groups = [np.empty((min(self.per_group, len(self.cast) - first), capacity), dtype=self.numbers)
                       for first in range(0, len(self.cast), self.per_group)]
        for slot, values in enumerate(old):
            self.groups[slot // self.per_group][slot % self.per_group, :self.rows] = values

    def _column(self, slot: int) -> np.ndarray:
        return self.groups[slot // self.per_group][slot % self.per_group, :self.rows]

    def columns(self) -> list:
        """Every column as one array, in order."""
        slots = {position: slot for slot, position in enumerate(self.cast)}
        return [self._column(slots[position]) if position in slots else _join(self.pieces.pop(position))
                for position in range(self.width)]


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS: glibc keeps the parser threads' buffers (a third of the table)."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)


def _header(line: bytes, sep: str) -> pd.Index:
    """Column names exactly as pandas reads them from the header line."""
    return pd.read_csv(io.BytesIO(line), sep=sep, header=0, index_col=False, encoding="utf-8", engine="c").columns


def memory_quarter() -> int:
    """A quarter of the machine's physical memory in bytes (4 GiB where the system does not say): the most that
    one input stream or one feature matrix may take."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (AttributeError, ValueError, OSError):
        return 4 << 30


def worker_count() -> int:
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(available, MAX_WORKERS))


def _parse_all(path: Path, start: int, block: int, reading: _Reading):
    """Each block's columns and byte length, in file order; workers read their own blocks, at most two each
    waiting in memory."""
    workers = worker_count()
    pending: list[tuple[Future, int]] = []
    with open(path, "rb") as handle, ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for begin, end in _spans(handle, start, block, workers):
                job = pool.submit(_read_block, handle.fileno(), begin, end, reading)
                pending.append((job, end - begin))
                while len(pending) >= 2 * workers:
                    future, length = pending.pop(0)
                    yield future.result(), length
            while pending:
                future, length = pending.pop(0)
                yield future.result(), length
        finally:
            for future, _ in pending:
                future.cancel()


def _spans(handle: io.BufferedReader, start: int, block: int, workers: int):
    """(begin, end) byte offsets of blocks of whole lines from `start` to the end of the file.

    Blocks of about `block` bytes at most, as many as a multiple of `workers`: no worker is left alone at the end.
    """
    size = os.fstat(handle.fileno()).st_size
    count = workers * max(1, -(-(size - start) // (block * workers)))
    step = max(1, -(-(size - start) // count))
    while start < size:
        end = start + step
        if end < size:
            handle.seek(end - 1)
            handle.readline()  # to the end of the line the block's last byte is on
            end = handle.tell()
        yield start, min(end, size)
        start = end


def _read_block(descriptor: int, begin: int, end: int, reading: _Reading) -> _Block:
    block = os.pread(descriptor, end - begin, begin)
    if len(block) != end - begin:
        raise _Unsupported("the file changed while it was read")
    if b'"' in block:
        raise _Unsupported("quoted fields")  # a line break may sit inside one
    return _parse_block(block, reading)


def _parse_block(block: bytes, reading: _Reading) -> _Block:
    names, numbers, exact = reading.names, reading.numbers, reading.exact
    frame = pd.read_csv(io.BytesIO(block), sep=reading.sep, header=None, names=names, index_col=False,
                        skip_blank_lines=False, encoding="utf-8", engine="c", na_values=reading.na_values,
                        dtype=reading.text)
    rows = len(frame)
    if frame.shape[1] != len(names) or (b"\r" in block and rows != block.count(b"\n") + (block[-1:] != b"\n")):
        raise _Unsupported("rows do not match lines")  # a lone "\r" ended a line
    dtypes = list(frame.dtypes)
    # mixed cells: the whole-file parser decides what they become (pandas dtypes compare equal to object)
    if any(dtype == object for dtype in dtypes):  # noqa: E721
        raise _Unsupported("a column of mixed cells")
    cast = tuple(position for position, (name, dtype) in enumerate(zip(names, dtypes, strict=False))
                 if isinstance(dtype, np.dtype) and dtype.kind in "if" and name not in exact)
    kept, others = set(cast), {}
    values = np.empty((len(cast), rows), dtype=numbers)
    slots = iter(values)
    for position, (_, column) in enumerate(frame.items()):
        if position in kept:  # floats cast in one pass; integers through float64, as a float64 parse would
            numeric, slot = column.to_numpy(), next(slots)
            with np.errstate(over="ignore"):
                slot[:] = numeric if numeric.dtype.kind == "f" else numeric.astype(np.float64)
                if not np.isfinite(slot.sum()) and (np.isinf(slot) & np.isfinite(numeric)).any():
                    raise _Unsupported("a number too large for the dtype")  # the whole-file parser names it
        else:
            others[position] = column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array
    return _Block(rows, cast, values, others)


def _join(pieces: list) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """One column from its blocks' pieces: one dtype in all, or integers and floats (as pandas gathers them)."""
    dtypes = {piece.dtype for piece in pieces}
    if len(dtypes) == 1:
        if isinstance(pieces[0], np.ndarray):
            return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        return pd.concat([pd.Series(piece, copy=False) for piece in pieces], ignore_index=True).array
    if all(isinstance(dtype, np.dtype) and dtype.kind in "if" for dtype in dtypes):
        return np.concatenate(pieces, dtype=np.float64)
    raise _Unsupported("the column's type differs between blocks")
