"""The config round trip every registered object must pass, shared by each family's tests."""

from __future__ import annotations

from typing import Any

from nncli.registry import Registry, parameters_model


def assert_round_trips(registry: Registry, obj: Any) -> dict:
    """`obj` rebuilds from `get_config()`, directly and through its validated parameters, to an equal config."""
    config = obj.get_config()
    cls = registry.get(config["type"])
    rebuilt = cls.from_config(config)
    assert type(rebuilt) is type(obj) and rebuilt.get_config() == config
    params = {key: value for key, value in config.items() if key != "type"}
    assert cls(**parameters_model(cls)(**params).model_dump()).get_config() == config
    return config
