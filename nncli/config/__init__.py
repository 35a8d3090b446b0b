"""The validation boundary: YAML in, a typed, frozen Config out, or one ConfigError with file, line and field.

    config = load_config("config.yaml", overrides=["optimizer.lr=0.01"])
    config.layers[0]        # {"type": "dense", "name": "dense_0", "inputs": ["input"], "units": 16, ...}
    config.to_yaml()        # every default filled in; loading it again gives an equal Config
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from nncli.config.graph import DATA_INPUT
from nncli.config.locations import Locations, parse_path
from nncli.config.messages import show
from nncli.config.overrides import apply_overrides
from nncli.config.resolve import build_config, registries
from nncli.config.schema import Config, DataConfig, EarlyStopping, Regularization, Training
from nncli.config.yamlio import MAX_BYTES, check_size, read_yaml
from nncli.errors import ConfigError

__all__ = [
    "DATA_INPUT",
    "Config",
    "ConfigError",
    "DataConfig",
    "EarlyStopping",
    "Regularization",
    "Training",
    "config_differences",
    "config_error",
    "config_from_dict",
    "load_config",
    "parse_config",
    "registries",
]


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override (`--set KEY=VALUE`) and validate the YAML config at `path`."""
    text = read_text_file(path, "config file")
    return parse_config(text, source=str(path), base_dir=Path(path).parent, overrides=overrides)


def read_text_file(path: str | Path, what: str) -> str:
    """The UTF-8 text of a YAML file (a config, a sweep file), refused unread past MAX_BYTES."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # never more: a huge file is refused unread
            if len(data) > MAX_BYTES:  # a pipe or device has no size (0): it holds more than MAX_BYTES
                size = os.fstat(handle.fileno()).st_size
                check_size(max(size, MAX_BYTES), "the file", source, more=size <= MAX_BYTES)
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text would
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=source) from None
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a {what}", file=source) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"is not UTF-8 text ({error.reason} at byte {error.start})", file=source) from None
    except OSError as error:
        raise ConfigError(f"cannot read the {what}: {error.strerror or error}", file=source) from None


def parse_config(text: str, *, source: str = "<config>", base_dir: Path = Path("."),
                 overrides: Sequence[str] = ()) -> Config:
    """Validate the YAML `text`; errors name `source`, relative paths are taken from `base_dir`."""
    try:
        raw, where = read_yaml(text, source)
        if not isinstance(raw, dict):
            what = "empty" if raw is None else f"{show(raw)}"
            raise ConfigError(f"a config must be a mapping of keys to values, such as `layers: [...]`; "
                              f"this one is {what}", file=source, line=None if raw is None else 1)
        apply_overrides(raw, where, overrides)
        return build_config(raw, where, Path(base_dir), _default_name(source))
    except RecursionError:
        raise ConfigError("the config is nested too deeply", file=source) from None


def config_from_dict(raw: Mapping[str, Any], *, base_dir: Path = Path("."), source: str = "<dict>") -> Config:
    """Validate a config given as Python data (as YAML would give it) for Python-API users."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {show(raw)}", file=source)
    try:
        return build_config(dict(raw), Locations(source), Path(base_dir), _default_name(source))
    except RecursionError:
        raise ConfigError("the config is nested too deeply", file=source) from None


def _default_name(source: str) -> str:
    """The run name when the config gives none: the config file's stem."""
    stem = Path(source).stem
    return stem if stem and not source.startswith("<") else "config"


def config_error(config: Config, field: str, message: str) -> ConfigError:
    """A ConfigError about `field` (`layers[2].units`) found after validation, pointing at its line."""
    where = config._locations
    if where is None:
        return ConfigError(message, field=field)
    return where.error(parse_path(field), message)


def config_differences(old: Config, new: Config, allowed: Collection[str] = frozenset()) -> list[str]:
    """`path: old -> new` for every value that differs, by dotted path (`optimizer.lr`), except `allowed` ones."""
    differences: list[tuple[str, str]] = []
    _compare(old.to_dict(), new.to_dict(), (), differences)
    return [line for path, line in differences if not any(path == key or path.startswith(key + ".")
                                                          for key in allowed)]


def _compare(old: Any, new: Any, path: tuple, out: list[tuple[str, str]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [key for key in new if key not in old]:
            _compare(old.get(key), new.get(key), (*path, key), out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=False)):
            _compare(old_item, new_item, (*path, index), out)
    elif old != new or type(old) is not type(new):
        dotted = ".".join(str(part) for part in path)
        out.append((dotted, f"{dotted}: {show(old)} -> {show(new)}"))
