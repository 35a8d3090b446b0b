"""The config's JSON Schema (`nncli schema`), from the models that validate it.

`WrittenConfig` is the top level as a file writes it: the same sections as `RawConfig`, with the layers, loss,
optimizer, schedule and metrics typed from the registries' generated sections (`nncli.config.typed`).
"""

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field

from nncli.config.schema import RawConfig
from nncli.config.typed import WrittenLayerSpec, family, named, registries

SCHEMA_ID = "https://nncli.invalid/config.schema.json"

_FOUND = registries()
if TYPE_CHECKING:
    WrittenLayer: TypeAlias = Any
    NamedLoss: TypeAlias = Any
    NamedOptimizer: TypeAlias = Any
    NamedSchedule: TypeAlias = Any
    MetricNames: TypeAlias = Any
else:
    WrittenLayer = family(_FOUND.layers, WrittenLayerSpec)
    NamedLoss, NamedOptimizer, NamedSchedule = (named(_FOUND.losses), named(_FOUND.optimizers),
                                                named(_FOUND.schedules))
    MetricName = Literal[tuple(_FOUND.metrics.names())]
    MetricNames = MetricName | list[MetricName]


class WrittenConfig(RawConfig):
    """An nncli config: the network, its data and how to train it (see the README's config reference)."""

    layers: list[WrittenLayer] = Field(min_length=1, description="the network, in order; the last layer is "
                                                                 "the output")
    loss: NamedLoss | None = Field(None, description="default: from the output activation (softmax: "
                                                        "categorical_crossentropy, sigmoid: binary_crossentropy, "
                                                        "else mse)")
    metrics: MetricNames | None = Field(None, description="default: [accuracy] or [mae] by task")
    optimizer: NamedOptimizer | None = Field(None, description="default: adam")
    schedule: NamedSchedule | None = Field(None, description="the learning rate by epoch; default: constant")


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file."""
    schema = WrittenConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
