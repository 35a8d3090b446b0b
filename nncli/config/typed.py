"""Typed config sections generated from the registries: one frozen model per registered name, a union per family.

A registered class's constructor keywords (with their declared limits, see `nncli.nn.params`) become the
fields of its section, beside `type: Literal[name]`; the family is the union of its sections, told apart by
`type`. The resolved config holds these objects (`config.optimizer.lr`), and `nncli schema` prints the same
models as JSON Schema.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import ConfigDict, Field

from nncli.registry import Registry, parameters_model

LAYER_FIELDS = ("type", "name", "inputs")


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


def _section(cls: type, base: type[Spec]) -> type[Spec]:
    """`cls`'s section: `type` fixed to its registered name, then its constructor keywords."""
    parameters = parameters_model(cls)
    fields: dict[str, Any] = {"type": (Literal[cls.name], Field(description=f"{cls.name}"))}  # type: ignore[attr-defined]
    for key, info in parameters.model_fields.items():
        fields[key] = (info.annotation, info)
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


def build(registry: Registry, spec: dict[str, Any], base: type[Spec] = Spec) -> Spec:
    """The typed section of an already validated `{"type": name, **parameters}`."""
    return sections(registry, base)[spec["type"]].model_validate(spec)
