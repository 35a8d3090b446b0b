"""The live epoch table in a narrow terminal: numbers are never cut; columns that do not fit are left out and
named in a note."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from nncli.display import TrainingDisplay, epoch_columns, epoch_table

METRICS = ["accuracy", "precision", "recall", "f1", "auc"]


def record(epoch: int) -> dict:
    values = {name: 0.0734567 + epoch / 1000 for name in epoch_columns(METRICS, True)[3:-2]}
    return {"epoch": epoch, "loss": 0.0734567, "val_loss": 1.2345e-5, **values, "lr": 1e-3, "seconds": 12.345}


def rendered(renderable, width: int) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 60, 40])
def test_a_narrow_table_cuts_no_value_and_names_the_columns_it_leaves_out(width):
    columns = epoch_columns(METRICS, True)
    records = [record(epoch) for epoch in range(95, 100)]
    text = rendered(epoch_table(records, columns, 100, width=width), width)
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    header, *rows = text.splitlines()
    shown = header.split()
    assert shown[:3] == ["epoch", "loss", "val_loss"]
    assert len(shown) < len(columns)  # some left out at these widths
    assert rows[0].split()[:3] == ["96/100", "0.07346", "1.234e-05"]
    assert [row.split()[0] for row in rows[:5]] == [f"{epoch}/100" for epoch in range(96, 101)]
    note = " ".join(" ".join(rows[5:]).split())
    hidden = [column for column in columns if column not in shown]
    assert note == f"not shown, to fit the terminal: {', '.join(hidden)} (see metrics.csv)"
    assert hidden[-2:] == ["lr", "seconds"]
    if width == 80:  # validation metrics come before training ones
        assert shown == ["epoch", "loss", "val_loss", "val_accuracy", "val_precision", "val_recall", "val_f1"]


def test_a_wide_terminal_shows_every_column_without_a_note():
    columns = epoch_columns(METRICS, True)
    text = rendered(epoch_table([record(0)], columns, 100, width=200), 200)
    assert text.splitlines()[0].split() == columns and "not shown" not in text


def test_the_live_display_fits_the_console_and_keeps_the_bar_numbers_whole():
    console = Console(record=True, width=60, file=io.StringIO(), force_terminal=True)
    columns = epoch_columns(METRICS, True)
    with TrainingDisplay(console, columns, 100, 1000, "live") as display:
        for epoch in range(25):
            display.epoch_done(record(epoch))
        display.batch_done(998)
        text = rendered(display._renderable(), 60)
    assert "…" not in text
    assert "last 20 of 25 epochs; not shown, to fit the terminal:" in " ".join(text.split())
    narrow = Console(record=True, width=40, file=io.StringIO(), force_terminal=True)
    with TrainingDisplay(narrow, ["epoch", "loss"], 100, 1000, "live") as display:
        display.epoch_done(record(0))
        display._progress.update(display._task, completed=999)
        text = rendered(display._renderable(), 40)
    assert "999/1000" in text and "epoch 2/100" in text and "…" not in text
