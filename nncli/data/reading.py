"""CSV files to pandas frames: a header row, a sniffed delimiter, UTF-8 with or without BOM.

The same for compressed CSV files, Parquet files and standard input (see `nncli.data.sources`).

pandas' C parser does the reading. What it tolerates silently (rows with too few fields, blank lines, which
shift line numbers) is caught afterwards, and only when the frame shows a sign of it (a missing cell in the
last column, a line break inside a cell): then one vectorised pass over the raw bytes finds each record's
line and field count. Rows of the returned frame are labelled with (their file line - 2), so data row i of
a plain file is line i + 2, and errors found later name the right line even after rows were taken out.

A file read once is kept in a binary cache (see `nncli.data.cache`) that later reads load instead of parsing.
Files that parse with an error are never cached.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import mmap
import os
import re
import stat
import warnings
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from nncli.data import cache, sources
from nncli.data.blocks import memory_quarter, parse_blocks
from nncli.data.cells import Options, column_names_problem, size_text
from nncli.data.records import scan_records
from nncli.errors import DataError, format_values, quoted
from nncli.registry import closest

DELIMITERS = ",;\t|"
HEADER_LIMIT = 1 << 20  # a first line this long (no line break in the first MiB) is not a CSV header
# The most bytes read from a pipe or device, all into memory; None: a quarter of the physical memory.
MAX_STREAM_BYTES: int | None = None
Source = Path | bytes  # a regular file, or the whole content of a pipe or device
_STREAM_CHUNK = 1 << 20
_HEAD_BYTES = 1 << 16
_SNIFF_LINES = 50
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def read_table(path: Path, delimiter: str = "auto", *, display_path: str | None = None,
               numbers: np.dtype | str | None = None, exact: Collection[str] = (),
               na_values: Collection[str] = (), text: Collection[str] = ()) -> pd.DataFrame:
    """A table with a header row as a DataFrame; every problem is a DataError naming the file and line.

    `path` is a CSV file, the same compressed (.gz, .bz2, .xz, .zst), a Parquet file, or `-` for CSV on
    standard input (see `nncli.data.sources`).
    With `numbers`, numeric columns other than those named in `exact` may come back in that dtype, holding
    what a float64 parse cast to it would: large files are then parsed in blocks, so the float64 table never
    exists in full. Such reads bypass the table cache (`load_datasets` caches its arrays instead).
    `na_values` are cell texts read as missing besides the empty cell and pandas' NA/NaN (`data.na_values`);
    the columns named in `text` keep each cell's text as written (`6.0` stays `6.0`: class labels).
    A pipe or a device (`<(zcat data.csv.gz)`, /dev/stdin), standard input and a compressed file are read once:
    the header is checked, then the rest is read into memory (up to `stream_limit()` bytes, decompressed);
    only a compressed file is cached (keyed by the compressed file).
    """
    path = Path(path)
    options = Options(tuple(str(value) for value in na_values), tuple(text))
    return _read(path, delimiter, _name(path, display_path), numbers, exact, options, keep_source=False)[0]


def read_table_and_delimiter(path: Path, na_values: Collection[str] = ()) -> tuple[pd.DataFrame, str | None]:
    """`read_table` with a sniffed delimiter, and that delimiter (None for a Parquet file)."""
    frame, _, sep = _read(Path(path), "auto", _name(Path(path), None), None, (), Options(tuple(map(str, na_values))),
                          keep_source=False)
    return frame, None if sources.is_parquet(path) else sep


def read_table_keeping(path: Path, keep: Sequence[str], delimiter: str = "auto", *,
                       display_path: str | None = None,
                       na_values: Collection[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`read_table`, and its `keep` columns as the file holds them: a CSV cell as its own text (`007` stays
    `007`, an empty cell is empty), a Parquet column as it is. An unknown column is a DataError (did you mean)."""
    path = Path(path)
    name = _name(path, display_path)
    options = Options(tuple(str(value) for value in na_values))
    frame, source, sep = _read(path, delimiter, name, None, (), options, keep_source=True)
    keep = list(dict.fromkeys(keep))
    for column in keep:
        if column not in frame.columns:
            suggestion = closest(column, [str(name) for name in frame.columns])
            hint = f"did you mean {suggestion!r}? " if suggestion is not None else ""
            raise DataError(f"column {column!r} not found; {hint}available columns: "
                            f"{format_values(list(frame.columns))}", file=name, field="--keep")
    if source is None:
        return frame, frame[keep].copy()
    return frame, _text_columns(source, sep, keep, frame, name)


