"""What `nncli train` and `nncli check` show around the numbers: header, live epochs, summary."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, cast

from rich.console import Console

from nncli.display import TrainingDisplay, choose_mode, epoch_columns, run_summary
from nncli.errors import one_paragraph, shown_text
from nncli.tables import data_summary


class _Console(Console):
    """A console whose output outside a terminal (a file, a pipe, a log) has no trailing spaces on its lines."""

    def print(self, *objects: Any, **options: Any) -> None:
        if self.is_terminal or self.record:
            super().print(*objects, **options)
            return
        with self.capture() as captured:
            super().print(*objects, **options)
        text = "\n".join(line.rstrip() for line in captured.get().split("\n"))
        self.file.write(text)
        self.file.flush()

    def on_broken_pipe(self) -> None:
        # rich's default is a silent exit 1; the command says what happened instead (cli.user_errors)
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "standard output was closed")


def make_console(file: TextIO | None = None) -> Console:
    """A console on `file` (default: whatever sys.stdout is when it prints)."""
    return _Console(highlight=False, file=file)


def silence_stdout(stream: TextIO | None = None) -> None:
    """Point standard output's descriptor at os.devnull once its reader is gone.

    What Python still buffers for the closed pipe is then flushed into nothing at exit, instead of failing
    again with a BrokenPipeError report. A stream without a descriptor (a test's) is left alone.
    """
    stream = sys.stdout if stream is None else stream
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both an OSError and a ValueError
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class GuardedStdout(io.TextIOBase):
    """Standard output for a training run: a closed pipe (`nncli train | head -1`) makes it silent and calls
    `on_closed` once, instead of ending the run."""

    def __init__(self, stream: TextIO, on_closed: Callable[[], None]):
        super().__init__()
        self._stream = stream
        self._on_closed = on_closed
        self.reader_gone = False

    def write(self, text: str) -> int:
        self._guarded(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def _guarded(self, action: Callable[[], Any]) -> None:
        if self.reader_gone:
            return
        try:
            action()
        except BrokenPipeError:
            self.reader_gone = True
            silence_stdout(self._stream)
            self._on_closed()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # typeshed has it writable; a real stream's is read-only
        return getattr(self._stream, "encoding", None) or "utf-8"


def show_warnings(lines: list[str]) -> None:
    """Each line as `warning: ...` on standard error."""
    for line in lines:
        print(f"warning: {one_paragraph(line)}", file=sys.stderr, flush=True)


class TrainingSession:
    """Owns the console for one `nncli train`: a header, the epoch display, and the final summary."""

    def __init__(self, console: Console, quiet: bool):
        self.console = console
        self.mode = choose_mode(console, quiet)
        self.run_dir: Path | None = None
        self._display: TrainingDisplay | None = None

    @classmethod
    def on_stdout(cls, quiet: bool) -> TrainingSession:
        """A session printing to standard output; if its reader goes away the run goes on silently."""
        stdout = GuardedStdout(sys.stdout, lambda: session.stdout_closed())
        session = cls(make_console(cast(TextIO, stdout)), quiet)
        return session

    def stdout_closed(self) -> None:
        say_stdout_closed(self.run_dir)

    def start(self, prepared: Any, run_dir: Path, first_epoch: int) -> None:
        from nncli.train import batches_per_epoch  # here: the module imports numpy, which --help never needs

        self.run_dir = run_dir
        config = prepared.config
        if self.mode != "quiet":
            show_warnings(prepared.datasets.warnings)
            self.console.print(data_summary(prepared))
            self.console.print(f"model: {prepared.model.parameter_count():,} parameters; run directory: "
                               f"{shown_text(run_dir)}", soft_wrap=True, markup=False)
        batches = batches_per_epoch(prepared.datasets.train.features.shape[0], config.training.batch_size)
        columns = epoch_columns(list(config.metrics), prepared.datasets.valid is not None)
        self._display = TrainingDisplay(self.console, columns, config.training.epochs, batches, self.mode,
                                        first_epoch=first_epoch)
        self._display.__enter__()

    def batch_done(self, batch_index: int) -> None:
        if self._display is not None:
            self._display.batch_done(batch_index)

    def epoch_done(self, record: dict) -> None:
        if self._display is not None:
            self._display.epoch_done(record)

    def close(self) -> None:
        if self._display is not None:
            self._display.__exit__(None, None, None)
            self._display = None

    def finish(self, summary: dict, history: list[dict] | None = None) -> None:
        if self.mode != "quiet":
            self.console.print(run_summary(summary, history))


def say_stdout_closed(run_dir: Path | None) -> None:
    """The one line on stderr that says why the output stopped and that the run goes on."""
    where = "" if run_dir is None else f"; the run is saved in {run_dir}"
    with contextlib.suppress(OSError):  # stderr is gone as well: nobody is left to tell
        print(f"warning: standard output was closed, so nncli stopped printing; training goes on{where}",
              file=sys.stderr, flush=True)


class JsonLinesSession:
    """`nncli train --json`: stdout gets one JSON object per finished epoch (a metrics.csv row) and then
    `{"summary": ...}` (summary.json), nothing else; warnings go to stderr. Same interface as TrainingSession."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self._stdout = GuardedStdout(sys.stdout, lambda: say_stdout_closed(self.run_dir))

    def start(self, prepared: Any, run_dir: Path, first_epoch: int) -> None:
        self.run_dir = run_dir
        show_warnings(prepared.datasets.warnings)

    def batch_done(self, batch_index: int) -> None:
        pass

    def epoch_done(self, record: dict) -> None:
        from nncli.runs import metrics_columns

        self._write({key: record.get(key) for key in metrics_columns(list(record))})

    def close(self) -> None:
        pass

    def finish(self, summary: dict, history: list[dict] | None = None) -> None:
        self._write({"summary": summary})

    def _write(self, value: dict) -> None:
        self._stdout.write(json_line(value))
        self._stdout.flush()


def json_line(value: Any) -> str:
    """`value` as one line of JSON, numbers that are not finite as null."""
    import json

    from nncli.metrics import json_ready

    return json.dumps(json_ready(value), allow_nan=False, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
