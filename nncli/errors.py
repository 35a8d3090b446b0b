"""Errors that reach the user as one `error:` paragraph and an exit code, never a traceback.

A message repeats what the user wrote (a cell, a column or file name, a config value), and that text may be
anything: so it is shown with its control characters escaped (a line break would split the paragraph) and cut
short (a 20 MB cell would make a 20 MB message).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

TEXT_LIMIT = 100  # characters of one value a message repeats
MESSAGE_LIMIT = 2000  # characters of a whole message, the file name and field included
# What repr escapes in text: C0 and C1 control characters, DEL, the Unicode line and paragraph separators, and
# the bidirectional controls that would reorder the terminal's text around them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escaped(text: object) -> str:
    """Text for a message: control characters (a NUL, a tab, a line break) written as repr writes them (`\\x00`)."""
    return _CONTROL.sub(lambda match: repr(match[0])[1:-1], str(text))


def quoted(text: object, limit: int = TEXT_LIMIT) -> str:
    """Text for a message in quotes, control characters escaped, cut after `limit` characters: `'0.571\\x00'`."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def shown_text(text: object) -> str:
    """Text for a message or a table, unquoted: control characters escaped, cut after TEXT_LIMIT characters."""
    text = escaped(text)
    return text if len(text) <= TEXT_LIMIT else f"{text[:TEXT_LIMIT]}... ({len(text)} characters)"


def format_values(values: Sequence[object], limit: int = 20) -> str:
    """`a, b, c` (shortened after `limit` values, each escaped and cut short) for error messages."""
    listed = ", ".join(shown_text(value) for value in values[:limit])
    return listed + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def one_paragraph(text: str) -> str:
    """`text` escaped and, past MESSAGE_LIMIT characters, cut in the middle (the start and the end say most)."""
    if len(text) > MESSAGE_LIMIT:
        head, tail = MESSAGE_LIMIT * 3 // 4, MESSAGE_LIMIT // 4
        text = f"{text[:head]} ... [{len(text) - head - tail} characters left out] ... {text[-tail:]}"
    return escaped(text)


class NncliError(Exception):
    """A user-facing failure: bad usage, config, data or model file (exit 2) unless told otherwise."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return one_paragraph(f"{where}{field}{self.message}")


class ConfigError(NncliError):
    """The config (YAML or a --set override) is invalid."""


class DataError(NncliError):
    """A CSV file is missing, malformed or does not fit the config or model."""


class ModelFileError(NncliError):
    """A model or checkpoint file is missing, corrupt or does not match."""


class TrainingError(NncliError):
    """Training failed at run time (for example the loss diverged)."""

    exit_code = 1
