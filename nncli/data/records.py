"""CSV records found in raw bytes without a Python loop per row: where each starts and ends, its line, blank
or not, and how many fields it holds (delimiters inside double-quoted fields do not count)."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Records:
    """The records (rows) of a CSV file, header first: byte ranges, first line numbers, blank or not."""

    data: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lines: np.ndarray
    blank: np.ndarray
    quotes: np.ndarray  # positions of every double quote in the file

    def field_counts(self, rows: np.ndarray, sep: str) -> np.ndarray:
        """Fields in each of the given records, not counting delimiters inside quoted fields."""
        starts, lengths = self.starts[rows], self.ends[rows] - self.starts[rows]
        if lengths.sum() > len(self.data) // 8:  # many records: index the whole file's delimiters once
            delimiters = np.flatnonzero(self.data == ord(sep))
            if self.quotes.size:
                delimiters = delimiters[_outside_quotes(delimiters, self.quotes)]
            return 1 + np.searchsorted(delimiters, self.ends[rows]) - np.searchsorted(delimiters, starts)
        owner = np.repeat(np.arange(len(rows)), lengths)
        # Byte positions of all the chosen records, one after another (a ragged arange).
        positions = np.arange(lengths.sum()) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        delimiter = self.data[positions] == ord(sep)
        if self.quotes.size:
            delimiter &= _outside_quotes(positions, self.quotes)
        return 1 + np.bincount(owner[delimiter], minlength=len(rows))


def _outside_quotes(positions: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    # A byte is inside a quoted field when an odd number of quote characters precede it.
    return np.searchsorted(quotes, positions) % 2 == 0


def scan_records(raw: bytes) -> Records:
    """Split raw CSV bytes into records, honouring double-quoted fields, without a Python loop per row."""
    data = np.frombuffer(raw, np.uint8)
    newlines = np.flatnonzero(data == 10)
    quotes = np.flatnonzero(data == ord('"')) if b'"' in raw else np.empty(0, np.intp)
    ends = newlines[_outside_quotes(newlines, quotes)] if quotes.size else newlines
    starts = np.concatenate(([0], ends + 1))
    ends = np.concatenate((ends, [len(data)]))
    if starts[-1] == len(data):  # the final newline ends the last record; nothing follows it
        starts, ends = starts[:-1], ends[:-1]
    if raw.startswith(codecs.BOM_UTF8):
        starts[0] = len(codecs.BOM_UTF8)
    lengths = ends - starts
    first = data[np.minimum(starts, max(len(data) - 1, 0))] if len(data) else np.empty(0, np.uint8)
    blank = (lengths == 0) | ((lengths == 1) & (first == 13))
    lines = 1 + np.searchsorted(newlines, starts)
    return Records(data, starts, ends, lines, blank, quotes)
