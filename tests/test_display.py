"""Rich rendering: render to a recording console and check the text."""

from __future__ import annotations

import io
import re

from rich.console import Console

from nncli.display import (
    TrainingDisplay,
    choose_mode,
    epoch_columns,
    epoch_line,
    epoch_table,
    evaluation_renderables,
    model_summary_table,
    run_summary,
)
from nncli.sparkline import sparkline

COLUMNS = ["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"]


def console(terminal: bool = False) -> Console:
    return Console(record=True, width=100, file=io.StringIO(), force_terminal=terminal)


def render(*renderables) -> str:
    recorder = console()
    for renderable in renderables:
        recorder.print(renderable)
    return recorder.export_text()


def record(epoch: int) -> dict:
    return {"epoch": epoch, "loss": 0.693147 / (epoch + 1), "val_loss": 0.70001, "accuracy": 0.5,
            "val_accuracy": 0.123456, "lr": 0.1, "seconds": 0.0312}


def test_epoch_columns():
    assert epoch_columns(["accuracy"], True) == COLUMNS
    assert epoch_columns(["accuracy", "f1"], False) == ["epoch", "loss", "accuracy", "f1", "lr", "seconds"]


def test_epoch_table_formats_compactly_and_counts_from_one():
    text = render(epoch_table([record(0), record(1)], COLUMNS, 100))
    assert text.split("\n")[0].split() == COLUMNS
    assert text.split("\n")[1].split() == ["1/100", "0.6931", "0.7", "0.5", "0.1235", "1.00e-01", "0.03"]
    assert text.split("\n")[2].split()[:2] == ["2/100", "0.3466"]


def test_missing_and_nan_values():
    text = render(epoch_table([{"epoch": 0, "loss": float("nan"), "lr": 0.01}], COLUMNS, 5))
    assert text.split("\n")[1].split() == ["1/5", "nan", "-", "-", "-", "1.00e-02", "-"]


def test_epoch_line():
    line = epoch_line(record(4), COLUMNS, 10)
    assert line == ("epoch 5/10  loss=0.1386  val_loss=0.7  accuracy=0.5  val_accuracy=0.1235  lr=1.00e-01"
                    "  seconds=0.03")


def test_choose_mode():
    assert choose_mode(console(terminal=True), quiet=False) == "live"
    assert choose_mode(console(), quiet=False) == "plain"
    assert choose_mode(console(terminal=True), quiet=True) == "quiet"


def test_plain_mode_prints_one_line_per_epoch():
    out = console()
    with TrainingDisplay(out, COLUMNS, 3, 100, "plain") as display:
        for epoch in range(3):
            for batch in range(100):
                display.batch_done(batch)
            display.epoch_done(record(epoch))
    lines = out.export_text().splitlines()
    assert lines == [epoch_line(record(epoch), COLUMNS, 3) for epoch in range(3)]


def test_quiet_mode_prints_nothing():
    out = console(terminal=True)
    with TrainingDisplay(out, COLUMNS, 2, 100, "quiet") as display:
        display.batch_done(0)
        display.epoch_done(record(0))
    assert out.export_text() == ""


def last_frame(text: str) -> str:
    """The last table drawn by a Live display (each frame starts with the header)."""
    headers = list(re.finditer(r"epoch +loss", text))
    return text[headers[-1].start():]


def test_live_mode_keeps_the_last_twenty_epochs():
    out = console(terminal=True)
    with TrainingDisplay(out, COLUMNS, 30, 10, "live") as display:
        for epoch in range(25):
            display.epoch_done(record(epoch))
    frame = last_frame(out.export_text())
    rows = [line.split()[0] for line in frame.splitlines()[1:] if "/30" in line]
    assert rows == [f"{epoch}/30" for epoch in range(6, 26)]
    assert "last 20 of 25 epochs" in frame
    assert "━" not in out.export_text()  # short epochs: no progress bar


def test_live_mode_shows_a_throttled_batch_bar_for_long_epochs():
    out = console(terminal=True)
    with TrainingDisplay(out, COLUMNS, 3, 200, "live") as display:
        refreshes = []
        refresh = display._live.refresh
        display._live.refresh = lambda: (refreshes.append(1), refresh())
        for batch in range(2000):
            display.batch_done(batch % 200)
        batch_refreshes = len(refreshes)
        display.epoch_done(record(0))
    text = out.export_text()
    assert "epoch 1/3" in text and "/200" in text and "━" in text
    assert batch_refreshes <= 2  # 2000 fast batches redraw once (or twice on a slow machine), not 2000 times
    frame = last_frame(text)
    assert "1/3" in frame and "━" not in frame  # the final view keeps the table, not the bar


def test_run_summary():
    summary = {
        "run_dir": "runs/moons-2",
        "epochs_run": 37,
        "best_epoch": 26,
        "final": {"epoch": 36, "loss": 0.25, "val_loss": 0.3, "accuracy": 0.9, "lr": 0.05},
        "best": {"epoch": 26, "loss": 0.28, "val_loss": 0.27, "accuracy": 0.88, "lr": 0.06},
        "test": {"loss": 0.31, "accuracy": 0.875},
        "wall_seconds": 75.3,
        "stopped_early": True,
        "weights_epoch": 26,
        "weights_restored": True,
    }
    text = render(run_summary(summary))
    assert "runs/moons-2" in text
    assert "37 (stopped early)" in text
    assert "best epoch  27" in text
    assert "1m 15s" in text
    rows = {line.strip("│ ").split()[0]: line.strip("│ ").split()[1:] for line in text.splitlines()
            if "│" in line and line.strip("│ ")}
    assert rows["metric"] == ["┃", "final", "┃", "best", "┃", "test"]
    assert rows["loss"] == ["│", "0.25", "│", "0.28", "│", "0.31"]
    assert rows["val_loss"] == ["│", "0.3", "│", "0.27", "│", "-"]
    assert rows["accuracy"] == ["│", "0.9", "│", "0.88", "│", "0.875"]
    assert "lr" not in rows and "epoch" not in rows  # the learning rate is no score: no "best lr"
    assert "final lr    5.00e-02" in text
    assert "model.npz   weights of epoch 27, the best (restored by early stopping)" in text


