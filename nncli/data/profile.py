"""What `nncli inspect` and `nncli init` learn about a table: each column's kind and the warnings a user needs.

Everything is computed from the frame `read_table` returns, column by column with vectorised pandas
operations, so a large file costs about one read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TOP_VALUES = 5
ID_MIN_ROWS = 20  # fewer rows can be unique per row by chance
UNNAMED = re.compile(r"Unnamed: \d+")
STRATIFY_MIN_ROWS = 2  # a stratified split needs a class in both parts
MAX_MARKERS = 3
MAX_DISTINCT_FOR_MARKERS = 100_000
LEAK_PURITY = 0.999  # a column whose values give the target for this share of rows predicts it alone


@dataclass
class ColumnProfile:
    """One column: its kind, missing cells, distinct values and their range or most frequent values."""

    name: str
    kind: str  # numeric | categorical | constant | id-like | index-like
    missing: int
    distinct: int
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    top: list[tuple[str, int]] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)  # texts in a column of numbers ("?", "-"): missing markers


@dataclass
class TargetProfile:
    """The target column: class balance for classification, statistics for regression."""

    name: str
    task: str
    missing: int
    classes: list[tuple[str, int]] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)


@dataclass
class Profile:
    """A table's profile: shape, columns, the target (when named) and warnings, one line each."""

    rows: int
    columns: list[ColumnProfile]
    target: TargetProfile | None
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`."""
        return {"rows": self.rows, "columns": [vars(column) for column in self.columns],
                "target": None if self.target is None else vars(self.target), "warnings": self.warnings}


def profile_frame(frame: pd.DataFrame, target: str | None = None) -> Profile:
    """The profile of `frame`; `target` must be one of its columns."""
    columns = [profile_column(name, frame[name]) for name in frame.columns]
    warnings = [warning for column in columns if column.name != target for warning in column_warnings(column)]
    target_profile = None
    if target is not None:
        values = frame[target]
        target_profile = profile_target(target, values)
        warnings += target_warnings(target_profile, values)
        features = [column for column in columns if column.name != target and column.kind in ("numeric", "categorical")]
        codes = pd.factorize(values)[0]
        warnings += [f"column {column.name!r} alone predicts the target {target!r} (leakage?): leave it out with "
                     "data.features unless it is really known at prediction time"
                     for column in features if predicts_alone(frame[column.name], values, target_profile.task, codes)]
    return Profile(len(frame), columns, target_profile, warnings)


def profile_column(name: str, values: pd.Series) -> ColumnProfile:
    missing = int(values.isna().sum())
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        present = values.dropna() if missing else values
        distinct = _distinct_numbers(present.to_numpy())
        column = ColumnProfile(name, _kind(name, present, distinct, numeric, len(values)), missing, distinct)
        if len(present):
            column.minimum, column.maximum = float(present.min()), float(present.max())
            column.mean = float(present.mean())
        return column
    counts = values.value_counts()  # one hashing pass gives the distinct values and the top ones
    if len(counts) and not isinstance(counts.index[0], str):
        counts = values.dropna().astype(str).value_counts()
    column = ColumnProfile(name, _kind(name, values, len(counts), numeric, len(values)), missing, len(counts))
    column.top = [(str(value), int(count)) for value, count in counts.head(TOP_VALUES).items()]
    column.markers = missing_markers(counts)
    return column


def missing_markers(counts: pd.Series) -> list[str]:
    """The few texts (at most MAX_MARKERS, in at most a tenth of the cells) that keep a column of numbers from
    being read as numbers: `?`, `-`, `n/a`. Checked over the distinct values only."""
    if not 1 < len(counts) <= MAX_DISTINCT_FOR_MARKERS:
        return []
    numbers = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").to_numpy()
    texts = counts[np.isnan(numbers)]
    if not 0 < len(texts) <= MAX_MARKERS or texts.sum() > counts.sum() / 10 or len(texts) == len(counts):
        return []
    return [str(text) for text in texts.index]


def _distinct_numbers(values: np.ndarray) -> int:
    """How many distinct values: sorting counts them about 5 times faster than pandas' hashing of floats."""
    if not len(values):
        return 0
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _kind(name: str, present: pd.Series, distinct: int, numeric: bool, rows: int) -> str:
    if distinct <= 1:
        return "constant"
    if is_index_like(name, present):
        return "index-like"
    integral = numeric and bool((present == np.floor(present)).all()) if numeric else False
    if is_id_like(distinct, rows, numeric, integral):
        return "id-like"
    return "numeric" if numeric else "categorical"


def is_unnamed(name: str) -> bool:
    """A column whose header cell is empty: pandas names it `Unnamed: <position>`."""
    return bool(UNNAMED.fullmatch(str(name)))


def is_index_like(name: str, present: pd.Series, positions: np.ndarray | None = None) -> bool:
    """A column `DataFrame.to_csv()` wrote without `index=False`: unnamed (`Unnamed: 0`), or the integers 0..n-1
    (1..n) of the rows' `positions` in the file (default: 0..n-1; a subset of rows keeps its file positions)."""
    if is_unnamed(name):
        return True
    if not pd.api.types.is_numeric_dtype(present) or pd.api.types.is_bool_dtype(present) or len(present) < 3:
        return False
    values = present.to_numpy()
    offset = values - (np.arange(len(values)) if positions is None else np.asarray(positions))
    return bool(offset[0] in (0, 1) and (offset == offset[0]).all())


def is_id_like(distinct: int, rows: int, numeric: bool, integral: bool) -> bool:
    """Unique per row (over ID_MIN_ROWS rows), as text or whole numbers: it names rows rather than describes them."""
    return distinct == rows and rows > ID_MIN_ROWS and (not numeric or integral)


def kind_warning(name: str, kind: str) -> str | None:
    """The one-line warning for a column of a suspicious kind (None for an ordinary one)."""
    if kind == "index-like":
        return (f"column {name!r} looks like a saved row index: leave it out with data.features "
                "(or save the CSV with index=False)")
    if kind == "id-like":
        return (f"column {name!r} is unique per row (an ID?): as a feature it cannot generalise; leave it out "
                "with data.features")
    if kind == "constant":
        return f"column {name!r} is constant: it carries no information; leave it out with data.features"
    return None


def column_warnings(column: ColumnProfile) -> list[str]:
    warning = kind_warning(column.name, column.kind)
    warnings = [] if warning is None else [warning]
    if column.markers:
        shown = ", ".join(f'"{marker}"' for marker in column.markers)
        warnings.append(f"column {column.name!r} holds numbers and the texts {shown}: read those as missing with "
                        f"data.na_values: [{shown}] (else it is a text column)")
    return warnings


def profile_target(name: str, values: pd.Series) -> TargetProfile:
    present = values.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    distinct = int(present.nunique())
    classification = not numeric or (distinct <= 20 and bool((present == np.floor(present)).all()))
    profile = TargetProfile(name, "classification" if classification else "regression", len(values) - len(present))
    if classification:
        counts = present.astype(str).value_counts()
        profile.classes = [(str(label), int(count)) for label, count in counts.items()]
    else:
        profile.statistics = {"mean": float(present.mean()), "std": float(present.std()),
                              "min": float(present.min()), "max": float(present.max())}
    return profile


def target_warnings(target: TargetProfile, values: pd.Series) -> list[str]:
    warnings = []
    if target.missing:
        warnings.append(f"the target {target.name!r} has {target.missing} missing cells: those rows cannot train "
                        "(data.missing_target: drop skips them)")
    small = [label for label, count in target.classes if count < STRATIFY_MIN_ROWS]
    if small:
        warnings.append(f"class {small[0]!r} of {target.name!r} has fewer than {STRATIFY_MIN_ROWS} rows: too few "
                        "for a stratified validation split (data.valid)")
    if is_sorted_by(values.dropna(), target.task):
        warnings.append(f"the rows are sorted by the target {target.name!r}: keep training.shuffle on, and split "
                        "validation rows at random (data.valid as a fraction does)")
    return warnings


def is_sorted_by(values: pd.Series, task: str) -> bool:
    """Rows in target order: a numeric target monotonic, or each class in one block."""
    if len(values) < 3 or values.nunique() < 2:
        return False
    if task == "regression":
        return bool(values.is_monotonic_increasing or values.is_monotonic_decreasing)
    codes = pd.factorize(values)[0]
    return int((np.diff(codes) != 0).sum()) == values.nunique() - 1


def predicts_alone(feature: pd.Series, target: pd.Series, task: str,
                   target_codes: np.ndarray | None = None) -> bool:
    """True when the feature's values alone give the target for nearly every row.

    `target_codes` (pd.factorize of `target`) saves factorizing the target again for every feature.
    """
    if task == "regression":
        both = pd.DataFrame({"x": feature, "y": target}).dropna()
        if len(both) < 10 or not pd.api.types.is_numeric_dtype(both["x"]):
            return False
        # Spearman's rho as the Pearson correlation of the ranks (pandas' method="spearman" needs scipy)
        return abs(float(both["x"].rank().corr(both["y"].rank()))) >= LEAK_PURITY
    codes = pd.factorize(target)[0] if target_codes is None else target_codes
    keep = (codes >= 0) & feature.notna().to_numpy()
    labels = codes[keep]
    if len(labels) < 10:
        return False
    classes = int(np.count_nonzero(np.bincount(labels)))
    if pd.api.types.is_numeric_dtype(feature) and not pd.api.types.is_bool_dtype(feature):
        values = feature.to_numpy()[keep]
        if len(np.unique(values[:10_000])) > 20 or len(np.unique(values)) > 20:
            return _separates(values, labels, classes)
    feature_codes = pd.factorize(feature)[0][keep]
    distinct = int(feature_codes.max()) + 1
    if distinct >= len(labels) / 2:
        return False  # nearly a value per row: purity says nothing
    width = int(labels.max()) + 1
    counts = np.bincount(feature_codes * width + labels, minlength=distinct * width).reshape(distinct, width)
    return counts.max(axis=1).sum() / len(labels) >= LEAK_PURITY


def _separates(values: np.ndarray, labels: np.ndarray, classes: int, sample: int = 2000) -> bool:
    """Thresholds on a continuous column give the classes: sorted by it, the labels change no more often than
    there are classes. A sample of rows (in file order) is checked first: a stable sort of a subset is a
    subsequence of the full one, so it changes at most as often, and most columns fail it at once."""
    if len(values) > 4 * sample:
        rows = np.sort(np.random.default_rng(0).choice(len(values), sample, replace=False))
        if not _changes_at_most(values[rows], labels[rows], classes - 1):
            return False
    return _changes_at_most(values, labels, classes - 1)


def _changes_at_most(values: np.ndarray, labels: np.ndarray, limit: int) -> bool:
    ordered = labels[np.argsort(values, kind="stable")]
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) <= limit