def _name(path: Path, display_path: str | None) -> str:
    return display_path if display_path is not None and not sources.is_stdin(path) else sources.display_name(path)


def _read(path: Path, delimiter: str, name: str, numbers: np.dtype | str | None, exact: Collection[str],
          options: Options, *, keep_source: bool) -> tuple[pd.DataFrame, Source | None, str]:
    """The frame, what it was parsed from (None for Parquet) and the delimiter."""
    if sources.is_parquet(path):
        return sources.read_parquet(path, name, stream_limit()), None, ","
    if sources.is_stdin(path) or not _is_regular(path, name) or sources.compression(path) is not None:
        return _read_stream(path, delimiter, name, options, cached=numbers is None and not keep_source)
    with _reading(name), open(path, "rb") as handle:
        raw_head, _ = _first_lines(handle, name)
    sep, header = _header(raw_head, delimiter, name)
    if numbers is not None:
        frame = parse_blocks(path, sep, raw_head, np.dtype(numbers), exact, options.na_values, options.text)
        if frame is not None:
            return _checked(frame, path, sep, name), path, sep
        return _checked(_parse(path, sep, name, header, options), path, sep, name), path, sep
    key = cache.table_key(path, sep)
    cached = None if key is None else cache.load_table(path, sep, key, options.key())
    if cached is not None:
        return cached, path, sep
    frame = _checked(_parse(path, sep, name, header, options), path, sep, name)
    cache.store_table(path, sep, frame, key, options.key())
    return frame, path, sep


def _read_stream(path: Path, delimiter: str, name: str, options: Options,
                 cached: bool) -> tuple[pd.DataFrame, bytes | None, str]:
    """Standard input, a pipe or device, or a compressed file: read once, up to `stream_limit()` bytes.

    A compressed file is a regular file: its table is cached (when `cached`), keyed by the compressed file.
    """
    compressed = sources.compression(path) is not None and not sources.is_stdin(path)
    with _reading(name), sources.open_stream(path, name) as handle:
        raw_head, taken = _first_lines(handle, name)
        sep, header = _header(raw_head, delimiter, name)
        key = cache.table_key(path, sep) if compressed and cached and path.is_file() else None
        frame = None if key is None else cache.load_table(path, sep, key, options.key())
        if frame is not None:
            return frame, None, sep
        raw = _rest(handle, taken, name, _too_large(path, compressed))
    frame = _checked(_parse(raw, sep, name, header, options), raw, sep, name)
    if key is not None:
        cache.store_table(path, sep, frame, key, options.key())
    return frame, raw, sep


def _too_large(path: Path, compressed: bool) -> str:
    if compressed:
        return "a compressed file is decompressed into memory, and this one holds more than {limit}; " \
               "decompress it to a file first"
    if sources.is_stdin(path):
        return "standard input is read into memory, and it holds more than {limit}; save it to a file first"
    return "a pipe or device is read into memory, and this one holds more than {limit}; save it to a file first"


def _text_columns(source: Source, sep: str, keep: list[str], frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The `keep` columns of a parsed CSV source again, as text, with the frame's row labels."""
    text = pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source, sep=sep, header=0,
                       index_col=False, usecols=keep, dtype=str, keep_default_na=False, na_filter=False,
                       skip_blank_lines=True, encoding="utf-8", engine="c")
    if len(text) != len(frame):
        raise DataError(f"cannot line up the rows of the kept columns ({len(text)} rows) with the table's "
                        f"({len(frame)} rows)", file=name)
    text.index = frame.index
    return text[keep]


