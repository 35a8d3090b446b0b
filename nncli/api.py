"""The plain Python API under the CLI: everything `nncli` does is one function call away.

    from nncli import api
    config = api.load_config("configs/moons.yaml", ["training.epochs=20"])   # YAML -> typed, frozen config
    prepared = api.prepare(config)                       # data read, network built (what `nncli check` shows)
    for event in api.run(config):                        # the run as events; `api.train` runs it to the end
        if isinstance(event, api.EpochFinished):
            print(event.record["epoch"], event.record["loss"])
    trained = api.load_model("runs/moons")               # model.npz: network, preprocessing, config
    predictions = trained.predict_frame(pandas.read_csv("new.csv"))
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nncli import runs
from nncli.arrays import fit_arrays
from nncli.build import Prepared, load_data, prepare
from nncli.config import Config, config_from_dict, load_config
from nncli.cv import CvResult, cv
from nncli.data import read_table
from nncli.data.reading import read_table_keeping
from nncli.data.sources import display_name, rows_not_lines
from nncli.modelfile import TrainedModel, load_model
from nncli.run import (
    CheckpointSaved,
    Diverged,
    EpochFinished,
    Event,
    RunDiverged,
    RunFinished,
    RunResult,
    RunStarted,
    RunStopped,
    run_events,
)
from nncli.sweep import SweepResult, sweep
from nncli.train import Interrupted

__all__ = ["CheckpointSaved", "CvResult", "Diverged", "EpochFinished", "Event", "Interrupted", "Prepared",
           "RunDiverged", "RunFinished", "RunResult", "RunStarted", "RunStopped", "SweepResult", "TrainedModel",
           "check", "config_from_dict", "cv", "evaluate_model", "fit_arrays", "load_config", "load_data",
           "load_model", "predict", "prepare", "run", "sweep", "train"]


def check(config_path: str | Path, overrides: Sequence[str] = ()) -> Prepared:
    """Validate config and data and build the network; trains and writes nothing."""
    return prepare(load_config(config_path, overrides))


def run(config: str | Path | Config, out: str | Path | None = None, overrides: Sequence[str] = (),
        resume: bool = False, *, should_stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[int], None] | None = None, base: Path | None = None) -> Generator[Event, None, None]:
    """Train a config into a run directory (see SPEC.md), yielding the run's events (see `nncli.run`).

    The directory (`out`, else the first free `runs/<name>[-k]` under `base` or the working directory) is
    claimed before anything is written and held until the stream ends.
    """
    resolved = config if isinstance(config, Config) else load_config(config, overrides)
    prepared = prepare(resolved)
    with runs.claim_run_dir(resolved.name, None if out is None else Path(out), resume, base) as run_dir:
        yield from run_events(prepared, run_dir, resume, should_stop=should_stop, on_batch=on_batch)


def train(config: str | Path | Config, out: str | Path | None = None, overrides: Sequence[str] = (),
          resume: bool = False, on_epoch: Callable[[dict], None] | None = None,
          on_batch: Callable[[int], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False, base: Path | None = None,
          on_start: Callable[[Prepared, Path, int], None] | None = None) -> RunResult:
    """`run` to its end: the finished run, or `Interrupted` (checkpoint written) when `should_stop()` turned
    true, or `Diverged` when training diverged (the checkpoint on disk stays the last one with finite weights)."""
    for event in run(config, out, overrides, resume, should_stop=should_stop, on_batch=on_batch, base=base):
        match event:
            case RunStarted(prepared=prepared, run_dir=run_dir, first_epoch=first_epoch) if on_start:
                on_start(prepared, run_dir, first_epoch)
            case EpochFinished(record=record) if on_epoch:
                on_epoch(record)
            case RunStopped(message=message):
                raise Interrupted(message)
            case RunDiverged(message=message):
                raise Diverged(message)
            case RunFinished(result=result):
                return result
    raise AssertionError("a run's events end with RunFinished, RunStopped or RunDiverged")


def predict(model_path: str | Path, data_path: str | Path, keep: Sequence[str] = ()) -> pd.DataFrame:
    """Predictions of a saved model for a data file (CSV, compressed CSV, Parquet, or `-` for standard input),
    with its `keep` columns (as the file holds them) in front (see `TrainedModel.predict_frame`)."""
    trained = load_model(model_path)
    name = display_name(data_path)
    na_values = trained.preprocessor.na_values
    with rows_not_lines():
        if not keep:
            return trained.predict_frame(read_table(Path(data_path), display_path=name, na_values=na_values),
                                         source=name)
        frame, kept = read_table_keeping(Path(data_path), keep, display_path=name, na_values=na_values)
        return trained.predict_frame(frame, source=name, keep=kept)


def evaluate_model(trained: TrainedModel, data_path: str | Path) -> dict[str, Any]:
    """Loss and metrics of `trained` on a labelled data file, rows scored and skipped
    (see `TrainedModel.evaluate_frame`)."""
    name = display_name(data_path)
    with rows_not_lines():
        frame = read_table(Path(data_path), display_path=name, na_values=trained.preprocessor.na_values)
        return trained.evaluate_frame(frame, source=name)
