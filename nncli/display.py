"""Rich rendering of epoch records, run summaries, evaluation reports and model summaries.

Pure functions from data to renderables: nothing here computes a metric. Epochs are 0-based in the
records (as in metrics.csv) and shown 1-based (`epoch 1/100`), as Keras shows them.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from typing import Any, Literal

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from nncli.data.checks import skipped_text
from nncli.errors import shown_text
from nncli.sparkline import sparkline

DisplayMode = Literal["live", "plain", "quiet"]

LIVE_EPOCHS = 20
"""How many of the latest epochs the live table shows."""
BAR_MIN_BATCHES = 50
"""Epochs with more batches than this get a progress bar in live mode."""
BAR_INTERVAL = 0.1
"""Seconds between two redraws of the progress bar."""


def format_number(value: Any) -> str:
    """A compact number: 4 significant digits for floats, integers as is, '-' for a missing value."""
    if value is None:
        return "-"
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        return "nan"
    return f"{number:.4g}"


def format_metric(value: Any) -> str:
    """An evaluation score: as `format_number`, but "n/a" where it is undefined (r2 of one row: not a number)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isfinite(value):
        return "n/a"
    return format_number(value)


def format_value(column: str, value: Any) -> str:
    """One cell of an epoch record, formatted for its column (lr in scientific form, seconds to 0.01)."""
    if value is None:
        return "-"
    if column == "lr":
        return f"{float(value):.2e}"
    if column == "seconds":
        return f"{float(value):.2f}"
    return format_number(value)


def format_epoch(epoch: int | None, total_epochs: int | None = None) -> str:
    """A 0-based epoch shown 1-based, out of the total when known: `3/100`."""
    if epoch is None:
        return "-"
    shown = str(int(epoch) + 1)
    return f"{shown}/{total_epochs}" if total_epochs else shown


