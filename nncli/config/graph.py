"""The layer graph: each layer resolved to `{type, name, inputs, **params}`, names and inputs checked."""

from __future__ import annotations

from typing import Any

from nncli.config.locations import Path_
from nncli.config.messages import show
from nncli.config.problems import Problems, lookup, validate_parameters, with_article
from nncli.errors import format_values, quoted
from nncli.nn.graph import DATA_INPUT, GRAPH_KEYS, default_layer_name
from nncli.registry import Registry, closest


def resolve_layers(value: Any, registry: Registry, problems: Problems) -> list[dict] | None:
    """Each layer as `{type, name, inputs, **params}`, the graph checked; None after reporting."""
    if not isinstance(value, (list, tuple)) or not value:
        problems.add(("layers",), f"must be a non-empty list of layers, got {show(value)}")
        return None
    names: list[str | None] = []  # by index; None where the name is invalid
    positions: dict[str, int] = {}  # name -> index: a long network is checked in linear time
    found = [_layer(index, spec, names, positions, registry, problems) for index, spec in enumerate(value)]
    resolved = [layer for layer in found if layer is not None]
    if len(resolved) < len(found):
        return None
    _check_embedded_columns(resolved, problems)
    used = {source for layer in resolved for source in layer["inputs"]}
    unused = [index for index, layer in enumerate(resolved[:-1]) if layer["name"] not in used]
    for index in unused:
        name = resolved[index]["name"]
        hint = f", e.g. {{type: concat, inputs: [{DATA_INPUT}, {name}]}}" if resolved[index]["type"] == "embedding" \
            else ""
        problems.add(("layers", index), f"the output of {name!r} is not used by any later layer; only the last "
                                        f"layer can be the model's output{hint}")
    return None if unused else resolved


def embedded_columns(layers: list[dict]) -> dict[str, int]:
    """Each column an embedding layer reads, with that layer's index (layers resolved or raw)."""
    return {layer["column"]: index for index, layer in enumerate(layers)
            if isinstance(layer, dict) and layer.get("type") == "embedding" and isinstance(layer.get("column"), str)}


def _check_embedded_columns(resolved: list[dict], problems: Problems) -> None:
    seen: dict[str, int] = {}
    for index, layer in enumerate(resolved):
        column = layer.get("column") if layer["type"] == "embedding" else None
        if column is None:
            continue
        if column in seen:
            problems.add(("layers", index, "column"), f"{column!r} is already embedded by layers[{seen[column]}]; "
                                                       "embed a column once and use that layer's output where needed")
        elif column == DATA_INPUT:
            problems.add(("layers", index, "column"), f"a column named {DATA_INPUT!r} cannot be embedded: the name is "
                                                       "reserved for the feature matrix; rename the column")
        seen.setdefault(column, index)


def _layer(index: int, spec: Any, names: list[str | None], positions: dict[str, int], registry: Registry,
           problems: Problems) -> dict | None:
    path: Path_ = ("layers", index)
    if not isinstance(spec, dict):
        names.append(None)
        problems.add(path, f"must be a mapping with a type, such as {{type: dense, units: 8}}, got {show(spec)}")
        return None
    kind = spec.get("type")
    cls = lookup(registry, kind, (*path, "type"), problems) if "type" in spec else None
    if "type" not in spec:
        problems.add((*path, "type"), "required")
    name = _layer_name(spec, index, positions, path, problems)
    names.append(name)
    if name is not None:
        positions[name] = index
    inputs = _layer_inputs(spec, index, names, positions, cls, path, problems)
    if cls is None:
        return None
    params = validate_parameters(cls, {key: value for key, value in spec.items() if key not in GRAPH_KEYS}, path,
                                 problems, GRAPH_KEYS)
    if name is None or inputs is None or params is None:
        return None
    return {"type": kind, "name": name, "inputs": inputs, **params}


def _layer_name(spec: dict, index: int, positions: dict[str, int], path: Path_, problems: Problems) -> str | None:
    kind = spec.get("type")
    name = spec.get("name")
    if name is None:
        name = default_layer_name(kind if isinstance(kind, str) else "layer", index)
    if not isinstance(name, str) or not name:
        problems.add((*path, "name"), f"must be a non-empty string, got {show(name)}")
        return None
    if name == DATA_INPUT:
        problems.add((*path, "name"), f"{DATA_INPUT!r} is reserved for the data; choose another name")
        return None
    if name in positions:
        problems.add((*path, "name"), f"{name!r} is already the name of layers[{positions[name]}]; "
                                       "layer names must be unique")
        return None
    return name


def _layer_inputs(spec: dict, index: int, names: list[str | None], positions: dict[str, int], cls: type | None,
                  path: Path_, problems: Problems) -> list[str] | None:
    given = spec.get("inputs") is not None
    if getattr(cls, "reads_column", False):
        if spec.get("inputs") not in (None, []):  # [] is how the resolved config writes "none"
            problems.add((*path, "inputs"), f"{with_article(spec['type'])} layer reads its column from the data "
                                            "(`column:`) and takes no `inputs`; remove them")
            return None
        return []
    if given:
        inputs = spec["inputs"]
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, (list, tuple)) or not all(isinstance(source, str) for source in inputs):
            problems.add((*path, "inputs"), f"must be a list of layer names, got {show(spec['inputs'])}")
            return None
        inputs = list(inputs)
    else:
        previous = names[index - 1] if index else DATA_INPUT
        if previous is None:
            return None  # that layer's own error says why
        inputs = [previous]
    for position, source in enumerate(inputs):
        if source != DATA_INPUT and positions.get(source, index) >= index:
            earlier = [DATA_INPUT] + [name for name in names[:index] if name is not None]
            message = f"{quoted(source)} is not {DATA_INPUT!r} (the data) or the name of an earlier layer"
            suggestion = closest(source, earlier)
            message += ";" if suggestion is None else f"; did you mean {suggestion!r}?"
            listed = isinstance(spec.get("inputs"), (list, tuple))
            where = (*path, "inputs", position) if listed else (*path, "inputs")
            problems.add(where, f"{message} valid: {format_values(earlier)}")
            return None
    if cls is not None:
        where = (*path, "inputs") if given else path
        if getattr(cls, "merge", False) and len(inputs) < 2:
            problems.add(where, f"{with_article(spec['type'])} layer joins several inputs: list at least 2 "
                                f"in `inputs`, got {show(inputs)}")
            return None
        if not getattr(cls, "merge", False) and len(inputs) != 1:
            problems.add(where, f"{with_article(spec['type'])} layer takes exactly one input, got {show(inputs)}")
            return None
    return inputs
