"""From raw YAML data to a Config: registry names resolved, defaults filled in, cross-field rules checked.

Every problem found is collected with its location; the one a reader meets first in the file is raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from nncli.config.graph import embedded_columns, resolve_layers
from nncli.config.locations import Locations, Path_
from nncli.config.messages import show, translate
from nncli.config.problems import Problems, lookup, validate_parameters, with_article
from nncli.config.schema import Config, DataConfig, RawConfig
from nncli.config.typed import registries
from nncli.registry import Registry, unknown_name_message

_DEFAULT_LOSSES = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}
_DEFAULT_METRICS = {"classification": ["accuracy"], "regression": ["mae"]}


def loss_task(loss_name: str) -> str:
    """The task a loss trains for: the cross-entropies classify, the others regress."""
    return "classification" if "crossentropy" in loss_name else "regression"


def build_config(raw: dict, where: Locations, base_dir: Path, default_name: str) -> Config:
    """The Config for `raw` (a mapping read from YAML), or the first ConfigError in it."""
    problems = Problems(where)
    found = registries()
    plain = None
    try:
        plain = RawConfig.model_validate(raw, context={"base_dir": base_dir})
    except pydantic.ValidationError as error:
        problems.add_all(translate(error, RawConfig, raw))
    layers = resolve_layers(raw["layers"], found.layers, problems) if "layers" in raw else None
    loss = _loss(raw.get("loss"), layers, found.losses, problems)
    task = _task(raw.get("task", "auto"), loss, raw.get("loss") is None, problems)
    metrics = _metrics(raw.get("metrics"), task, found.metrics, problems)
    optimizer = _named(raw.get("optimizer"), "optimizer", found.optimizers, problems, "adam")
    schedule = _named(raw.get("schedule"), "schedule", found.schedules, problems, "constant")
    if plain is not None and task is not None and metrics is not None and schedule is not None:
        _cross_checks(plain, task, metrics, schedule, problems, layers or [])
    problems.raise_first()
    if plain is None or task is None or None in (layers, loss, metrics, optimizer, schedule):
        raise where.error((), "invalid config")  # unreachable: whatever failed has reported why
    fields: dict[str, Any] = dict(name=plain.name or default_name, seed=plain.seed, dtype=plain.dtype, task=task,
                                  data=_resolve_data(plain.data, task), layers=layers, loss=loss, metrics=metrics,
                                  optimizer=optimizer, schedule=schedule, regularization=plain.regularization,
                                  training=plain.training)
    try:
        config = Config(**fields)
    except pydantic.ValidationError as error:  # only the default name can still fail
        problems.add_all(translate(error, Config, fields))
        problems.raise_first()
        raise
    config._source = where.source
    config._locations = where
    return config


def _resolve_data(data: Any, task: str) -> Any:
    """The data section with `target_scale: auto` settled by the task (standard for regression)."""
    if data is None or data.target_scale != "auto":
        return data
    return data.model_copy(update={"target_scale": "standard" if task == "regression" else "none"})


def _named(value: Any, key: str, registry: Registry, problems: Problems, default: str) -> dict | None:
    """`name` or `{type: name, **params}` -> `{"type": name, **every parameter}`."""
    path: Path_ = (key,)
    value = default if value is None else value
    if isinstance(value, str):
        spec, type_path = {"type": value}, path
    elif isinstance(value, dict):
        if "type" not in value:
            problems.add((*path, "type"), "required")
            return None
        spec, type_path = value, (*path, "type")
    else:
        problems.add(path, f"must be {with_article(registry.family)} name or a mapping with a type, "
                           f"got {show(value)}")
        return None
    cls = lookup(registry, spec["type"], type_path, problems)
    if cls is None:
        return None
    params = validate_parameters(cls, {k: v for k, v in spec.items() if k != "type"}, path, problems, ("type",))
    return None if params is None else {"type": spec["type"], **params}


def _activation(layer: dict) -> str | None:
    activation = layer.get("activation")
    return activation.get("type") if isinstance(activation, dict) else activation


def _loss(value: Any, layers: list[dict] | None, registry: Registry, problems: Problems) -> dict | None:
    output = layers[-1] if layers else None
    if value is None:
        if output is None:
            return None  # the layers' own error says why
        value = _DEFAULT_LOSSES.get(_activation(output) or "", "mse")
    loss = _named(value, "loss", registry, problems, "mse")
    fused = getattr(registry.get(loss["type"]), "fused_activation", None) if loss else None
    if loss is not None and fused and output is not None and _activation(output) != fused:
        has = f"activation {show(_activation(output))}" if "activation" in output else "no activation"
        problems.add(("loss",), f"{loss['type']!r} needs a {fused} output layer, but the last layer "
                                f"({output['name']}) has {has}")
    return loss


def _task(value: Any, loss: dict | None, inferred: bool, problems: Problems) -> str | None:
    if value not in ("auto", "classification", "regression") or loss is None:
        return None  # RawConfig or the loss reported it
    implied = loss_task(loss["type"])
    if value == "classification" and implied == "regression":
        return value  # a regression loss on class targets (XOR with mse): allowed when said explicitly
    if value not in ("auto", implied):
        hint = "; it was inferred from the last layer's activation: set `loss:` or change it" if inferred else ""
        problems.add(("task",), f"{value} does not fit the loss {loss['type']!r}, which is for {implied}{hint}")
    return implied if value == "auto" else value


def _metrics(value: Any, task: str | None, registry: Registry, problems: Problems) -> list[str] | None:
    if value is None:
        return None if task is None else list(_DEFAULT_METRICS[task])
    single = isinstance(value, str)
    if not single and not isinstance(value, (list, tuple)):
        problems.add(("metrics",), f"must be a list of metric names, got {show(value)}")
        return None
    names: list[str] = []
    for index, name in enumerate([value] if single else value):
        path: Path_ = ("metrics",) if single else ("metrics", index)
        cls = lookup(registry, name, path, problems)
        if cls is None:
            continue
        if name in names:
            problems.add(path, f"{name!r} is listed twice")
            continue
        metric_task = getattr(cls, "task", None)
        if task is not None and metric_task is not None and metric_task != task:
            fitting = [other for other in registry.names() if getattr(registry.get(other), "task", None) == task]
            problems.add(path, f"{name!r} is a {metric_task} metric but the task is {task}; "
                               f"valid: {', '.join(fitting)}")
            continue
        names.append(name)
    return names if task is not None and len(names) == len([value] if single else value) else None


def _cross_checks(plain: RawConfig, task: str, metrics: list[str], schedule: dict, problems: Problems,
                  layers: list[dict]) -> None:
    data = plain.data
    has_valid = data is None or data.valid is not None  # without a data section, fit_arrays is given the rows
    if plain.training.class_weight is not None and task != "classification":
        problems.add(("training", "class_weight"), "weighs classes, but the task is regression; weigh rows with "
                                                   "data.weight")
    if data is not None:
        _check_columns(data, task, problems)
        _check_embedded(data, layers, problems)
    early_stopping = plain.training.early_stopping
    if early_stopping is not None:
        _check_monitor(early_stopping.monitor, ("training", "early_stopping", "monitor"), metrics, has_valid,
                       problems)
    if isinstance(schedule.get("monitor"), str):
        _check_monitor(schedule["monitor"], ("schedule", "monitor"), metrics, has_valid, problems)


def _check_columns(data: DataConfig, task: str, problems: Problems) -> None:
    targets = [data.target] if isinstance(data.target, str) else data.target
    if task == "classification" and isinstance(data.target, list):
        problems.add(("data", "target"), "a list of targets is only for regression; a classifier predicts "
                                         "one target column")
    if task == "classification" and data.target_scale == "standard":
        problems.add(("data", "target_scale"), "standard scales regression targets; a classifier's targets are "
                                               "classes (use auto or none)")
    if data.weight is not None and (data.weight in targets or (isinstance(data.features, list)
                                                               and data.weight in data.features)):
        role = "the target" if data.weight in targets else "a feature"
        problems.add(("data", "weight"), f"names {data.weight!r}, which is {role}; the weight column is neither")
    if isinstance(data.features, list):
        for target in targets:
            if target in data.features:
                problems.add(("data", "features"), f"lists the target {target!r}: features are the model's "
                                                   "inputs, the target is what it predicts")


def _check_embedded(data: DataConfig, layers: list[dict], problems: Problems) -> None:
    """An embedded column is a feature: not the target, not the weight column, listed in data.features if any."""
    targets = [data.target] if isinstance(data.target, str) else data.target
    for column, index in embedded_columns(layers).items():
        path = ("layers", index, "column")
        if column in targets:
            problems.add(path, f"{column!r} is the target; an embedding takes a categorical feature column")
        elif column == data.weight:
            problems.add(path, f"{column!r} is the weight column (data.weight), not a feature")
        elif isinstance(data.features, list) and column not in data.features:
            problems.add(path, f"{column!r} is not a feature: add it to data.features")


def _check_monitor(monitor: str, path: Path_, metrics: list[str], has_valid: bool, problems: Problems) -> None:
    """`monitor` names the loss or a listed metric, `val_`-prefixed only when there is validation data."""
    measured = ["loss", *metrics]
    valid = measured + ([f"val_{name}" for name in measured] if has_valid else [])
    if monitor in valid:
        return
    if monitor.startswith("val_") and monitor[4:] in measured:
        problems.add(path, f"{monitor!r} needs validation data, but data.valid is null; monitor "
                           f"{monitor[4:]!r} or set data.valid")
    else:
        problems.add(path, unknown_name_message("monitor", monitor, valid))