def format_seconds(seconds: float) -> str:
    """Wall time as `12.3s`, `4m 05s` or `2h 03m`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def epoch_columns(metric_names: list[str], has_valid: bool) -> list[str]:
    """The columns of an epoch record: epoch, loss(es), each metric (and val_ metric), lr, seconds."""
    columns = ["epoch", "loss"] + (["val_loss"] if has_valid else [])
    for name in metric_names:
        columns += [name, f"val_{name}"] if has_valid else [name]
    return [*columns, "lr", "seconds"]


def epoch_table(records: list[dict[str, Any]], columns: list[str], total_epochs: int,
                width: int | None = None) -> Table:
    """A table with one row per epoch record.

    Within `width` characters, values are never cut: columns that do not fit are left out (the least important
    first: seconds, lr, training metrics, validation metrics) and a caption names them.
    """
    cells = {column: [_cell(record, column, total_epochs) for record in records] for column in columns}
    widths = {column: max([len(column), *map(len, values)]) for column, values in cells.items()}
    shown = columns if width is None else fitting_columns(columns, widths, width)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in shown:
        table.add_column(column, justify="right", no_wrap=True, min_width=widths[column])
    for row in zip(*(cells[column] for column in shown), strict=False):
        table.add_row(*row)
    hidden = [column for column in columns if column not in shown]
    if hidden:
        table.caption = f"not shown, to fit the terminal: {', '.join(hidden)} (see metrics.csv)"
    return table


def fitting_columns(columns: list[str], widths: dict[str, int], width: int) -> list[str]:
    """The columns, in their order, that fit in `width` characters (two between columns), keeping the most
    important: epoch, loss, val_loss, the validation metrics, the training metrics, lr, seconds."""
    def importance(column: str) -> int:
        if column in ("epoch", "loss", "val_loss"):
            return 0
        if column in ("lr", "seconds"):
            return 3 if column == "lr" else 4
        return 1 if column.startswith("val_") else 2

    kept: set[str] = set()
    used = -2
    for column in sorted(columns, key=importance):  # a stable sort: metrics keep their order
        if used + 2 + widths[column] > width and kept:
            break
        kept.add(column)
        used += 2 + widths[column]
    return [column for column in columns if column in kept]


def _cell(record: dict[str, Any], column: str, total_epochs: int) -> str:
    if column == "epoch":
        return format_epoch(record.get("epoch"), total_epochs)
    return format_value(column, record.get(column))


def epoch_line(record: dict[str, Any], columns: list[str], total_epochs: int) -> str:
    """One plain line for an epoch: `epoch 1/100  loss=0.6931  val_loss=0.6822  lr=1.00e-01  seconds=0.03`."""
    parts = [f"epoch {format_epoch(record.get('epoch'), total_epochs)}"]
    parts += [f"{column}={format_value(column, record.get(column))}"
              for column in columns if column != "epoch"]
    return "  ".join(parts)


def choose_mode(console: Console, quiet: bool) -> DisplayMode:
    """quiet when asked, live on a terminal, plain lines otherwise (pipes, files, CI logs)."""
    if quiet:
        return "quiet"
    return "live" if console.is_terminal else "plain"


class TrainingDisplay:
    """Shows training progress: a live table (and batch bar), plain lines, or nothing.

    Use as a context manager; the training loop's consumer calls `batch_done` after each batch and
    `epoch_done` with each epoch record.
    """

    def __init__(self, console: Console, columns: list[str], total_epochs: int, batches_per_epoch: int,
                 mode: DisplayMode, *, first_epoch: int = 0):
        self.console = console
        self.columns = columns
        self.total_epochs = total_epochs
        self.batches_per_epoch = batches_per_epoch
        self.mode = mode
        self.first_epoch = first_epoch  # where a resumed run starts
        self.records: deque[dict[str, Any]] = deque(maxlen=LIVE_EPOCHS)
        self.epochs_seen = 0
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_redraw = 0.0

    def __enter__(self) -> TrainingDisplay:
        if self.mode == "live":
            if self.batches_per_epoch > BAR_MIN_BATCHES:
                counts = len(f"{self.batches_per_epoch}/{self.batches_per_epoch}")
                epochs = len(f"epoch {self.total_epochs}/{self.total_epochs}")
                # the bar gives way in a narrow terminal; the numbers beside it are never cut
                self._progress = Progress(
                    TextColumn("epoch {task.fields[epoch]}", table_column=Column(no_wrap=True, min_width=epochs)),
                    BarColumn(), MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=counts)),
                    TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)), console=self.console,
                    auto_refresh=False,
                )
                first = format_epoch(self.first_epoch, self.total_epochs)
                self._task = self._progress.add_task("batches", total=self.batches_per_epoch, epoch=first)
            # redrawn by hand (epoch ends, throttled batches): no refresh thread reading while we write
            self._live = Live(self._renderable(), console=self.console, auto_refresh=False)
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._progress = None  # the finished run keeps its table, not a stale bar
            self._live.update(self._renderable())
            self._live.stop()
            self._live = None

    def _renderable(self) -> RenderableType:
        table = epoch_table(list(self.records), self.columns, self.total_epochs, width=self.console.width)
        if self.epochs_seen > len(self.records):
            shown = f"last {len(self.records)} of {self.epochs_seen} epochs"
            table.caption = shown if table.caption is None else f"{shown}; {table.caption}"
        if self._progress is None:
            return table
        return Group(table, self._progress)

    def batch_done(self, batch_index: int) -> None:
        """Batch `batch_index` (0-based) of the current epoch is done; redraws the bar at most every 0.1 s."""
        if self._live is None or self._progress is None or self._task is None:
            return
        now = time.monotonic()
        if now - self._last_redraw < BAR_INTERVAL:
            return
        self._last_redraw = now
        self._progress.update(self._task, completed=batch_index + 1)
        self._live.refresh()

    def epoch_done(self, record: dict[str, Any]) -> None:
        """Shows one finished epoch."""
        self.epochs_seen += 1
        if self.mode == "plain":
            self.console.print(epoch_line(record, self.columns, self.total_epochs), highlight=False,
                               markup=False, soft_wrap=True)
        elif self._live is not None:
            self.records.append(record)
            next_epoch = int(record.get("epoch", self.first_epoch + self.epochs_seen - 1)) + 1
            if next_epoch >= self.total_epochs:
                self._progress = None
            elif self._progress is not None and self._task is not None:
                self._progress.reset(self._task, total=self.batches_per_epoch,
                                     epoch=format_epoch(next_epoch, self.total_epochs))
            self._live.update(self._renderable(), refresh=True)
            self._last_redraw = time.monotonic()


def _aligned_name(name: str) -> str:
    return name[len("test_"):] if name.startswith("test_") else name


def _curve_rows(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(name, sparkline with first and last value) for loss and val_loss over the epochs."""
    rows = []
    for name in ("loss", "val_loss"):
        values = [record[name] for record in history if record.get(name) is not None]
        if len(history) >= 2 and len(values) == len(history):
            rows.append((name, f"{sparkline(values)}  {format_value(name, values[0])} → "
                               f"{format_value(name, values[-1])}"))
    return rows


