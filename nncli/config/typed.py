"""Typed config sections generated from the registries: one frozen model per registered name, a union per family.

A registered class's constructor keywords (with their declared limits, see `nncli.nn.params`) become the
fields of its section, beside `type: Literal[name]`; the family is the union of its sections, told apart by
`type`. The resolved config holds these objects (`config.optimizer.lr`), and `nncli schema` prints the same
models as JSON Schema.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import ConfigDict, Field

from nncli.registry import Configurable, Registry, parameters_model

LAYER_FIELDS = ("type", "name", "inputs")


@dataclass(frozen=True)
class Registries:
    """The registries a config names objects from."""

    layers: Registry
    losses: Registry
    optimizers: Registry
    schedules: Registry
    metrics: Registry


@functools.cache
def registries() -> Registries:
    """The real registries (imported here, so that importing nncli.config.typed loads the core)."""
    from nncli.metrics import METRICS
    from nncli.nn.layers import LAYERS
    from nncli.nn.losses import LOSSES
    from nncli.nn.optimizers import OPTIMIZERS
    from nncli.nn.schedules import SCHEDULES

    return Registries(LAYERS, LOSSES, OPTIMIZERS, SCHEDULES, METRICS)


class Spec(pydantic.BaseModel):
    """A registered object's config: `type` and its constructor keywords, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str

    def to_dict(self) -> dict[str, Any]:
        """`{"type": name, **parameters}` as plain data, the form the objects are built from."""
        return self.model_dump(mode="json")

    def parameters(self) -> dict[str, Any]:
        """The constructor keywords alone, as plain data."""
        return {key: value for key, value in self.to_dict().items() if key not in LAYER_FIELDS}


class LayerSpec(Spec):
    """A layer of the graph: its name and the names of its inputs besides its own parameters."""

    name: str = Field(description="the layer's name, which later layers' `inputs` refer to")
    inputs: list[str] = Field(description="names of earlier layers, or `input` for the data")


class WrittenLayerSpec(Spec):
    """A layer as a config writes it: `name` defaults to `<type>_<index>`, `inputs` to the previous layer."""

    name: str | None = Field(None, description="the layer's name, which later layers' `inputs` refer to "
                                                  "(default: <type>_<index>)")
    inputs: str | list[str] | None = Field(None, description="names of earlier layers, or `input` for the "
                                                                  "data (default: the previous layer)")


def _section(cls: type[Configurable], base: type[Spec]) -> type[Spec]:
    """`cls`'s section: `type` fixed to its registered name, then its constructor keywords."""
    parameters = parameters_model(cls)
    fields: dict[str, Any] = {"type": (Literal[cls.name], Field(description=f"{cls.name}"))}
    for key, info in parameters.model_fields.items():
        fields[key] = (info.annotation, info)
    if base is WrittenLayerSpec and getattr(cls, "reads_column", False):  # it reads its `column`, no layer
        fields["inputs"] = (None, Field(None, description="none: the layer reads its `column` from the data"))
    doc = (cls.__doc__ or "").strip().splitlines()
    model = pydantic.create_model(f"{cls.__name__}Spec", __base__=base, **fields)
    model.__doc__ = doc[0] if doc else None
    return model


@functools.cache
def sections(registry: Registry, base: type[Spec] = Spec) -> dict[str, type[Spec]]:
    """Each registered name's section model."""
    return {name: _section(registry.get(name), base) for name in registry.names()}


@functools.cache
def family(registry: Registry, base: type[Spec] = Spec) -> Any:
    """The union of a family's sections, discriminated by `type`."""
    models = tuple(sections(registry, base).values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007  # a tuple of models


def named(registry: Registry) -> Any:
    """A family as a config may write it: a name alone, or a mapping with `type` and parameters."""
    names = tuple(registry.names())
    return Union[Literal[names], family(registry)]  # noqa: UP007  # built from values


def validated(registry: Registry, spec: dict[str, Any]) -> Spec:
    """The section of `{"type": name, **parameters}`, defaults filled in; a pydantic ValidationError if bad."""
    return sections(registry)[spec["type"]].model_validate(spec)


def create(registry: Registry, spec: Spec) -> Any:
    """The object a section describes, built from the registry."""
    return registry.get(spec.type).from_config(spec.to_dict())