def test_run_summary_without_test_or_epochs():
    summary = {"run_dir": "out", "epochs_run": 0, "best_epoch": None, "final": {}, "best": {}, "test": None,
               "wall_seconds": 0.4, "stopped_early": False}
    text = render(run_summary(summary))
    assert "epochs run  0" in text and "best epoch  -" in text and "0.4s" in text
    assert "test" not in text and "stopped early" not in text


def cells(text: str, first: str) -> list[str]:
    """The cells of the table row starting with `first`."""
    for line in text.splitlines():
        parts = [part.strip() for part in line.strip().strip("│┃").split("│")]
        if parts[0] == first:
            return parts[1:]
    raise AssertionError(f"no row {first!r} in\n{text}")


def test_classification_evaluation():
    report = {
        "loss": 0.41234,
        "accuracy": 0.6,
        "precision": 0.75,
        "recall": 2 / 3,
        "f1": 7 / 12,
        "per_class": {"no": {"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "support": 3},
                      "yes": {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2}},
        "confusion_matrix": [[1, 2], [0, 2]],
    }
    metrics, per_class, matrix = evaluation_renderables(report, "classification", ["no", "yes"])
    text = render(metrics)
    assert cells(text, "loss") == ["0.4123"]
    assert cells(text, "recall") == ["0.6667"]
    assert cells(text, "f1") == ["0.5833"]
    text = render(per_class)
    assert cells(text, "no") == ["1", "0.3333", "0.5", "3"]
    assert cells(text, "yes") == ["0.5", "1", "0.6667", "2"]
    text = render(matrix)
    header = [part.strip() for part in text.splitlines()[2].strip("┃").split("┃")]
    assert header == ["true \\ predicted", "no", "yes"]
    assert cells(text, "no") == ["1", "2"]
    assert cells(text, "yes") == ["0", "2"]


def test_a_report_without_its_matrix_says_so_in_one_line():
    report = {"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5, "confusion_matrix": None,
              "per_class": {f"c{i}": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 1} for i in range(1001)}}
    *_, matrix = evaluation_renderables(report, "classification", [f"c{i}" for i in range(1001)])
    assert render(matrix).strip() == \
        "confusion matrix: left out for 1001 classes (eval --json has the per-class scores)"


def test_regression_evaluation():
    report = {"loss": 0.5, "mse": 0.5, "mae": 0.625, "rmse": 0.7071, "r2": 0.55,
              "per_target": {"y": {"mse": 0.5, "mae": 0.625, "rmse": 0.7071, "r2": 0.55}}}
    (table,) = evaluation_renderables(report, "regression", [])
    text = render(table)
    assert [cells(text, name) for name in ["loss", "mse", "mae", "rmse", "r2"]] == [
        ["0.5"], ["0.5"], ["0.625"], ["0.7071"], ["0.55"]]
    report["per_target"] = {"a": {"mse": 1.0, "r2": 0.25}, "b": {"mse": 0.0, "r2": 0.85}}
    text = render(evaluation_renderables(report, "regression", [])[0])
    assert cells(text, "mse") == ["0.5", "1", "0"]
    assert cells(text, "loss") == ["0.5", "-", "-"]


def test_model_summary_table():
    rows = [
        {"name": "hidden", "type": "dense", "inputs": ["input"], "output_shape": "(None, 16)", "params": 48},
        {"name": "drop", "type": "dropout", "inputs": ["hidden"], "output_shape": "(None, 16)", "params": 0},
        {"name": "wide", "type": "dense", "inputs": ["drop"], "output_shape": "(None, 1000)",
         "params": 17000},
        {"name": "join", "type": "concat", "inputs": ["hidden", "wide"], "output_shape": "(None, 1016)",
         "params": 0},
    ]
    text = render(model_summary_table(rows, 17048))
    assert cells(text, "hidden (dense)") == ["(None, 16)", "48", "input"]
    assert cells(text, "wide (dense)") == ["(None, 1000)", "17,000", "drop"]
    assert cells(text, "join (concat)") == ["(None, 1016)", "0", "hidden, wide"]
    assert "Total params: 17,048" in text


def test_sparkline_spans_the_bars_and_samples_long_curves():
    assert sparkline([3.0, 2.0, 1.0, 0.0]) == "█▆▃▁"
    assert sparkline([1.0, 1.0]) == "▁▁"
    assert sparkline([0.0, float("nan"), 1.0]) == "▁ █"
    long = sparkline(list(range(100)), width=10)
    assert len(long) == 10 and long[0] == "▁" and long[-1] == "█"


def test_run_summary_shows_loss_curves():
    summary = {"run_dir": "out", "epochs_run": 3, "best_epoch": 2, "final": {"loss": 0.2}, "best": {}, "test": None,
               "wall_seconds": 1.0, "stopped_early": False}
    history = [{"epoch": 0, "loss": 0.9, "val_loss": 0.8}, {"epoch": 1, "loss": 0.5, "val_loss": 0.1},
               {"epoch": 2, "loss": 0.2, "val_loss": 0.2}]
    text = render(run_summary(summary, history))
    assert "loss        █▄▁  0.9 → 0.2" in text
    assert "val_loss    █▁▂  0.8 → 0.2" in text
    assert "█" not in render(run_summary(summary))