def run_summary(summary: dict[str, Any], history: list[dict[str, Any]] | None = None) -> RenderableType:
    """A panel: where the run was saved, epochs run, best epoch, wall time, sparklines of loss and val_loss by
    epoch (from `history`, the metrics.csv rows), and final/best/test metrics."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    epochs = str(summary.get("epochs_run", 0))
    if summary.get("stopped_early"):
        epochs += " (stopped early)"
    facts.add_row("saved to", Text(shown_text(summary.get("run_dir", "-"))))
    facts.add_row("epochs run", epochs)
    facts.add_row("best epoch", format_epoch(summary.get("best_epoch")))
    facts.add_row("model.npz", weights_text(summary))
    final = summary.get("final") or {}
    if final.get("lr") is not None:
        facts.add_row("final lr", format_value("lr", final["lr"]))
    facts.add_row("wall time", format_seconds(float(summary.get("wall_seconds", 0.0))))
    for name, line in _curve_rows(history or []):
        facts.add_row(name, line)

    best = summary.get("best") or {}
    test = {_aligned_name(name): value for name, value in (summary.get("test") or {}).items()}
    # the learning rate is a setting, not a score: its "best" value means nothing
    names = [name for name in dict.fromkeys([*final, *best, *test]) if name not in ("epoch", "seconds", "lr")]
    metrics = Table(header_style="bold", show_edge=False)
    metrics.add_column("metric")
    metrics.add_column("final", justify="right")
    metrics.add_column("best", justify="right")
    if summary.get("test") is not None:
        metrics.add_column("test", justify="right")
    for name in names:
        row = [name, format_value(name, final.get(name)), format_value(name, best.get(name))]
        if summary.get("test") is not None:
            row.append(format_value(name, test.get(name)))
        metrics.add_row(*row)
    parts: list[RenderableType] = [facts]
    if names:
        parts += ["", metrics]
    return Panel(Group(*parts), title="run summary", expand=False)


def weights_text(summary: dict[str, Any]) -> str:
    """Which epoch's weights model.npz holds: the best one when early stopping restored it, else the last."""
    epoch = summary.get("weights_epoch")
    if epoch is None:
        return "the initial weights (no epoch ran)" if not summary.get("epochs_run") else "-"
    if summary.get("weights_restored"):
        return f"weights of epoch {format_epoch(epoch)}, the best (restored by early stopping)"
    return f"weights of epoch {format_epoch(epoch)}, the last"


def _key_value_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, format_metric(value))
    return table


def evaluation_renderables(report: dict[str, Any], task: str, classes: list[str]) -> list[RenderableType]:
    """Tables for an evaluation report: metrics, and for classification per-class scores and the
    confusion matrix (rows: true class, columns: predicted class)."""
    if task == "regression":
        return [_with_rows(_regression_table(report), report)]
    summary = _key_value_table("evaluation", [(name, report[name]) for name in _score_names(report)])
    summary.columns[0].header = "metric (macro average)"

    per_class = Table(title="per class", header_style="bold")
    per_class.add_column("class")
    for name in ["precision", "recall", "f1", "support"]:
        per_class.add_column(name, justify="right")
    scores = report.get("per_class", {})
    for label in classes:
        row = scores.get(str(label), {})
        per_class.add_row(Text(shown_text(label)), *(format_metric(row.get(name)) for name in
                                        ["precision", "recall", "f1", "support"]))

    if report["confusion_matrix"] is None:
        return [_with_rows(summary, report), per_class,
                Text(f"confusion matrix: left out for {len(classes)} classes (eval --json has the per-class scores)")]
    matrix = Table(title="confusion matrix", header_style="bold")
    matrix.add_column("true \\ predicted", style="bold")
    for label in classes:
        matrix.add_column(Text(shown_text(label)), justify="right")
    for label, counts in zip(classes, report["confusion_matrix"], strict=False):
        matrix.add_row(Text(shown_text(label)), *(str(int(count)) for count in counts))
    return [_with_rows(summary, report), per_class, matrix]


def _with_rows(table: Table, report: dict[str, Any]) -> RenderableType:
    """The table, then the line that says how many rows were scored and skipped (when the report says)."""
    rows = rows_text(report)
    return table if rows is None else Group(table, Text(rows))


def _score_names(report: dict[str, Any]) -> list[str]:
    """The report's single numbers, in its order: loss, the task's metrics, then the config's other metrics."""
    return [name for name, value in report.items()
            if name not in ("rows", "rows_skipped") and (value is None or isinstance(value, numbers.Real))]


def rows_text(report: dict[str, Any]) -> str | None:
    """`95 rows scored; 5 skipped: 3 with a missing target, 2 with missing feature cells` (None without counts)."""
    if "rows" not in report:
        return None
    text = f"{report['rows']} rows scored"
    skipped = report.get("rows_skipped") or {}
    if any(skipped.values()):
        text += f"; {sum(skipped.values())} skipped: {skipped_text(skipped)}"
    return text


def _regression_table(report: dict[str, Any]) -> Table:
    names = _score_names(report)
    per_target = report.get("per_target") or {}
    table = Table(title="evaluation", header_style="bold")
    table.add_column("metric")
    table.add_column("value" if len(per_target) <= 1 else "mean", justify="right")
    if len(per_target) > 1:
        for target in per_target:
            table.add_column(str(target), justify="right")
    for name in names:
        row = [name, format_metric(report[name])]
        if len(per_target) > 1:
            row += [format_metric(scores.get(name)) for scores in per_target.values()]
        table.add_row(*row)
    return table


def model_summary_table(rows: list[dict[str, Any]], total_params: int) -> Table:
    """A Keras-style model summary: layer (type), output shape, parameter count, inputs."""
    table = Table(title="model", header_style="bold", caption=f"Total params: {total_params:,}",
                  caption_justify="left")
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    table.add_column("Connected to")
    for row in rows:
        table.add_row(Text(shown_text(f"{row['name']} ({row['type']})")), str(row["output_shape"]),
                      f"{int(row['params']):,}", Text(shown_text(", ".join(map(str, row.get("inputs") or [])))))
    return table
