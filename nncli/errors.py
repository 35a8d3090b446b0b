"""Errors that reach the user as one `error:` paragraph and an exit code, never a traceback."""

from __future__ import annotations


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
        return f"{where}{field}{self.message}"


class ConfigError(NncliError):
    """The config (YAML or a --set override) is invalid."""


class DataError(NncliError):
    """A CSV file is missing, malformed or does not fit the config or model."""


class ModelFileError(NncliError):
    """A model or checkpoint file is missing, corrupt or does not match."""


class TrainingError(NncliError):
    """Training failed at run time (for example the loss diverged)."""

    exit_code = 1
