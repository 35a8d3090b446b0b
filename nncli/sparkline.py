"""Unicode sparklines: a curve in one line of text, for the run summary (no plotting library needed)."""

from __future__ import annotations

import math

SPARK_BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 40


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """Values as a line of bars, lowest ▁ to highest █, at most `width` wide (sampled evenly); NaN as a space."""
    values = [float(value) for value in values]
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low if high > low else 1.0
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[round((value - low) / span * top)] if math.isfinite(value) else " "
                   for value in values)
