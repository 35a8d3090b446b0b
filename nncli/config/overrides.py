"""`--set a.b.c=VALUE` overrides, applied to the raw YAML data before validation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nncli.config.locations import Locations, Path_, format_path, override_label
from nncli.config.messages import show
from nncli.config.yamlio import check_size, read_yaml
from nncli.errors import ConfigError


def apply_overrides(raw: dict, where: Locations, overrides: Sequence[str]) -> None:
    """Set each `KEY=VALUE` in `raw` (in order; later ones win), recording it as the source of that path.

    KEY is a dotted path, list items by index (`layers.0.units`); missing mappings on the way are created.
    VALUE is read as YAML (`0.01`, `[accuracy, f1]`, `{type: sgd}`; empty is null).
    """
    for override in overrides:
        keys, value = _parse(override)
        created = _set(raw, keys, value, override)
        if created is not None:  # values checked under a mapping the override made come from the override
            where.set_by_override(_path_of(raw, keys[:created]), override)
        where.set_by_override(_path_of(raw, keys), override)


def _parse(override: Any) -> tuple[list[str], Any]:
    if not isinstance(override, str) or "=" not in override:
        raise ConfigError(f"expected KEY=VALUE, such as optimizer.lr=0.01, got {show(override)}", file="--set")
    label = override_label(override)
    key, _, text = override.partition("=")
    check_size(len(override.encode("utf-8", "surrogatepass")), "the override", label)
    keys = key.strip().split(".")
    if not all(part.strip() for part in keys):
        raise ConfigError(f"the key {key.strip()!r} is not a dotted path such as training.epochs", file=label)
    try:
        value, _ = read_yaml(text, label)
    except ConfigError as error:  # the value is one line: a file position would only confuse
        raise ConfigError(error.message, file=label) from None
    return [part.strip() for part in keys], value


def _index(key: str) -> int | None:
    return int(key) if key.isascii() and key.isdigit() else None


def _set(raw: dict, keys: list[str], value: Any, override: str) -> int | None:
    """Set the value; return how many keys lead to the first mapping created on the way, if any."""
    node: Any = raw
    created = None
    for depth, key in enumerate(keys):
        label = format_path(_path_of(raw, keys[:depth])) or "the config"
        if isinstance(node, list):
            if _index(key) is None:
                raise ConfigError(f"{label} is a list: expected an item index, got {key!r}",
                                  file=override_label(override))
            if int(key) >= len(node):
                raise ConfigError(f"{label} has {len(node)} items: index {key} is out of range",
                                  file=override_label(override))
            slot: Any = int(key)
        elif isinstance(node, dict):
            slot = key
        else:
            raise ConfigError(f"{label} is {show(node)}, not a mapping or list: cannot set {key!r} in it",
                              file=override_label(override))
        if depth == len(keys) - 1:
            node[slot] = value
            return created
        child = node[slot] if isinstance(node, list) else node.get(slot)
        if child is None:
            child = node[slot] = {}  # created on the way: training.early_stopping.patience=3
            created = depth + 1 if created is None else created
        elif isinstance(child, str):
            child = node[slot] = {"type": child}  # `optimizer: sgd` + optimizer.lr=0.1
        node = child
    return created


def _path_of(raw: dict, keys: list[str]) -> Path_:
    """`keys` as a config path: the parts that index a list become ints."""
    path: list[str | int] = []
    node: Any = raw
    for key in keys:
        index = _index(key)
        part: str | int = index if isinstance(node, list) and index is not None else key
        path.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(path)
