"""One registry per family: a plain `name -> class` dict filled by a decorator."""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import pydantic

from nncli.errors import ConfigError, quoted

T = TypeVar("T", bound="Configurable")  # register() sets the class's Configurable.name


def closest(name: str, valid: list[str]) -> str | None:
    """The valid name most like `name`, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    return matches[0] if matches else None


def unknown_name_message(family: str, name: Any, valid: list[str]) -> str:
    """`unknown activation 'relux'; did you mean 'relu'? valid: ...`"""
    message = f"unknown {family} {quoted(name) if isinstance(name, str) else repr(name)}"
    suggestion = closest(str(name), valid)
    if suggestion is not None:
        message += f"; did you mean {suggestion!r}?"
    else:
        message += ";"
    return message + " valid: " + ", ".join(valid)


class Registry(Generic[T]):
    """Maps config names to classes for one family (activations, layers, optimizers, ...)."""

    def __init__(self, family: str):
        self.family = family
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._classes:
                raise ValueError(f"{self.family} {name!r} registered twice")
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._classes

    def get(self, name: str) -> type[T]:
        """The class registered as `name`; a ConfigError naming the valid ones otherwise."""
        try:
            return self._classes[name]
        except (KeyError, TypeError):
            raise ConfigError(unknown_name_message(self.family, name, self.names())) from None

    def create(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)


class Configurable:
    """A registered object whose constructor keywords are its YAML keys.

    Each constructor parameter is stored under an attribute of the same name, so the config can be read
    back: `get_config()` -> `{"type": name, **params}` and `from_config(config)` rebuilds an equal object.
    Constraints live in the parameters' type annotations (see `nncli.nn.params`), so the config schema,
    its error messages and the objects read one source.
    """

    name: str

    @classmethod
    def parameter_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"type": self.name}
        for parameter in self.parameter_names():
            value = getattr(self, parameter)
            config[parameter] = list(value) if isinstance(value, tuple) else value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**{key: value for key, value in config.items() if key != "type"})


def parameters_model(cls: Any) -> type[pydantic.BaseModel]:
    """A pydantic model of `cls.__init__`'s keyword parameters (unknown keys forbidden)."""
    cached = _parameter_models.get(cls)
    if cached is not None:
        return cached
    fields: dict[str, Any] = {}
    hints = typing.get_type_hints(cls.__init__, include_extras=True)  # resolves postponed annotations
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.name == "self":
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (hints.get(parameter.name, Any), default)
    model = pydantic.create_model(
        f"{cls.__name__}Parameters",
        __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    _parameter_models[cls] = model
    return model


_parameter_models: dict[type, type[pydantic.BaseModel]] = {}
