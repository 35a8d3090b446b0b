"""Initializers: shapes, dtypes, the formulas' spread on a large matrix, determinism, registry."""

import math

import numpy as np
import pytest

from nncli.errors import ConfigError
from nncli.nn.activations import ACTIVATIONS, RELU_FAMILY
from nncli.nn.initializers import INITIALIZERS, default_initializer
from tests.roundtrip import assert_round_trips

SPECS = [*INITIALIZERS.names(), {"type": "normal", "mean": 0.5, "std": 0.2}]
SPEC_IDS = [spec if isinstance(spec, str) else "normal-0.5-0.2" for spec in SPECS]


def make_initializer(spec):
    if isinstance(spec, str):
        return INITIALIZERS.create(spec)
    params = dict(spec)
    return INITIALIZERS.create(params.pop("type"), **params)


FAN_IN, FAN_OUT = 600, 400
# (kind, expected std of a normal or bound of a uniform) for a (FAN_IN, FAN_OUT) weight
EXPECTED = {
    "he_normal": ("normal", math.sqrt(2 / FAN_IN)),
    "he_uniform": ("uniform", math.sqrt(6 / FAN_IN)),
    "glorot_normal": ("normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "glorot_uniform": ("uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "lecun_normal": ("normal", math.sqrt(1 / FAN_IN)),
    "normal": ("normal", 0.05),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_shape_and_dtype(spec, dtype):
    weight = make_initializer(spec)((5, 3), np.random.default_rng(0), dtype)
    assert weight.shape == (5, 3) and weight.dtype == dtype and np.isfinite(weight).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spread_matches_the_formula(name):
    kind, scale = EXPECTED[name]
    weight = make_initializer(name)((FAN_IN, FAN_OUT), np.random.default_rng(1), np.float64)
    assert abs(weight.mean()) < 0.01 * scale
    if kind == "normal":
        assert weight.std() == pytest.approx(scale, rel=0.01)
        assert np.abs(weight).max() > 3 * scale  # plain normal: not truncated at 2 std
    else:
        assert np.abs(weight).max() <= scale
        assert np.abs(weight).max() == pytest.approx(scale, rel=1e-3)
        assert weight.std() == pytest.approx(scale / math.sqrt(3), rel=0.01)


def test_normal_parameters():
    weight = make_initializer({"type": "normal", "mean": 0.5, "std": 0.2})(
        (FAN_IN, FAN_OUT), np.random.default_rng(2), np.float32)
    assert weight.mean() == pytest.approx(0.5, abs=0.002)
    assert weight.std() == pytest.approx(0.2, rel=0.01)


def test_zeros():
    assert not make_initializer("zeros")((4, 2), np.random.default_rng(0), np.float32).any()


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_deterministic_given_the_seed(spec):
    initializer = make_initializer(spec)
    first = initializer((7, 4), np.random.default_rng(42), np.float64)
    second = initializer((7, 4), np.random.default_rng(42), np.float64)
    np.testing.assert_array_equal(first, second)
    other = initializer((7, 4), np.random.default_rng(43), np.float64)
    assert spec == "zeros" or not np.array_equal(first, other)
    # the same seed gives the same weights in float32, up to rounding
    single = initializer((7, 4), np.random.default_rng(42), np.float32)
    np.testing.assert_array_equal(single, first.astype(np.float32))


def test_default_initializer():
    for name in ACTIVATIONS.names():
        expected = "he_normal" if name in RELU_FAMILY else "glorot_uniform"
        assert default_initializer(name) == expected
    assert default_initializer("relu") == "he_normal"
    assert default_initializer("sigmoid") == "glorot_uniform"
    assert default_initializer("softmax") == "glorot_uniform"


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_config_round_trip(spec):
    config = assert_round_trips(INITIALIZERS, make_initializer(spec))
    if isinstance(spec, dict):
        assert config == spec


def test_catalogue_and_unknown_names():
    assert set(INITIALIZERS.names()) == {"he_normal", "he_uniform", "glorot_normal", "glorot_uniform",
                                         "lecun_normal", "normal", "zeros"}
    with pytest.raises(ConfigError, match=r"unknown initializer 'he_normla'; did you mean 'he_normal'\?"):
        INITIALIZERS.get("he_normla")


def test_docstrings_state_the_formula():
    for name in INITIALIZERS.names():
        doc = INITIALIZERS.get(name).__doc__
        assert doc and ("~" in doc or "=" in doc), name
