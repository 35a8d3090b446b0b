"""YAML in and out: safe loading that keeps the line of every key and value, and a readable dump.

Only plain data is read: strings, numbers, booleans, null, lists and mappings (with anchors, aliases and
`<<` merge keys). Any other tag is refused before anything is constructed, so `!!python/...` never runs.
Unlike PyYAML's YAML 1.1 defaults, `1e-3` reads as a float and `2024-01-01` stays a string.
"""

from __future__ import annotations

import re
from typing import Any, cast

import yaml

from nncli.config.locations import Locations, Mark, Path_
from nncli.config.messages import show
from nncli.errors import ConfigError, quoted

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "value")}
_MERGE_TAG = _TAG + "merge"
MAX_BYTES = 1 << 20
"""Cap on the size of a config file or `--set` value, checked before a byte of it is parsed."""
MAX_VALUES = 100_000
"""Cap on the values of one document: counted as it is parsed, and again as aliases are expanded."""

# YAML 1.2 floats PyYAML misses: no dot (1e-3, 1E5) or an unsigned exponent (1.5e3)
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _Loader(yaml.SafeLoader):
    """SafeLoader reading exponent floats, and dates as plain strings, that stops composing at MAX_VALUES."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.values_left = MAX_VALUES

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if not (isinstance(parent, yaml.MappingNode) and index is None):  # a mapping's keys are not values
            self.values_left -= 1
            if self.values_left < 0:
                raise _TooManyValues(self.peek_event().start_mark.line)
        return super().compose_node(parent, index)


class _TooManyValues(Exception):
    """Raised while composing, on the 0-based line where the document passed MAX_VALUES values."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TAG + "timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_TAG + "float", _EXPONENT_FLOAT, list("-+.0123456789"))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that quotes strings our loader would read as floats, and writes `Flow` values inline."""


_Dumper.add_implicit_resolver(_TAG + "float", _EXPONENT_FLOAT, list("-+.0123456789"))


class Flow(dict):
    """A mapping written on one line, `{type: dense, units: 16}`."""


class FlowList(list):
    """A list written on one line, `[accuracy, f1]`."""


_Dumper.add_representer(Flow, lambda dumper, data: dumper.represent_mapping(_TAG + "map", data, flow_style=True))
_Dumper.add_representer(FlowList, lambda dumper, data: dumper.represent_sequence(_TAG + "seq", data,
                                                                                 flow_style=True))


def dump_yaml(data: Any) -> str:
    """`data` as block YAML, `Flow` and `FlowList` values inline, keys in their given order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def check_size(size: int, what: str, source: str, *, more: bool = False) -> None:
    """Refuse `what` (`the file`, `the override`) of `size` bytes (or `more` than that) over MAX_BYTES."""
    if size > MAX_BYTES or more:
        raise ConfigError(f"{what} is {'more than ' if more else ''}{size} bytes; configs are limited to "
                          f"{MAX_BYTES / 2**20:g} MiB", file=source)


def read_yaml(text: str, source: str) -> tuple[Any, Locations]:
    """The document in `text` as plain data (None when empty), and where each of its values was written.

    Over MAX_BYTES, or holding more than MAX_VALUES values, it is refused before its values are built.
    """
    check_size(len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", "surrogatepass")), "the document",
               source)
    _count_values(text, source)
    locations = Locations(source)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
    except _TooManyValues as error:
        raise _too_many_values(source, error.line) from None
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, source) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise ConfigError(f"unacceptable character #x{error.character:04x}: {error.reason}",
                          file=source, line=line) from None
    except yaml.YAMLError as error:
        raise ConfigError(" ".join(str(error).split()), file=source) from None
    except RecursionError:
        raise ConfigError("the document is nested too deeply", file=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, locations
    return _Builder(loader, locations).build(node, ()), locations


def _too_many_values(source: str, line: int) -> ConfigError:
    return ConfigError(f"the document holds more than {MAX_VALUES} values", file=source, line=line + 1)


def _count_values(text: str, source: str) -> None:
    """Refuse a document of more than MAX_VALUES values from libyaml's events, before PyYAML composes it.

    PyYAML's own parser takes seconds for a list of 100000 items, libyaml a few hundredths; without libyaml,
    `_Loader.compose_node` stops at the same count. Syntax errors are left to PyYAML, whose messages we show.
    """
    loader = getattr(yaml, "CBaseLoader", None)
    if loader is None:
        return
    expects_key: list[bool | None] = []  # per open collection: None for a list; for a mapping, is a key next?
    values = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionEndEvent):
                expects_key.pop()
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            is_key = bool(expects_key) and expects_key[-1] is True
            if expects_key and expects_key[-1] is not None:
                expects_key[-1] = not is_key
            if not is_key:
                values += 1
                if values > MAX_VALUES:
                    raise _too_many_values(source, event.start_mark.line if event.start_mark else 0)
            if isinstance(event, yaml.CollectionStartEvent):
                expects_key.append(True if isinstance(event, yaml.MappingStartEvent) else None)
    except (yaml.YAMLError, UnicodeError):  # libyaml encodes the text first: a lone surrogate fails there
        return


