"""The catalogue `nncli list` shows: every registered name with its parameters, defaults and limits.

Read from the registries and the constructors' declared limits, never from a hand-kept copy.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from nncli.registry import Registry, parameters_model, unknown_name_message


@dataclass(frozen=True)
class Parameter:
    """One constructor keyword: its default (None when required) and its limits as text."""

    name: str
    default: Any
    required: bool
    kind: str
    limits: str

    def describe(self) -> str:
        value = "required" if self.required else _plain(self.default)
        return f"{self.name}={value}"


@dataclass(frozen=True)
class Entry:
    """A registered name, the first line of its docstring and its parameters."""

    name: str
    summary: str
    parameters: tuple[Parameter, ...]


def families() -> dict[str, Registry]:
    """The registries by the family names `nncli list` takes."""
    from nncli.metrics import METRICS
    from nncli.nn.activations import ACTIVATIONS
    from nncli.nn.initializers import INITIALIZERS
    from nncli.nn.layers import LAYERS
    from nncli.nn.losses import LOSSES
    from nncli.nn.optimizers import OPTIMIZERS
    from nncli.nn.schedules import SCHEDULES

    return {"layers": LAYERS, "activations": ACTIVATIONS, "initializers": INITIALIZERS, "losses": LOSSES,
            "optimizers": OPTIMIZERS, "schedules": SCHEDULES, "metrics": METRICS}


def catalogue(family: str | None = None) -> dict[str, list[Entry]]:
    """Each family's entries (or only `family`'s); an unknown family is a ValueError naming the valid ones."""
    registries = families()
    if family is not None:
        key = family if family in registries else f"{family}s"
        if key not in registries:
            raise ValueError(unknown_name_message("family", family, list(registries)))
        registries = {key: registries[key]}
    return {name: [entry(registry, member) for member in registry.names()] for name, registry in registries.items()}


def entry(registry: Registry, name: str) -> Entry:
    cls = registry.get(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    fields = parameters_model(cls).model_fields
    # the first line may introduce the update rule written below it ("Adam, step t (from 1):")
    return Entry(name, doc[0].strip().rstrip(":") if doc else "",
                 tuple(_parameter(key, info) for key, info in fields.items()))


def _parameter(name: str, info: FieldInfo) -> Parameter:
    required = info.default is PydanticUndefined
    return Parameter(name, None if required else info.default, required, _kind(info.annotation),
                     limits(info))


def limits(info: FieldInfo) -> str:
    """`> 0`, `[0, 1)`, ... from the field's declared constraints (and those of tuple items)."""
    bounds = _bounds(info.metadata)
    if not bounds:
        items = [argument for argument in typing.get_args(info.annotation) if argument is not Ellipsis]
        for item in items:
            if typing.get_origin(item) is typing.Annotated:
                inner = [meta for argument in typing.get_args(item)[1:]
                         for meta in getattr(argument, "metadata", [argument])]
                bounds = _bounds(inner)
                if bounds:
                    return f"each {bounds}"
    return bounds


def _bounds(metadata: list[Any]) -> str:
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for constraint in metadata:
        if isinstance(constraint, annotated_types.Gt):
            low = ("(", constraint.gt)
        elif isinstance(constraint, annotated_types.Ge):
            low = ("[", constraint.ge)
        elif isinstance(constraint, annotated_types.Lt):
            high = (")", constraint.lt)
        elif isinstance(constraint, annotated_types.Le):
            high = ("]", constraint.le)
        elif isinstance(constraint, annotated_types.MinLen) and constraint.min_length:
            return "non-empty"
    if low and high:
        return f"{low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]:g}"
    return ""


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is not None:
        return "list" if origin in (tuple, list) else "value"
    return getattr(annotation, "__name__", "value")


def _plain(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
