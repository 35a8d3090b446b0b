"""The sweep file: read, checked against its base config, and turned into a typed SweepSpec.

Bad sweep files get the same `file:line: field: message` errors as configs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nncli.config import Config, load_config, read_text_file
from nncli.config.locations import Locations, Path_, parse_path
from nncli.config.messages import show
from nncli.config.yamlio import read_yaml
from nncli.errors import ConfigError
from nncli.metrics import higher_is_better
from nncli.registry import closest

METHODS = ("grid", "random", "tpe")
MODES = ("auto", "min", "max")
PRUNERS = (None, "asha")
RANGES = ("loguniform", "uniform", "int")
KEYS = ("config", "name", "method", "trials", "metric", "mode", "folds", "seed", "prune", "space")
DEFAULTS: dict[str, Any] = {"method": "random", "trials": 20, "metric": "val_loss", "mode": "auto", "folds": None,
                            "seed": 0, "prune": None}
GRID_LIMIT = 10_000


@dataclass(frozen=True)
class Dimension:
    """One searched config path: a range (`loguniform`, `uniform`, `int`: [low, high]) or a `choice` of values."""

    path: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple[Any, ...] = ()

    def grid_values(self) -> list[Any]:
        """Every value a grid search tries."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            low, high = self.bounds()
            return list(range(int(low), int(high) + 1))
        raise AssertionError("only choice and int dimensions have a grid")

    def bounds(self) -> tuple[float, float]:
        """A range's [low, high] (ints for an `int` range)."""
        if self.low is None or self.high is None:
            raise AssertionError("only range dimensions have bounds")
        return self.low, self.high

    def to_json(self) -> dict[str, Any]:
        return {"choice": list(self.values)} if self.kind == "choice" else {self.kind: [self.low, self.high]}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file: the base config (resolved), how to search, and the space."""

    source: str
    config_path: Path
    base: Config = field(repr=False)
    name: str
    method: str
    trials: int
    metric: str
    mode: str  # min | max (auto settled)
    folds: int | None
    seed: int
    prune: str | None
    space: tuple[Dimension, ...]

    def to_json(self) -> dict[str, Any]:
        return {"config": str(self.config_path.resolve()), "name": self.name, "method": self.method,
                "trials": self.trials, "metric": self.metric, "mode": self.mode, "folds": self.folds, "seed": self.seed,
                "prune": self.prune, "space": {dimension.path: dimension.to_json() for dimension in self.space}}


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check the sweep file at `path` (its base config too)."""
    source = str(path)
    text = read_text_file(path, "sweep file")  # refused unread past the size cap, as a config is
    raw, where = read_yaml(text, source)
    if not isinstance(raw, dict):
        raise ConfigError("a sweep file must be a mapping with at least `config` and `space`", file=source,
                          line=None if raw is None else 1)
    for key in raw:
        if key not in KEYS:
            suggestion = closest(str(key), list(KEYS))
            hint = f"; did you mean {suggestion!r}?" if suggestion else ";"
            raise where.error((key,), f"unknown key {key!r}{hint} valid: {', '.join(KEYS)}", at="key")
    for key in ("config", "space"):
        if key not in raw:
            raise ConfigError(f"{key}: is required", file=source)
    settings = {**DEFAULTS, **{key: value for key, value in raw.items() if key in DEFAULTS}}
    if not isinstance(raw["config"], str):
        raise where.error(("config",), f"must be a path to the base config, got {show(raw['config'])}")
    config_path = Path(path).parent / raw["config"]
    base = load_config(config_path)
    _check_settings(settings, where, base)
    space = _space(raw["space"], where, base)
    if settings["method"] == "grid":
        _check_grid(space, where)
    if settings["prune"] == "asha" and settings["folds"] is not None:
        raise where.error(("prune",), "asha prunes single runs on their per-epoch metric; use it with folds: null")
    mode = settings["mode"]
    if mode == "auto":
        mode = "max" if higher_is_better(settings["metric"]) else "min"
    name = raw.get("name") or Path(source).stem
    if not isinstance(name, str):
        raise where.error(("name",), f"must be text, got {show(name)}")
    return SweepSpec(source, config_path, base, name, settings["method"], settings["trials"], settings["metric"],
                     mode, settings["folds"], settings["seed"], settings["prune"], space)


