"""Pictures of finished runs: learning curves (one line per run) and a test-set confusion matrix.

Needs matplotlib (the `plot` extra); drawn headless with the Agg backend and written atomically as PNG.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from nncli import runs
from nncli.errors import NncliError
from nncli.runview import RunView, read_run

INSTALL = 'pip install "nncli[plot]"'
CURVES_FILE = "learning_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
SKIPPED = {"epoch", "lr", "seconds"}


def require_matplotlib() -> Any:
    """matplotlib's pyplot on the Agg backend, or an error naming the extra that installs it."""
    try:
        import matplotlib
    except ImportError:
        raise NncliError(f"plot needs matplotlib: {INSTALL}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_runs(directories: list[str | Path], out_dir: str | Path | None = None) -> list[Path]:
    """Draw the runs' learning curves and their test confusion matrices; the files written.

    Into `out_dir` when given (the confusion matrix of each run named after it when there are several), else
    into each run directory (the same learning curves into each).
    """
    pyplot = require_matplotlib()
    views = [read_run(directory) for directory in directories]
    if out_dir is not None:
        out_dir = Path(out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise NncliError("is not a directory; -o takes the directory to write the plots into", file=str(out_dir))
        runs.make_directory(out_dir, "directory for the plots", parents=True, exist_ok=True)
    targets = [out_dir] if out_dir is not None else [view.directory for view in views]
    curves = learning_curves(pyplot, views)
    written = [_save(curves, directory / CURVES_FILE) for directory in targets]
    pyplot.close(curves)
    for view in views:
        matrix = test_confusion(view)
        if matrix is None:
            continue
        figure = confusion_figure(pyplot, view.name, *matrix)
        name = CONFUSION_FILE if out_dir is None or len(views) == 1 else f"confusion_matrix_{view.name}.png"
        written.append(_save(figure, (out_dir or view.directory) / name))
        pyplot.close(figure)
    return written


def curve_names(views: list[RunView]) -> list[str]:
    """The quantities to draw, loss first: each metric once, its val_ twin drawn in the same panel."""
    names: list[str] = []
    for view in views:
        for column in view.history.columns:
            base = column[4:] if column.startswith("val_") else column
            if base not in SKIPPED and base not in names:
                names.append(base)
    return sorted(names, key=lambda name: name != "loss")


def learning_curves(pyplot: Any, views: list[RunView]) -> Any:
    """One panel per quantity, epochs from 1: training solid, validation dashed, a colour per run, the best
    epoch marked with a dot; one legend for the figure, under the panels."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    names = curve_names(views)
    columns = min(len(names), 3) or 1
    rows = -(-len(names) // columns) or 1
    figure, axes = pyplot.subplots(rows, columns, figsize=(5.2 * columns, 3.6 * rows + 0.8), squeeze=False)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, name in zip(axes.ravel(), names, strict=False):
        for index, view in enumerate(views):
            _draw_run(axis, view, name, colours[index % len(colours)])
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if _spans_decades(axis):
            axis.set_yscale("log")
    for axis in axes.ravel()[len(names):]:
        axis.set_visible(False)
    handles = [Line2D([], [], color=colours[index % len(colours)], linewidth=3, label=view.name)
               for index, view in enumerate(views)]
    handles += [Line2D([], [], color="grey", linestyle="-", label="training"),
                Line2D([], [], color="grey", linestyle="--", label="validation"),
                Line2D([], [], color="grey", marker="o", linestyle="", label="best epoch")]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    figure.suptitle("learning curves: " + ", ".join(_run_label(view) for view in views))
    figure.tight_layout(rect=(0, 0.45 / (3.6 * rows + 0.8), 1, 1))
    return figure


def _spans_decades(axis: Any) -> bool:
    """True when the panel's positive values span more than two decades (a loss from 88 down to 0.1): drawn on
    a log scale, every run's curve keeps its shape."""
    values = np.concatenate([line.get_ydata() for line in axis.get_lines()] or [np.array([])]).astype(float)
    values = values[np.isfinite(values)]
    return bool(values.size) and values.min() > 0 and values.max() / values.min() > 100


def _run_label(view: RunView) -> str:
    best = view.summary.get("best_epoch")
    return view.name + (f" (best epoch {best + 1})" if best is not None else "")


def _draw_run(axis: Any, view: RunView, name: str, colour: str) -> None:
    history = view.history
    epochs = history["epoch"].to_numpy() + 1
    best = view.summary.get("best_epoch")
    at: np.ndarray | list[int] = np.flatnonzero(history["epoch"].to_numpy() == best) if best is not None else []
    for column, style in ((name, "-"), (f"val_{name}", "--")):
        if column not in history.columns or history[column].isna().all():
            continue
        values = history[column].to_numpy(dtype=np.float64)
        axis.plot(epochs, values, style, color=colour)
        if len(at):
            axis.plot(epochs[at[0]], values[at[0]], "o", color=colour, markersize=6)


def test_confusion(view: RunView) -> tuple[np.ndarray, list[str]] | None:
    """(confusion matrix, class labels) of a classification run's model on its config's test data, else None."""
    from nncli import api

    data = view.config.get("data") or {}
    if view.config.get("task") != "classification" or not data.get("test"):
        return None
    test = Path(data["test"])
    if not test.is_absolute():
        test = view.directory / test
    trained = api.load_model(view.directory)
    report = api.evaluate_model(trained, test)
    if report["confusion_matrix"] is None:  # too many classes to draw a readable matrix
        return None
    return np.asarray(report["confusion_matrix"]), [str(label) for label in trained.preprocessor.classes]


def confusion_figure(pyplot: Any, title: str, matrix: np.ndarray, classes: list[str]) -> Any:
    """Counts in each cell (rows: true class, columns: predicted), shaded by the share of the true class."""
    size = max(4.0, 0.6 * len(classes) + 2.5)
    figure, axis = pyplot.subplots(figsize=(size + 1, size))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, label="share of the true class")
    axis.set_xticks(range(len(classes)), classes, rotation=45 if max(map(len, classes)) > 4 else 0)
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    for (row, column), count in np.ndenumerate(matrix):
        axis.text(column, row, str(int(count)), ha="center", va="center",
                  color="white" if shares[row, column] > 0.5 else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axis.set_title(f"{title}: test confusion matrix (accuracy {accuracy:.3f})")
    figure.tight_layout()
    return figure


def _save(figure: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    data = buffer.getvalue()
    runs.write_atomically(path, lambda stream: stream.write(data))
    return path
