"""Rich tables that describe rather than train: `nncli list`, `nncli inspect`, and the data summary of `check`
and `train`.

Pure functions from data to tables; the commands print them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nncli.display import format_number
from nncli.errors import format_values, one_paragraph, quoted, shown_text

if TYPE_CHECKING:  # `nncli list` need not import pandas
    from nncli.catalogue import Entry
    from nncli.data.profile import Profile, TargetProfile
    from nncli.describe import Inspection


def catalogue_table(family: str, entries: list[Entry]) -> Table:
    """One family of the catalogue: each name, its parameters with their defaults, their limits, its summary."""
    table = Table(title=family, title_justify="left", show_lines=True)
    table.add_column("name", no_wrap=True)
    table.add_column("parameters", no_wrap=True)
    table.add_column("limits", no_wrap=True)
    table.add_column("summary", ratio=1, overflow="fold")
    for entry in entries:
        # one parameter a line, its limits on the same line of the next column
        parameters = "\n".join(parameter.describe() for parameter in entry.parameters)
        limits = "\n".join(parameter.limits for parameter in entry.parameters)
        table.add_row(entry.name, parameters, limits, entry.summary)
    return table


def inspection_renderables(inspection: Inspection) -> list[RenderableType]:
    """What `nncli inspect` prints: the file line, a row per column, the target, then the warnings."""
    profile = inspection.profile
    how = [f"{profile.rows} rows", f"{len(profile.columns)} columns"]
    if inspection.delimiter is not None:
        how += [f"delimiter {inspection.delimiter!r}", f"encoding {inspection.encoding}"]
    shown: list[RenderableType] = [f"{escape(shown_text(inspection.file))}: {', '.join(how)}", _columns_table(profile)]
    if profile.target is not None:
        shown += _target_renderables(profile.target)
    if profile.warnings:
        shown.append("warnings:\n" + "\n".join(f"- {escape(one_paragraph(warning))}" for warning in profile.warnings))
    else:
        shown.append("no warnings")
    return shown


def _columns_table(profile: Profile) -> Table:
    table = Table(title="columns", title_justify="left")
    for heading in ("column", "kind", "missing", "distinct"):
        table.add_column(heading, justify="right" if heading in ("missing", "distinct") else "left", no_wrap=True)
    table.add_column("range or top values", overflow="fold")
    for column in profile.columns:
        if column.minimum is not None:
            values = f"{format_number(column.minimum)} .. {format_number(column.maximum)}, mean " \
                     f"{format_number(column.mean)}"
        else:
            values = ", ".join(f"{shown_text(value)} ({count})" for value, count in column.top)
        table.add_row(escape(shown_text(column.name)), column.kind, str(column.missing), str(column.distinct),
                      escape(values))
    return table


def _target_renderables(target: TargetProfile) -> list[RenderableType]:
    known = sum(count for _, count in target.classes)
    heading = f"target {escape(quoted(target.name))}: {target.task}"
    if target.task == "classification":
        heading += f", {len(target.classes)} classes"
        table = Table()
        table.add_column("class")
        for column in ("rows", "share"):
            table.add_column(column, justify="right")
        for label, count in target.classes:
            table.add_row(escape(shown_text(label)), str(count), f"{count / known:.1%}")
    else:
        table = Table()
        table.add_column("statistic")
        table.add_column("value", justify="right")
        for name, value in target.statistics.items():
            table.add_row(name, format_number(value))
    if target.missing:
        heading += f"; {target.missing} rows without a target"
    return [heading, table]


def skipped_by_split(rows_skipped: dict[str, dict[str, int]]) -> str | None:
    """`12 with a missing target (train 9, valid 2, test 1)`, one part per reason; None when no row was skipped."""
    from nncli.data.checks import SKIP_REASONS  # here: `nncli list` prints tables without importing pandas

    parts = []
    for reason, what in SKIP_REASONS.items():
        counts = {part: skipped.get(reason, 0) for part, skipped in rows_skipped.items()}
        total = sum(counts.values())
        if total:
            where = ", ".join(f"{part} {count}" for part, count in counts.items() if count)
            parts.append(f"{total} {what} ({where})")
    return "; ".join(parts) or None


def data_summary(prepared: Any) -> Table:
    """Rows per split, input width and classes of a prepared config."""
    config, datasets = prepared.config, prepared.datasets
    preprocessor = datasets.preprocessor
    table = Table.grid(padding=(0, 2))
    table.add_row("config", Text(shown_text(f"{config.name} ({config.task}, {config.dtype})")))
    parts = [f"train {datasets.train.features.shape[0]}"]
    parts += [f"{name} {split.features.shape[0]}" for name, split in
              (("valid", datasets.valid), ("test", datasets.test)) if split is not None]
    table.add_row("rows", ", ".join(parts))
    skipped = skipped_by_split(getattr(datasets, "rows_skipped", {}))
    if skipped is not None:
        table.add_row("skipped", skipped)
    embedded = f" + {len(preprocessor.embedded)} embedded" if preprocessor.embedded else ""
    table.add_row("inputs", f"{len(preprocessor.feature_names)} columns -> {preprocessor.input_width} features"
                            f"{embedded}")
    for row in prepared.model.embeddings():
        table.add_row("embedding", Text(shown_text(
            f"{row['column']}: {row['categories']} categories + unknown -> {row['dim']} dims, "
            f"{row['parameters']:,} parameters ({row['name']})")))
    if preprocessor.classes:
        table.add_row("classes", Text(format_values([str(label) for label in preprocessor.classes])))
    else:
        table.add_row("targets", Text(format_values(preprocessor.target_names)))
    return table