def _check_settings(settings: dict[str, Any], where: Locations, base: Config) -> None:
    for key, valid in (("method", METHODS), ("mode", MODES), ("prune", PRUNERS)):
        if settings[key] not in valid:
            shown = ", ".join("null" if value is None else value for value in valid)
            raise where.error((key,), f"must be one of {shown}, got {show(settings[key])}")
    for key, low in (("trials", 1), ("seed", 0)):
        if not _is_int(settings[key]) or settings[key] < low:
            raise where.error((key,), f"must be an integer ≥ {low}, got {show(settings[key])}")
    folds = settings["folds"]
    if folds is not None and (not _is_int(folds) or folds < 2):
        raise where.error(("folds",), f"must be null or an integer ≥ 2, got {show(folds)}")
    columns = metric_columns(base)
    if settings["metric"] not in columns:
        suggestion = closest(str(settings["metric"]), columns)
        hint = f"did you mean {suggestion!r}? " if suggestion else ""
        raise where.error(("metric",), f"{show(settings['metric'])} is not a metrics.csv column of the base config; "
                          f"{hint}valid: {', '.join(columns)}")


def metric_columns(config: Config) -> list[str]:
    """The metrics.csv columns a run of `config` writes that a sweep can rank by."""
    columns = ["loss", *config.metrics]
    if config.data is not None and config.data.valid is not None:
        columns += ["val_loss", *(f"val_{name}" for name in config.metrics)]
    return columns


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _space(space: Any, where: Locations, base: Config) -> tuple[Dimension, ...]:
    if not isinstance(space, dict) or not space:
        raise where.error(("space",), f"must map dotted config paths to values to try, got {show(space)}")
    resolved = base.to_dict()
    dimensions = []
    for path, value in space.items():
        location: Path_ = ("space", path)
        _check_path(str(path), resolved, where, location)
        dimensions.append(_dimension(str(path), value, where, location))
    return tuple(dimensions)


def _check_path(path: str, resolved: dict[str, Any], where: Locations, location: Path_) -> None:
    """`path` must name a value of the base config (as resolved, every default filled in)."""
    node: Any = resolved
    walked: list[str] = []
    for part in parse_path(path):
        known = (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)) or (
            isinstance(node, dict) and part in node)
        if known:  # a flag, not one `if`: there the type checker would mix the list and the dict case
            node = node[part]
        else:
            where_text = ".".join(walked) or "the config"
            if isinstance(node, dict):
                suggestion = closest(str(part), [str(key) for key in node])
                target = ".".join([*walked, suggestion]) if suggestion else None
                hint = f"did you mean {target!r}? " if target else ""
                valid = f"valid under {where_text}: {', '.join(map(str, node))}"
                raise where.error(location, f"unknown config path {path!r}; {hint}{valid}", at="key")
            what = f"a list of {len(node)} items (0 to {len(node) - 1})" if isinstance(node, list) else \
                f"the value {show(node)}"
            raise where.error(location, f"unknown config path {path!r}: {where_text} is {what}", at="key")
        walked.append(str(part))


def _dimension(path: str, value: Any, where: Locations, location: Path_) -> Dimension:
    if isinstance(value, list):
        value = {"choice": value}
    if not isinstance(value, dict) or len(value) != 1:
        raise where.error(location, "must be a list of values, or one of {choice: [...]}, {loguniform: [low, "
                          f"high]}}, {{uniform: [low, high]}}, {{int: [low, high]}}; got {show(value)}")
    (kind, arguments), = value.items()
    if kind == "choice":
        if not isinstance(arguments, list) or not arguments:
            raise where.error(location, f"choice needs a non-empty list of values, got {show(arguments)}")
        return Dimension(path, "choice", values=tuple(arguments))
    if kind not in RANGES:
        suggestion = closest(str(kind), ["choice", *RANGES])
        hint = f"did you mean {suggestion!r}? " if suggestion else ""
        raise where.error(location, f"unknown kind {kind!r}; {hint}valid: choice, {', '.join(RANGES)}")
    if not isinstance(arguments, list) or len(arguments) != 2 or not all(map(_is_number, arguments)):
        raise where.error(location, f"{kind} needs [low, high], two numbers, got {show(arguments)}")
    low, high = arguments
    if kind == "int" and not (_is_int(low) and _is_int(high)):
        raise where.error(location, f"int needs two integers [low, high], got {show(arguments)}")
    if low > high:
        raise where.error(location, f"{kind}: low ({low}) is greater than high ({high})")
    if kind == "loguniform" and low <= 0:
        raise where.error(location, f"loguniform needs low > 0 (it draws the logarithm), got {low}")
    return Dimension(path, kind, low, high)


def _check_grid(space: tuple[Dimension, ...], where: Locations) -> None:
    size = 1
    for dimension in space:
        if dimension.kind in ("uniform", "loguniform"):
            raise where.error(("space", dimension.path), f"method grid needs values to list: a list or int range, "
                              f"not {dimension.kind} (use method: random or tpe for a continuous range)")
        size *= len(dimension.grid_values())
    if size > GRID_LIMIT:
        raise where.error(("method",), f"the grid has {size} combinations, more than {GRID_LIMIT}; narrow the "
                          "space or use method: random")