def _header(raw_head: bytes, delimiter: str, name: str) -> tuple[str, list[str]]:
    """The delimiter and the header row's names, from the file's first lines, which they must hold as UTF-8."""
    start = len(codecs.BOM_UTF8) if raw_head.startswith(codecs.BOM_UTF8) else 0
    head = raw_head[start:].decode("utf-8", errors="replace")  # checked strictly once the header is known
    if not head.strip():
        raise DataError("the file is empty; expected a header row and data rows", file=name)
    if head[0] in "\r\n":
        raise DataError("the first line is empty; it must be the header row", file=name, line=1)
    sep = sniff_delimiter(head) if delimiter == "auto" else delimiter
    if len(sep) != 1 or not sep.isascii():  # pandas' C parser splits on one byte
        raise DataError(f"the delimiter must be a single ASCII character, got {quoted(sep)}", file=name)
    try:
        header = next(csv.reader(io.StringIO(head), delimiter=sep))
    except csv.Error as error:
        raise DataError(f"cannot read the header row: {error}", file=name, line=1) from None
    try:
        raw_head[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        raise _encoding_error(raw_head, start + error.start, name, sep, header) from None
    _check_header(header, name)
    return sep, header


def _checked(frame: pd.DataFrame, source: Source, sep: str, name: str) -> pd.DataFrame:
    frame = _check_rows(frame, source, sep, name)
    if frame.empty:
        raise DataError("the file has a header row but no data rows", file=name)
    return frame


def sniff_delimiter(text: str) -> str:
    """The one of `,;<tab>|` that splits the header into the most fields consistently across the first lines."""
    lines = [_QUOTED.sub("", line) for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    best, best_score = ",", (0, 0)
    for candidate in DELIMITERS:
        counts = [line.count(candidate) for line in lines]
        if not counts or counts[0] == 0:
            continue
        score = (sum(count == counts[0] for count in counts), counts[0])
        if score > best_score:
            best, best_score = candidate, score
    return best


@contextlib.contextmanager
def _reading(name: str) -> Iterator[None]:
    """Turn a failure to open or read the file into a DataError that names it."""
    try:
        yield
    except FileNotFoundError:
        raise DataError("file not found", file=name) from None
    except IsADirectoryError:
        raise DataError("is a directory, not a CSV file", file=name) from None
    except OSError as error:
        raise DataError(f"cannot read the file: {error.strerror or error}", file=name) from None


def _is_regular(path: Path, name: str) -> bool:
    """True for a regular file; False for what can only be read once (a pipe, a device); a directory is an error."""
    with _reading(name):
        mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise DataError("is a directory, not a CSV file", file=name)
    return stat.S_ISREG(mode)


def _first_lines(handle: BinaryIO, name: str) -> tuple[bytes, bytes]:
    """The first complete lines (at least the header line, which must be a line of text) and every byte read."""
    taken = handle.read(_HEAD_BYTES)
    head = taken
    if len(taken) == _HEAD_BYTES:
        end = taken.rfind(b"\n")
        if end < 0:
            taken = head = taken + handle.readline(HEADER_LIMIT)
        else:
            head = taken[:end + 1]
    first = head.find(b"\n")
    if first < 0:
        first = len(head)
    if first >= HEADER_LIMIT:
        raise DataError(f"the first line is longer than {HEADER_LIMIT} bytes: not a CSV header", file=name)
    if b"\0" in head[:first]:
        raise DataError("the first line holds a NUL byte: a binary file (or UTF-16 text), not a UTF-8 CSV file",
                        file=name, line=1)
    return head, taken


def _rest(handle: BinaryIO, taken: bytes, name: str, too_large: str) -> bytes:
    """The whole content of a stream whose first bytes were `taken`, up to `stream_limit()` bytes.

    `too_large` is the message past the limit, with `{limit}` where the limit goes.
    """
    limit, size, chunks = stream_limit(), len(taken), [taken]
    while chunk := handle.read(_STREAM_CHUNK):
        size += len(chunk)
        if size > limit:
            raise DataError(too_large.format(limit=size_text(limit)), file=name)
        chunks.append(chunk)
    return b"".join(chunks)


def stream_limit() -> int:
    """The most bytes read from a pipe or device (see MAX_STREAM_BYTES)."""
    return memory_quarter() if MAX_STREAM_BYTES is None else MAX_STREAM_BYTES


def _encoding_error(raw: bytes, position: int, name: str, sep: str, header: list[str]) -> DataError:
    line = raw.count(b"\n", 0, position) + 1
    where = ""
    if line > 1:
        line_start = raw.rfind(b"\n", 0, position) + 1
        field = raw.count(sep.encode(), line_start, position)
        if field < len(header):
            where = f"column {header[field]!r}: "
    return DataError(f"{where}invalid UTF-8 (byte 0x{raw[position]:02x}); save the file as UTF-8",
                     file=name, line=line)


def _check_header(header: list[str], name: str) -> None:
    problem = column_names_problem(header, "header")
    if problem is not None:
        raise DataError(problem, file=name, line=1)
    seen: dict[str, int] = {}
    for number, column in enumerate(header, start=1):
        if column and column in seen:
            raise DataError(f"duplicate column name {column!r} (columns {seen[column]} and {number})",
                            file=name, line=1)
        seen.setdefault(column, number)


def _parse(source: Source, sep: str, name: str, header: list[str], options: Options) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            # With index_col=False pandas only warns about a first data row longer than the header.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            return pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source, sep=sep, header=0,
                               index_col=False, skip_blank_lines=False, encoding="utf-8", engine="c",
                               **options.pandas(header))
    except UnicodeDecodeError:
        raw = _read_all(source, name)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _encoding_error(raw, error.start, name, sep, header) from None
        raise DataError("cannot decode the file as UTF-8", file=name) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        raise _parse_error(_read_all(source, name), sep, name, len(header), str(error)) from None
    except pd.errors.EmptyDataError:  # emptied since its first line was read
        raise DataError("the file is empty; expected a header row and data rows", file=name) from None
    except OSError as error:
        raise DataError(f"cannot read the file: {error.strerror or error}", file=name) from None


def _read_all(source: Source, name: str) -> bytes:
    if isinstance(source, bytes):
        return source
    with _reading(name):
        return source.read_bytes()


def _parse_error(raw: bytes, sep: str, name: str, width: int, message: str) -> DataError:
    records = scan_records(raw)
    rows = np.flatnonzero(~records.blank[1:]) + 1
    fields = records.field_counts(rows, sep) if sep.isascii() else np.full(len(rows), width)
    ragged = fields != width
    if ragged.any():
        first = int(np.argmax(ragged))
        return _ragged_error(name, int(records.lines[rows[first]]), width, int(fields[first]))
    if "EOF inside string" in message and records.quotes.size:
        line = raw.count(b"\n", 0, int(records.quotes[-1])) + 1  # the last quote opens the unclosed field
        return DataError("a quoted field is never closed (missing '\"')", file=name, line=line)
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if match:
        return _ragged_error(name, int(match[2]), int(match[1]), int(match[3]))
    return DataError(f"cannot parse the file: {message.strip()}", file=name)


def _ragged_error(name: str, line: int, expected: int, found: int) -> DataError:
    return DataError(f"expected {expected} fields (as in the header), found {found}", file=name, line=line)


def _check_rows(frame: pd.DataFrame, source: Source, sep: str, name: str) -> pd.DataFrame:
    """Refuse short rows, drop blank lines and label rows with their file lines, when the frame hints at them."""
    if frame.empty or frame.shape[1] == 0 or not sep.isascii():
        return frame
    short_or_blank = frame.iloc[:, -1].isna().to_numpy()
    if not short_or_blank.any() and not _has_line_breaks(frame, source):
        return frame
    records = scan_records(_read_all(source, name))
    lines, blank = records.lines[1:], records.blank[1:]
    # Quote characters inside unquoted cells can fool the byte scan: trust it only where it agrees with pandas.
    if len(lines) != len(frame) or not frame.iloc[blank].isna().all(axis=None):
        return frame
    suspects = np.flatnonzero(short_or_blank & ~blank)
    fields = records.field_counts(suspects + 1, sep)
    short = fields < frame.shape[1]
    if short.any():
        row = int(suspects[np.argmax(short)])
        raise _ragged_error(name, int(lines[row]), frame.shape[1], int(fields[np.argmax(short)]))
    frame = frame.iloc[~blank] if blank.any() else frame
    frame.index = pd.Index(lines[~blank] - 2)
    return frame


def _has_line_breaks(frame: pd.DataFrame, source: Source) -> bool:
    """Whether a text cell spans lines (then the rows after it sit further down the file than i + 2)."""
    text = [column for column in frame.columns if not pd.api.types.is_numeric_dtype(frame[column].dtype)]
    if not text or not _contains(source, b'"'):  # only a quoted field can hold a line break
        return False
    return any("\n" in str(value) for column in text for value in pd.unique(frame[column].dropna()))


def _contains(source: Source, needle: bytes) -> bool:
    if isinstance(source, bytes):
        return needle in source
    try:
        with open(source, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mapped.find(needle) >= 0
    except (OSError, ValueError):
        return True  # cannot map it: assume the worst and let the full scan decide
