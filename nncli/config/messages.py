"""Pydantic's validation errors in plain words: `must be a positive integer, got -3`."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import pydantic
from pydantic.fields import FieldInfo

from nncli.registry import closest, unknown_name_message

_PLAIN = re.compile(r"[A-Za-z_][\w./-]*")


def show(value: Any, limit: int = 80) -> str:
    """`value` as a reader of YAML would write it: 'abc', 3, null, true, [1, 2], {type: dense}."""
    text = _show(value, depth=0, quote=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _show(value: Any, depth: int, quote: bool) -> str:
    if depth > 4:
        return "..."
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if not quote and _PLAIN.fullmatch(value) else repr(value)
    if isinstance(value, dict):
        items = list(value.items())[:10]
        return "{" + ", ".join(f"{_show(key, depth + 1, False)}: {_show(item, depth + 1, False)}"
                               for key, item in items) + ("}" if len(value) <= 10 else ", ...}")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item, depth + 1, False) for item in value[:10]) + (
            "]" if len(value) <= 10 else ", ...]")
    return repr(value)


class Problem(NamedTuple):
    """One thing wrong with the config: where, what, and whether it is about the key or the value there."""

    path: tuple
    message: str
    at: str = "value"


def translate(error: pydantic.ValidationError, model: type[pydantic.BaseModel], data: Any,
              extra_keys: tuple[str, ...] = ()) -> list[Problem]:
    """One plain-words Problem per faulty location (paths relative to `data`, validated by `model`).

    `extra_keys` are keys the caller accepts besides the model's fields (named in unknown-key messages).
    """
    problems: list[Problem] = []
    seen: set[tuple] = set()
    for details in error.errors():
        item: dict[str, Any] = dict(details)
        if item["type"] == "invalid_key":  # a key that is not a string (YAML `1:`, `~:`, `yes:`)
            item = {**item, "type": "extra_forbidden", "loc": (*item["loc"][:-1], item["input"])}
        loc = _clean_loc(item["loc"], model, data, item["type"])
        if item["type"] == "missing" and loc and isinstance(loc[-1], int):
            loc = loc[:-1]  # a list too short: say what the list should be
            item = {**item, "type": "too_short", "input": _value_at(data, loc)}
        if loc in seen:
            continue  # the alternatives of a union all fail at the same place: say it once
        seen.add(loc)
        problems.append(_explain(item, loc, model, extra_keys))
    return problems


def _explain(item: dict, loc: tuple, model: type, extra_keys: tuple[str, ...]) -> Problem:
    kind, value, context = item["type"], item.get("input"), item.get("ctx") or {}
    if kind == "missing":
        return Problem(loc, "required")
    if kind == "extra_forbidden":
        owner = _non_null(_split(annotation_at(model, loc[:-1]))[0])
        valid = list(owner.model_fields) if _is_model(owner) else []
        if not loc[:-1]:
            valid += extra_keys
        if not isinstance(loc[-1], str):
            return Problem(loc, f"unknown key {show(loc[-1])}; valid: {', '.join(valid)}", "key")
        nested = None if closest(loc[-1], valid) else _nested_field(owner, loc[-1])
        if nested:
            return Problem(loc, f"unknown key {loc[-1]!r}; did you mean {nested!r}? valid: {', '.join(valid)}",
                           "key")
        return Problem(loc, unknown_name_message("key", loc[-1], valid), "key")
    if kind in ("value_error", "assertion_error") and "error" in context:
        return Problem(loc, " ".join(str(context["error"]).split()))
    if kind == "finite_number":
        return Problem(loc, f"must be finite, got {show(value)}")
    words = expected(annotation_at(model, loc)) or _fallback(kind, context)
    if words is None:
        message = item["msg"][:1].lower() + item["msg"][1:]
        return Problem(loc, f"{message}, got {show(value)}")
    return Problem(loc, f"must be {words}, got {show(value)}")


_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list", "tuple_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "mapping_type": "a mapping", "path_type": "a file path", "string_too_short": "a non-empty string",
}
_BOUND_WORDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}


def _fallback(kind: str, context: dict) -> str | None:
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        return f"{words} {_number(context.get(key))}"
    if kind in ("literal_error", "enum"):
        return "one of: " + ", ".join(re.findall(r"'([^']*)'", str(context.get("expected", ""))))
    if kind == "too_short":
        return f"a list of at least {context.get('min_length', 1)} items" if context else "a longer list"
    return None


def _nested_field(owner: Any, key: Any) -> str | None:
    """`section.key` when `key` belongs one level down (`epochs` -> `training.epochs`)."""
    if not _is_model(owner):
        return None
    for name, field in owner.model_fields.items():
        inner = _non_null(_split(field.annotation)[0])
        if _is_model(inner) and key in inner.model_fields:
            return f"{name}.{key}"
    return None


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel)


def _split(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """`Annotated[float, Field(gt=0)]` -> (float, {"gt": 0}); bounds from any depth of metadata."""
    bounds: dict[str, Any] = {}

    def collect(meta: Any) -> None:
        if isinstance(meta, FieldInfo):
            for inner in meta.metadata:
                collect(inner)
            return
        for key in ("gt", "ge", "lt", "le", "min_length"):
            if getattr(meta, key, None) is not None:
                bounds[key] = getattr(meta, key)

    while get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        for meta in metadata:
            collect(meta)
    return annotation, bounds


def _non_null(annotation: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not type(None)]
        if len(arms) == 1:
            return arms[0]
    return annotation


def annotation_at(model: Any, loc: tuple) -> Any:
    """The annotation (with its constraints) of what `model` expects at `loc`; None when unknown."""
    current = model
    for part in loc:
        current = _non_null(_split(current)[0])
        origin, args = get_origin(current), get_args(current)
        if _is_model(current) and isinstance(part, str) and part in current.model_fields:
            field = current.model_fields[part]
            current = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        elif origin is tuple and isinstance(part, int) and args:
            current = args[0] if len(args) == 2 and args[1] is Ellipsis else args[min(part, len(args) - 1)]
        elif origin is list and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    return current


def expected(annotation: Any) -> str | None:
    """What `annotation` accepts, in words: 'a positive integer', 'one of: a, b', 'a list of 2 values'."""
    if annotation is None:
        return None
    annotation, bounds = _split(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        arms = [expected(arm) for arm in args if arm is not type(None)]
        named = [arm for arm in arms if arm is not None]
        if len(named) < len(arms):
            return None
        return " or ".join(named + (["null"] if type(None) in args else []))
    if origin is Literal:
        return "one of: " + ", ".join(str(arg) for arg in args)
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        return _number_words("integer" if annotation is int else "number", bounds)
    if annotation is str:
        return "a non-empty string" if bounds.get("min_length") else "a string"
    if origin is tuple and args and Ellipsis not in args:
        each = {expected(arg) for arg in args}
        return f"a list of {len(args)} values" + (f", each {each.pop()}" if len(each) == 1 else "")
    if annotation in (list, tuple) or origin in (list, tuple):
        return "a list"
    if annotation is dict or origin is dict or _is_model(annotation):
        return "a mapping"
    if inspect.isclass(annotation) and issubclass(annotation, Path):
        return "a file path"
    return None


def _number_words(noun: str, bounds: dict[str, Any]) -> str:
    article = "an" if noun == "integer" else "a"
    low = ("gt", bounds["gt"]) if "gt" in bounds else ("ge", bounds["ge"]) if "ge" in bounds else None
    high = ("lt", bounds["lt"]) if "lt" in bounds else ("le", bounds["le"]) if "le" in bounds else None
    if low and high:
        return (f"{article} {noun} in {'(' if low[0] == 'gt' else '['}{_number(low[1])}, "
                f"{_number(high[1])}{')' if high[0] == 'lt' else ']'}")
    if low and low[1] == 0:
        return f"a {'positive' if low[0] == 'gt' else 'non-negative'} {noun}"
    if low:
        return f"{article} {noun} {'greater than' if low[0] == 'gt' else 'of at least'} {_number(low[1])}"
    if high:
        return f"{article} {noun} {'less than' if high[0] == 'lt' else 'of at most'} {_number(high[1])}"
    return f"{article} {noun}"


def _value_at(data: Any, loc: tuple) -> Any:
    for part in loc:
        if (isinstance(data, dict) and part in data) or (
                isinstance(data, (list, tuple)) and isinstance(part, int) and 0 <= part < len(data)):
            data = data[part]
        else:
            return None
    return data


def _clean_loc(loc: tuple, model: Any, data: Any, kind: str) -> tuple:
    """`loc` without the tags pydantic inserts for union alternatives (`activation.str` -> `activation`)."""
    kept: list = []
    for index, part in enumerate(loc):
        container = _value_at(data, tuple(kept))
        in_data = (isinstance(container, dict) and part in container) or (
            isinstance(container, (list, tuple)) and isinstance(part, int) and 0 <= part < len(container))
        last = index == len(loc) - 1
        if in_data or annotation_at(model, (*kept, part)) is not None or (last and kind == "missing"):
            kept.append(part)
    return tuple(kept)
