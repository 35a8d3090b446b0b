"""Whatever the input, the config boundary gives a Config or one ConfigError: never another exception."""

from __future__ import annotations

import copy
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncli.config import Config, ConfigError, config_from_dict, parse_config

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "name": "fuzz",
    "seed": 1,
    "data": {"train": "train.csv", "target": "label", "valid": 0.25, "features": ["a", "b"]},
    "layers": [
        {"type": "dense", "units": 8, "activation": "relu", "name": "hidden"},
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": 4, "inputs": ["input"], "name": "side"},
        {"type": "concat", "inputs": ["dropout_1", "side"]},
        {"type": "dense", "units": 3, "activation": "softmax"},
    ],
    "metrics": ["accuracy", "f1"],
    "optimizer": {"type": "adam", "lr": 0.01, "betas": [0.9, 0.99]},
    "schedule": {"type": "step", "step_size": 5},
    "regularization": {"l2": 0.001},
    "training": {"epochs": 3, "batch_size": 16, "early_stopping": {"monitor": "val_f1", "patience": 2}},
}

scalars = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.sampled_from(["", "auto", "all", "dense", "relu", "softmax", "input", "val_loss", "a.csv", "type"])
           | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6) | st.sampled_from(["type", "units", "name"]), inner,
                                        max_size=3), max_leaves=8)


def _paths(node, prefix=()):
    """Every path in `node`, each container's own path included."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


PATHS = list(_paths(VALID))[1:]


def _substitute(path: tuple, value, new_key: str | None) -> dict:
    raw = copy.deepcopy(VALID)
    node = raw
    for key in path[:-1]:
        node = node[key]
    if new_key is not None and isinstance(node, dict):
        node[new_key] = value
    else:
        node[path[-1]] = value
    return raw


def _check(build) -> Config | None:
    try:
        config = build()
    except ConfigError as error:
        assert "\n" not in str(error)
        return None
    assert isinstance(config, Config)
    return config


def _assert_round_trip(config: Config) -> None:
    assert parse_config(config.to_yaml()) == config


def test_the_valid_config_is_valid():
    config = config_from_dict(VALID)
    assert config.task == "classification" and config.layers[3].inputs == ["dropout_1", "side"]
    _assert_round_trip(config)


yaml_alphabet = st.sampled_from([*list("abtype:-[]{},'\"!&*<>|#?%@`\\ \n\t.0123456789eE+=~"),
                                 "!!python/object", "<<", "---", "..."])


@FUZZ
@given(st.lists(yaml_alphabet, max_size=40).map("".join) | st.text(max_size=60))
def test_arbitrary_text(text):
    _check(lambda: parse_config(text))


@FUZZ
@given(values)
def test_arbitrary_yaml_documents(document):
    text = yaml.safe_dump(document)
    _check(lambda: parse_config(text))


@FUZZ
@given(st.sampled_from(PATHS), values, st.none() | st.text(max_size=8))
def test_arbitrary_values_in_a_valid_config(path, value, new_key):
    raw = _substitute(path, value, new_key)
    from_dict = _check(lambda: config_from_dict(raw))
    try:
        text = yaml.safe_dump(raw)
    except yaml.YAMLError:
        return
    from_text = _check(lambda: parse_config(text))
    if from_text is not None:
        _assert_round_trip(from_text)
    if isinstance(value, float) and math.isnan(value):
        return  # nan != nan: the two results cannot compare equal
    assert (from_dict is None) == (from_text is None)
    if from_dict is not None:
        assert from_dict == from_text


keys = st.sampled_from(["seed", "layers.0.units", "layers.9.units", "layers.x", "optimizer.lr", "optimizer",
                        "training.early_stopping.patience", "data.valid", "metrics", "loss.delta", "a..b", "",
                        "schedule.type", "layers.1", "name.x"]) | st.text(max_size=10)


@FUZZ
@given(st.lists(st.tuples(keys, st.sampled_from(["=", "", "=="]), st.text(max_size=10) | values.map(
    lambda value: yaml.safe_dump(value, default_flow_style=True).strip())), max_size=3))
def test_arbitrary_overrides(overrides):
    text = yaml.safe_dump(VALID)
    _check(lambda: parse_config(text, overrides=["".join(parts) for parts in overrides]))
