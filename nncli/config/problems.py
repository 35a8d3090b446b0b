"""Problems found while validating, collected with their locations; the first in the file is raised."""

from __future__ import annotations

from typing import Any

import pydantic

from nncli.config.locations import Locations, Path_
from nncli.config.messages import Problem, show, translate
from nncli.errors import ConfigError, NncliError
from nncli.nn.errors import CoreError
from nncli.registry import Registry, parameters_model, unknown_name_message


class Problems:
    """The errors found so far; `raise_first` raises the one earliest in the file."""

    def __init__(self, where: Locations):
        self.where = where
        self.errors: list[ConfigError] = []

    def add(self, path: Path_, message: str, at: str = "value") -> None:
        self.errors.append(self.where.error(path, message, at=at))

    def add_all(self, problems: list[Problem], prefix: Path_ = ()) -> None:
        for problem in problems:
            self.add(prefix + tuple(problem.path), problem.message, problem.at)

    def raise_first(self) -> None:
        if self.errors:
            raise min(self.errors, key=self.where.order)


def with_article(noun: str) -> str:
    """`noun` with its article: a dense, an add."""
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def lookup(registry: Registry, name: Any, path: Path_, problems: Problems) -> type | None:
    """The class registered as `name`; None after reporting an unknown or malformed name."""
    if not isinstance(name, str):
        problems.add(path, f"must be {with_article(registry.family)} name, got {show(name)}")
        return None
    if name not in registry:
        problems.add(path, unknown_name_message(registry.family, name, registry.names()))
        return None
    return registry.get(name)


def validate_parameters(cls: Any, params: dict, path: Path_, problems: Problems,
                        reserved: tuple[str, ...]) -> dict | None:
    """`params` validated against `cls`'s constructor, every default filled in; None after reporting."""
    model = parameters_model(cls)
    try:
        validated = model.model_validate(params).model_dump(mode="json")
        cls.from_config(validated)  # rules across parameters live in the constructor
        return validated
    except pydantic.ValidationError as error:
        problems.add_all(translate(error, model, params, reserved), path)
    except CoreError as error:
        problems.add(path + ((error.parameter,) if error.parameter else ()), error.message)
    except NncliError as error:
        problems.add(path, error.message)
    except Exception as error:  # a parameter's own validator tripped on an odd input
        problems.add(path, f"invalid parameters {show(params)} ({error})")
    return None