def _syntax_error(error: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = error.problem_mark or error.context_mark
    message = error.problem or error.context or "invalid YAML"
    if error.problem and error.context:
        message += f" ({error.context}"
        if error.context_mark is not None and error.context_mark.line != getattr(mark, "line", None):
            message += f" started on line {error.context_mark.line + 1}"
        message += ")"
    message = " ".join(message.split())
    if mark is None:
        return ConfigError(message, file=source)
    return ConfigError(message, file=source, line=mark.line + 1, column=mark.column + 1)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


class _Builder:
    """Builds plain data from a composed node tree, recording marks by path and refusing unsafe tags."""

    def __init__(self, loader: yaml.SafeLoader, locations: Locations):
        self.loader = loader
        self.locations = locations
        self.marks = locations.marks
        self.budget = MAX_VALUES
        self.open: set[int] = set()  # ids of the collections being built, to catch an alias inside itself

    def fail(self, node: yaml.Node, message: str, path: Path_) -> ConfigError:
        mark = _mark(node)
        return ConfigError(message, file=self.locations.source, line=mark.line, field=self.locations.field(path))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(node, f"the document holds more than {MAX_VALUES} values (after expanding aliases)",
                            path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.open:
            raise self.fail(node, "an alias refers to a list or mapping that contains it", path)
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.check_tag(node, _TAG + "seq", path)
                items = []
                for index, child in enumerate(node.value):
                    mark = _mark(child)
                    self.marks[(*path, index)] = (mark, mark)
                    items.append(self.build(child, (*path, index)))
                return items
            self.check_tag(node, _TAG + "map", path)
            return self.mapping(cast(yaml.MappingNode, node), path)
        finally:
            self.open.discard(id(node))

    def check_tag(self, node: yaml.Node, allowed: str, path: Path_) -> None:
        if node.tag != allowed:
            raise self.fail(node, f"tag {_short_tag(node.tag)} is not allowed: a config holds only plain "
                                  "values, lists and mappings", path)

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.check_tag(node, _TAG + "str", path)
        if node.tag == _TAG + "value":  # a lone `=`, which PyYAML cannot construct
            return node.value
        try:
            return self.loader.yaml_constructors[node.tag](self.loader, node)
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            raise self.fail(node, f"cannot read {quoted(node.value)} as {_short_tag(node.tag)}", path) from None

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        result: dict = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a key must be a plain name, not a list or mapping", path)
            key = self.scalar(key_node, path)
            if key in result:
                first = self.marks[(*path, key)][0].line
                raise self.fail(key_node, f"duplicate key {show(key)}: given on line {first} and line "
                                          f"{_mark(key_node).line}", (*path, key))
            self.marks[(*path, key)] = (_mark(key_node), _mark(value_node))
            result[key] = self.build(value_node, (*path, key))
        for merge_node in merges:
            sources = merge_node.value if isinstance(merge_node, yaml.SequenceNode) else [merge_node]
            for source in sources:
                self.merge(source, path, result)
        return result

    def merge(self, node: yaml.Node, path: Path_, result: dict) -> None:
        """`<<: *base`: copy the keys of `base` that `result` does not set itself (earlier merges win)."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "a merge key `<<` takes a mapping or a list of mappings", path)
        own_marks, self.marks = self.marks, {}
        try:
            merged = self.build(node, path)
            merged_marks = self.marks
        finally:
            self.marks = own_marks
        by_key: dict[Any, list[tuple[Path_, tuple[Mark, Mark]]]] = {}  # one pass: a wide merge stays linear
        for mark_path, marks in merged_marks.items():
            if len(mark_path) > len(path):
                by_key.setdefault(mark_path[len(path)], []).append((mark_path, marks))
        for key, value in merged.items():
            if key in result:
                continue
            result[key] = value
            self.marks.update(by_key.get(key, ()))
