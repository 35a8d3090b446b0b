"""The model graph's vocabulary, shared with the config that writes the layer specs (no numpy needed)."""

from __future__ import annotations

DATA_INPUT = "input"
"""The name under which layers take the data as input (reserved)."""

GRAPH_KEYS = ("type", "name", "inputs")
"""The keys of a layer spec that place it in the graph; the others are the layer's parameters."""


def default_layer_name(layer_type: str, index: int) -> str:
    """The name of the layer at `index` when its spec gives none: `dense_0`, `dropout_2`, ..."""
    return f"{layer_type}_{index}"
