"""The numpy core's own errors: it knows nothing of config files or run directories.

The layers above (`nncli.api`, `nncli.arrays`, `nncli.checkpoint`) call the core and translate these into
the user-facing `nncli.errors` types, adding the file and config field the core cannot know.
"""

from __future__ import annotations


class CoreError(Exception):
    """Something the core cannot do with what it was given; `message` says what, in the user's terms."""

    def __init__(self, message: str, *, layer: int | None = None, parameter: str | None = None):
        super().__init__(message)
        self.message = message
        self.layer = layer  # the index of the layer at fault, when there is one
        self.parameter = parameter  # the constructor keyword at fault, when there is one

    def __str__(self) -> str:
        return self.message if self.layer is None else f"layers[{self.layer}]: {self.message}"


class ShapeError(CoreError):
    """Layer widths that do not fit together (for example an `add` of inputs of different widths)."""


class StateError(CoreError):
    """Saved arrays (weights, a schedule's or an optimizer's state) that do not fit the object loading them."""
