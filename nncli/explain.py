"""Permutation importance: how much the model's main score drops when one raw feature column is shuffled.

The features are prepared once; a column's network inputs (its scaled column, its whole one-hot block, so a
categorical column moves as one, or an embedded column's index array) are then permuted by rows in place and
restored. Shuffles come from one
generator seeded with `seed`, drawn column by column, `repeats` per column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nncli.errors import DataError
from nncli.metrics import METRICS
from nncli.modelfile import TrainedModel, check_finite
from nncli.nn.graph import DATA_INPUT
from nncli.split import Split


def main_metric(task: str) -> str:
    """The score importance is measured on: accuracy for classification, r2 for regression."""
    return "accuracy" if task == "classification" else "r2"


def permutation_importance(trained: TrainedModel, split: Split, repeats: int = 5, seed: int = 0,
                           outputs: np.ndarray | None = None) -> dict[str, Any]:
    """`{"metric", "baseline", "rows", "repeats", "features": [{"feature", "mean", "std"}]}`, largest mean drop
    first (std over the repeats, ddof 0); `outputs`: the model's for `split`, when the caller has them."""
    metric = METRICS.create(main_metric(trained.task))
    outputs = trained.predict_arrays(split.inputs()) if outputs is None else outputs
    baseline = float(metric(split.targets, outputs))
    # permuted in place, one column's block (or index array) at a time
    inputs = {name: np.array(array, copy=True) for name, array in split.inputs().items()}
    blocks = trained.preprocessor.feature_slices()
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for name in trained.preprocessor.feature_names:
        values, block = (inputs[DATA_INPUT], blocks[name]) if name in blocks else (inputs[name], slice(None))
        target = values[:, block] if values.ndim == 2 else values
        original = target.copy()
        drops = []
        for _ in range(repeats):
            target[...] = original[rng.permutation(len(original))]
            drops.append(baseline - float(metric(split.targets, trained.predict_arrays(inputs))))
        target[...] = original
        rows.append({"feature": name, "mean": float(np.mean(drops)), "std": float(np.std(drops))})
    rows.sort(key=lambda row: -row["mean"])
    return {"metric": metric.name, "baseline": baseline, "rows": int(split.rows), "repeats": repeats,
            "features": rows}


def explain(model_path: str | Path, data_path: str | Path, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Permutation importance of a saved model's raw feature columns on a labelled data file."""
    from nncli.api import load_model
    from nncli.data import read_table
    from nncli.data.sources import display_name, rows_not_lines

    trained = load_model(model_path)
    name = display_name(data_path)
    with rows_not_lines():
        frame = read_table(Path(data_path), display_path=name, na_values=trained.preprocessor.na_values)
        prepared = trained.preprocessor.prepare_rows(frame, source=name, require_target=True)
    if prepared.frame.empty:
        raise DataError(f"no rows to score: {len(frame)} rows, all skipped", file=name)
    dtype, pre = trained.model.dtype, trained.preprocessor
    split = Split(pre.features(prepared.frame, dtype), pre.targets(prepared.frame, dtype),
                  indices=pre.indices(prepared.frame))
    outputs = trained.predict_arrays(split.inputs())
    check_finite(outputs, prepared.frame.index, name)
    return {**permutation_importance(trained, split, repeats, seed, outputs), "warnings": prepared.warnings}


def importance_heading(report: dict[str, Any]) -> str:
    """What the table measures: the metric, its value before any shuffle, rows and shuffles."""
    from nncli.display import format_number

    return (f"permutation importance: drop in {report['metric']} from {format_number(report['baseline'])} "
            f"({report['rows']} rows, {report['repeats']} shuffles per column, seed 0)")


def importance_table(report: dict[str, Any]) -> Any:
    """A row per feature: the mean and std drop of the metric, largest first."""
    from rich.table import Table
    from rich.text import Text

    from nncli.errors import shown_text

    table = Table(header_style="bold", show_edge=False)
    table.add_column("feature")
    table.add_column("mean drop", justify="right")
    table.add_column("std", justify="right")
    for row in report["features"]:
        table.add_row(Text(shown_text(row["feature"])), f"{row['mean']:.4f}", f"{row['std']:.4f}")
    return table
