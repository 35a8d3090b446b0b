"""Where a table comes from: a CSV file, the same compressed, a Parquet file, or CSV on standard input.

A compressed CSV file (by its suffix: .gz, .bz2, .xz, .zst) and standard input (`-`) are streams: they are read
once, through the same bounded path as a pipe (see `nncli.data.reading`), so decompression stops with an error
once the decompressed bytes pass the stream limit (a "gzip bomb" costs at most that much memory). zstd needs the
`zstd` extra (the `zstandard` package) and Parquet the `parquet` extra (pyarrow).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from nncli.data.cells import column_names_problem, size_text
from nncli.errors import DataError

STDIN = "-"
STDIN_NAME = "<stdin>"
PARQUET_SUFFIX = ".parquet"
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
"""Compressed CSV files by suffix, and the name of their format."""


def display_name(path: Path | str) -> str:
    """How messages name a data source: `<stdin>` for `-`, else the path as given."""
    return STDIN_NAME if is_stdin(path) else str(path)


def is_stdin(path: Path | str) -> bool:
    """`-` means CSV on standard input."""
    return str(path) == STDIN


def compression(path: Path | str) -> str | None:
    """The compression of a CSV file named with a compressed suffix (`gzip`, `bzip2`, `xz`, `zstd`), else None."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def is_parquet(path: Path | str) -> bool:
    """A Parquet file, by its suffix."""
    return Path(path).suffix.lower() == PARQUET_SUFFIX


@contextlib.contextmanager
def open_stream(path: Path, name: str) -> Iterator[BinaryIO]:
    """The bytes of standard input, a pipe or device, or the decompressed bytes of a compressed CSV file.

    A damaged or truncated compressed file is a DataError naming it (raised while reading).
    """
    if is_stdin(path):
        if sys.stdin is None or sys.stdin.isatty():  # nothing was piped in: reading would wait for typing
            raise DataError("- reads CSV from standard input, which is not redirected; pipe or redirect the "
                            "data into nncli, as in: nncli predict MODEL - < rows.csv", file=STDIN_NAME)
        yield sys.stdin.buffer
        return
    kind = compression(path)
    if kind is None:
        with open(path, "rb") as handle:
            yield handle
        return
    opener = _opener(kind, name)
    try:
        with opener(path) as handle:
            yield handle
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise DataError("file not found", file=name) from None
        raise _damaged(kind, error, name) from None
    except DataError:
        raise
    except Exception as error:  # zstandard.ZstdError: not importable without the extra
        if type(error).__name__ != "ZstdError":
            raise
        raise _damaged(kind, error, name) from None


def _opener(kind: str, name: str) -> Callable[[Path], BinaryIO]:
    # The ignores below: typeshed types these files as BufferedIOBase, though each is a binary file object.
    if kind == "gzip":
        return lambda path: gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return lambda path: bz2.open(path, "rb")  # type: ignore[return-value]
    if kind == "xz":
        return lambda path: lzma.open(path, "rb")  # type: ignore[return-value]
    try:
        import zstandard
    except ImportError:
        raise DataError('reading a zstd-compressed file (.zst) needs the zstandard package: '
                        'pip install "nncli[zstd]" (or decompress the file first)', file=name) from None
    return lambda path: io.BufferedReader(ZstdReader(open(path, "rb"), zstandard), 1 << 20)


class ZstdReader(io.RawIOBase):
    """The decompressed bytes of zstd frames one after another (as the `zstd` tool writes them).

    zstandard's own stream reader ends quietly where a cut file ends; this one raises EOFError. The input is fed
    in pieces of 4 KiB, so one call never expands into more than about 128 MiB (a zstd block of 128 KiB can be
    written in a few bytes).
    """

    _PIECE = 1 << 12

    def __init__(self, file: BinaryIO, zstandard: Any):
        super().__init__()
        self._file, self._zstandard = file, zstandard
        self._decoder = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame, self._pending, self._offset = False, memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset == len(self._pending) and self._decode_more():
            pass
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = self._pending[self._offset:self._offset + size]
        self._offset += size
        return size

    def _decode_more(self) -> bool:
        """Decode the next piece of input into `_pending`; False at the end of the input."""
        data = b""
        if self._decoder.eof:  # a frame ended: what follows it starts the next one
            data = self._decoder.unused_data
            self._decoder = self._zstandard.ZstdDecompressor().decompressobj()
            self._in_frame = False
        if not data:
            data = self._file.read(self._PIECE)
        if not data:
            if self._in_frame and not self._decoder.eof:
                raise EOFError("the file ends inside a zstd frame")
            return False
        self._in_frame = True
        self._pending, self._offset = memoryview(self._decoder.decompress(data)), 0
        return True

    def close(self) -> None:
        self._file.close()
        super().close()


def _damaged(kind: str, error: BaseException, name: str) -> DataError:
    detail = str(error).strip() or type(error).__name__
    if isinstance(error, EOFError):
        detail = "the file ends before the compressed data does; it is cut short"
    return DataError(f"cannot decompress the file as {kind} ({detail})", file=name)


@contextlib.contextmanager
def rows_not_lines() -> Iterator[None]:
    """Errors about a Parquet file name a row (`data.parquet: row 5: ...`), not the line a CSV file would have."""
    try:
        yield
    except DataError as error:
        if error.file is not None and is_parquet(error.file) and error.line is not None:
            error.message = f"row {error.line - 1}: {error.message}"  # rows are labelled (line - 2), from 0
            error.line = error.column = None
        raise


def read_parquet(path: Path, name: str, limit: int) -> pd.DataFrame:
    """A Parquet file as a frame whose rows are labelled 0, 1, ...; at most `limit` bytes once decompressed."""
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError('reading a Parquet file needs pyarrow: pip install "nncli[parquet]"', file=name) from None
    try:
        metadata = parquet.ParquetFile(path).metadata
        problem = column_names_problem(metadata.schema.names, "table")
        if problem is not None:
            raise DataError(problem, file=name)
        size = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
        if size > limit:
            raise DataError(f"the table holds {size_text(size)} once decompressed, more than the limit of "
                            f"{size_text(limit)}", file=name)
        frame = pd.read_parquet(path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("file not found", file=name) from None
    except IsADirectoryError:
        raise DataError("is a directory, not a Parquet file", file=name) from None
    except Exception as error:  # pyarrow's errors (ArrowInvalid, OSError) all mean an unreadable file
        detail = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"cannot read the file as Parquet ({detail})", file=name) from None
    return _plain_frame(frame, name)


def _plain_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """A frame as a CSV reads: text column names, a named index as columns, categorical columns as values."""
    if any(level is not None for level in frame.index.names):
        frame = frame.reset_index()
    frame = frame.reset_index(drop=True)
    frame.columns = [str(column) for column in frame.columns]
    for column in frame.columns[frame.columns.duplicated()]:
        raise DataError(f"duplicate column name {column!r}", file=name)
    for column, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object).infer_objects()
    if frame.shape[1] == 0:
        raise DataError("the file has no columns", file=name)
    if frame.empty:
        raise DataError("the file has no data rows", file=name)
    return frame
