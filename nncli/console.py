"""What `nncli train` and `nncli check` show around the numbers: header, live epochs, summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from nncli.display import TrainingDisplay, choose_mode, epoch_columns, run_summary


def make_console() -> Console:
    return Console(highlight=False)


def data_summary(prepared: Any) -> Table:
    """Rows per split, input width and classes of a prepared config."""
    config, datasets = prepared.config, prepared.datasets
    preprocessor = datasets.preprocessor
    table = Table.grid(padding=(0, 2))
    table.add_row("config", f"{config.name} ({config.task}, {config.dtype})")
    parts = [f"train {datasets.train.features.shape[0]}"]
    parts += [f"{name} {split.features.shape[0]}" for name, split in
              (("valid", datasets.valid), ("test", datasets.test)) if split is not None]
    table.add_row("rows", ", ".join(parts))
    table.add_row("inputs", f"{len(preprocessor.feature_names)} columns -> {preprocessor.input_width} features")
    if preprocessor.classes:
        table.add_row("classes", ", ".join(str(label) for label in preprocessor.classes))
    else:
        table.add_row("targets", ", ".join(preprocessor.target_names))
    return table


class TrainingSession:
    """Owns the console for one `nncli train`: a header, the epoch display, and the final summary."""

    def __init__(self, console: Console, quiet: bool):
        self.console = console
        self.mode = choose_mode(console, quiet)
        self.run_dir: Path | None = None
        self._display: TrainingDisplay | None = None

    def start(self, prepared: Any, run_dir: Path, first_epoch: int) -> None:
        from nncli.train import batches_per_epoch  # here: the module imports numpy, which --help never needs

        self.run_dir = run_dir
        config = prepared.config
        if self.mode != "quiet":
            self.console.print(data_summary(prepared))
            self.console.print(f"model: {prepared.model.parameter_count():,} parameters; run directory: {run_dir}",
                               soft_wrap=True)
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

    def finish(self, summary: dict) -> None:
        if self.mode != "quiet":
            self.console.print(run_summary(summary))
