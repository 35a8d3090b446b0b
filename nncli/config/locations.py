"""Where each config value came from: a line of the file or a `--set` override, for pointed error messages."""

from __future__ import annotations

import re
from typing import NamedTuple

from nncli.config.messages import show
from nncli.errors import ConfigError

Path_ = tuple[str | int, ...]
"""A position in the config: `("layers", 1, "units")`, shown as `layers[1].units`."""


class Mark(NamedTuple):
    """1-based line and column, as editors show them."""

    line: int
    column: int


def format_path(path: Path_) -> str:
    """`("layers", 1, "units")` -> `layers[1].units`; odd keys quoted: `data['my col']`."""
    text = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[\w-]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{show(part)}]"
    return text


def parse_path(field: str) -> Path_:
    """`layers[1].units` or `layers.1.units` -> `("layers", 1, "units")`."""
    parts: list[str | int] = []
    for part in re.split(r"\.|(?=\[)", field):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            parts.append(int(part[1:-1]))
        elif part.isdigit():
            parts.append(int(part))
        elif part:
            parts.append(part)
    return tuple(parts)


def override_label(override: str) -> str:
    """How errors name an override: `--set optimizer.lr=abc`; a long one cut to its first 100 characters."""
    shown = override if len(override) <= 100 else override[:97] + "..."
    return f"--set {shown}" if shown.isprintable() else f"--set {shown!r}"


class Locations:
    """Marks of the keys and values of one config document, and the paths that `--set` overrides replaced."""

    def __init__(self, source: str):
        self.source = source
        self.marks: dict[Path_, tuple[Mark, Mark]] = {}  # path -> (mark of its key, mark of its value)
        self.overrides: dict[Path_, str] = {}  # path -> the `--set KEY=VALUE` text that set it

    @staticmethod
    def field(path: Path_) -> str | None:
        return format_path(path) or None

    def set_by_override(self, path: Path_, override: str) -> None:
        """Everything at and under `path` now comes from `override`."""
        for table in (self.marks, self.overrides):
            for known in [known for known in table if known[:len(path)] == path]:
                del table[known]
        self.overrides[path] = override

    def error(self, path: Path_, message: str, *, at: str = "value") -> ConfigError:
        """A ConfigError for `path`, pointing at its value (or its key, `at="key"`) or the nearest enclosing one."""
        field = self.field(path)
        for depth in range(len(path), -1, -1):
            prefix = path[:depth]
            if prefix in self.overrides:
                return ConfigError(message, file=override_label(self.overrides[prefix]), field=field)
            if prefix in self.marks:
                key_mark, value_mark = self.marks[prefix]
                mark = value_mark if at == "value" and depth == len(path) else key_mark
                return ConfigError(message, file=self.source, line=mark.line, field=field)
        return ConfigError(message, file=self.source, field=field)

    def order(self, error: ConfigError) -> tuple[int, int]:
        """Sort key putting the error a reader meets first first: overrides, then by line, then unplaced ones."""
        if error.file != self.source:
            return (0, 0)
        if error.line is not None:
            return (1, error.line)
        return (2, 0)
