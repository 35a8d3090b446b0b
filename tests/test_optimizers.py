"""Optimizers: two steps computed by hand for each rule, state round trips, configs and bad hyperparameters."""

import re

import numpy as np
import pytest

from nncli.config import config_from_dict
from nncli.config.typed import create, validated
from nncli.errors import ConfigError
from nncli.nn.errors import CoreError, StateError
from nncli.nn.optimizers import OPTIMIZERS
from tests.roundtrip import assert_round_trips

P0 = np.array([1.0, -2.0])
G1 = np.array([0.5, 0.25])
G2 = np.array([-1.0, 2.0])
G2_SMALL = np.array([0.1, 2.0])  # first element: v shrinks at step 2, so amsgrad keeps step 1's v
sqrt = np.sqrt


def make_optimizer(spec):
    return create(OPTIMIZERS, validated(OPTIMIZERS, spec))


def sgd_plain(p0, g1, g2):
    # p1 = p0 - 0.1 * g1 = [1 - 0.05, -2 - 0.025]; p2 = p1 - 0.1 * g2 = [0.95 + 0.1, -2.025 - 0.2]
    return np.array([0.95, -2.025]), np.array([1.05, -2.225])


def sgd_weight_decay(p0, g1, g2):
    p1 = p0 - 0.1 * (g1 + 0.5 * p0)
    p2 = p1 - 0.1 * (g2 + 0.5 * p1)
    return p1, p2


def sgd_momentum_dampening(p0, g1, g2):
    d1 = g1 + 0.1 * p0
    b1 = d1  # the first step copies the gradient, without dampening
    p1 = p0 - 0.1 * b1
    d2 = g2 + 0.1 * p1
    b2 = 0.9 * b1 + (1 - 0.5) * d2
    return p1, p1 - 0.1 * b2


def sgd_nesterov(p0, g1, g2):
    b1 = g1
    p1 = p0 - 0.1 * (g1 + 0.9 * b1)
    b2 = 0.9 * b1 + g2
    return p1, p1 - 0.1 * (g2 + 0.9 * b2)


def adam_plain(p0, g1, g2):
    # step 1: m = 0.1 g, v = 0.001 g², so m / (1 - 0.9) / (sqrt(v) / sqrt(1 - 0.999)) = g / |g|
    p1 = p0 - 0.1 * g1 / (abs(g1) + 1e-8)
    m2 = 0.9 * 0.1 * g1 + 0.1 * g2
    v2 = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    p2 = p1 - 0.1 / (1 - 0.9**2) * m2 / (sqrt(v2) / sqrt(1 - 0.999**2) + 1e-8)
    return p1, p2


def adam_weight_decay(p0, g1, g2):
    d1 = g1 + 0.1 * p0
    p1 = p0 - 0.1 * d1 / (abs(d1) + 1e-8)
    d2 = g2 + 0.1 * p1
    m2 = 0.9 * 0.1 * d1 + 0.1 * d2
    v2 = 0.999 * 0.001 * d1**2 + 0.001 * d2**2
    p2 = p1 - 0.1 / (1 - 0.9**2) * m2 / (sqrt(v2) / sqrt(1 - 0.999**2) + 1e-8)
    return p1, p2


def adam_amsgrad(p0, g1, g2):  # betas (0.9, 0.5), g2 = G2_SMALL
    v1 = 0.5 * g1**2
    p1 = p0 - 0.1 * g1 / (abs(g1) + 1e-8)
    m2 = 0.9 * 0.1 * g1 + 0.1 * g2
    v2 = 0.5 * v1 + 0.5 * g2**2
    v_max = np.maximum(v1, v2)  # [v1[0], v2[1]]
    assert v_max[0] == v1[0] and v_max[1] == v2[1]
    p2 = p1 - 0.1 / (1 - 0.9**2) * m2 / (sqrt(v_max) / sqrt(1 - 0.5**2) + 1e-8)
    return p1, p2


def adamw_weight_decay(p0, g1, g2):
    p1 = p0 * (1 - 0.1 * 0.2) - 0.1 * g1 / (abs(g1) + 1e-8)
    m2 = 0.9 * 0.1 * g1 + 0.1 * g2
    v2 = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    p2 = p1 * (1 - 0.1 * 0.2) - 0.1 / (1 - 0.9**2) * m2 / (sqrt(v2) / sqrt(1 - 0.999**2) + 1e-8)
    return p1, p2


def adamw_amsgrad(p0, g1, g2):  # betas (0.9, 0.5), weight_decay 0.2, g2 = G2_SMALL
    p1 = p0 * (1 - 0.1 * 0.2) - 0.1 * g1 / (abs(g1) + 1e-8)
    m2 = 0.9 * 0.1 * g1 + 0.1 * g2
    v_max = np.maximum(0.5 * g1**2, 0.5 * 0.5 * g1**2 + 0.5 * g2**2)
    p2 = p1 * (1 - 0.1 * 0.2) - 0.1 / (1 - 0.9**2) * m2 / (sqrt(v_max) / sqrt(1 - 0.5**2) + 1e-8)
    return p1, p2


def rmsprop_plain(p0, g1, g2):
    v1 = 0.01 * g1**2
    p1 = p0 - 0.01 * g1 / (sqrt(v1) + 1e-8)
    v2 = 0.99 * v1 + 0.01 * g2**2
    return p1, p1 - 0.01 * g2 / (sqrt(v2) + 1e-8)


def rmsprop_weight_decay(p0, g1, g2):
    d1 = g1 + 0.1 * p0
    v1 = 0.01 * d1**2
    p1 = p0 - 0.01 * d1 / (sqrt(v1) + 1e-8)
    d2 = g2 + 0.1 * p1
    v2 = 0.99 * v1 + 0.01 * d2**2
    return p1, p1 - 0.01 * d2 / (sqrt(v2) + 1e-8)


def rmsprop_centered_momentum(p0, g1, g2):  # alpha 0.9, momentum 0.5, weight_decay 0.1
    d1 = g1 + 0.1 * p0
    v1, a1 = 0.1 * d1**2, 0.1 * d1
    b1 = d1 / (sqrt(v1 - a1**2) + 1e-8)
    p1 = p0 - 0.01 * b1
    d2 = g2 + 0.1 * p1
    v2, a2 = 0.9 * v1 + 0.1 * d2**2, 0.9 * a1 + 0.1 * d2
    b2 = 0.5 * b1 + d2 / (sqrt(v2 - a2**2) + 1e-8)
    return p1, p1 - 0.01 * b2


def rmsprop_momentum(p0, g1, g2):  # momentum 0.9, not centered
    v1 = 0.01 * g1**2
    b1 = g1 / (sqrt(v1) + 1e-8)
    p1 = p0 - 0.01 * b1
    v2 = 0.99 * v1 + 0.01 * g2**2
    b2 = 0.9 * b1 + g2 / (sqrt(v2) + 1e-8)
    return p1, p1 - 0.01 * b2


def adagrad_plain(p0, g1, g2):
    s1 = g1**2
    p1 = p0 - 0.01 * g1 / (sqrt(s1) + 1e-10)
    s2 = s1 + g2**2
    return p1, p1 - 0.01 * g2 / (sqrt(s2) + 1e-10)


def adagrad_decay(p0, g1, g2):  # lr 0.1, lr_decay 0.5, weight_decay 0.1, initial_accumulator_value 0.1
    d1 = g1 + 0.1 * p0
    s1 = 0.1 + d1**2
    p1 = p0 - 0.1 / (1 + 0 * 0.5) * d1 / (sqrt(s1) + 1e-10)
    d2 = g2 + 0.1 * p1
    s2 = s1 + d2**2
    return p1, p1 - 0.1 / (1 + 1 * 0.5) * d2 / (sqrt(s2) + 1e-10)


CASES = [
    ({"type": "sgd", "lr": 0.1}, G2, sgd_plain),
    ({"type": "sgd", "lr": 0.1, "weight_decay": 0.5}, G2, sgd_weight_decay),
    ({"type": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}, G2,
     sgd_momentum_dampening),
    ({"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, G2, sgd_nesterov),
    ({"type": "adam", "lr": 0.1}, G2, adam_plain),
    ({"type": "adam", "lr": 0.1, "weight_decay": 0.1}, G2, adam_weight_decay),
    ({"type": "adam", "lr": 0.1, "betas": [0.9, 0.5], "amsgrad": True}, G2_SMALL, adam_amsgrad),
    ({"type": "adamw", "lr": 0.1, "weight_decay": 0.0}, G2, adam_plain),
    ({"type": "adamw", "lr": 0.1, "weight_decay": 0.2}, G2, adamw_weight_decay),
    ({"type": "adamw", "lr": 0.1, "betas": [0.9, 0.5], "weight_decay": 0.2, "amsgrad": True}, G2_SMALL,
     adamw_amsgrad),
    ({"type": "rmsprop"}, G2, rmsprop_plain),
    ({"type": "rmsprop", "weight_decay": 0.1}, G2, rmsprop_weight_decay),
    ({"type": "rmsprop", "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1}, G2,
     rmsprop_centered_momentum),
    ({"type": "rmsprop", "momentum": 0.9}, G2, rmsprop_momentum),
    ({"type": "adagrad"}, G2, adagrad_plain),
    ({"type": "adagrad", "lr": 0.1, "lr_decay": 0.5, "weight_decay": 0.1, "initial_accumulator_value": 0.1}, G2,
     adagrad_decay),
]
CASE_IDS = [f"{spec['type']}-{expected.__name__}" for spec, _, expected in CASES]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 2e-6)])
@pytest.mark.parametrize("spec, g2, expected", CASES, ids=CASE_IDS)
def test_two_steps_by_hand(spec, g2, expected, dtype, rtol):
    optimizer = make_optimizer(spec)
    param = P0.astype(dtype)
    grads = [G1.astype(dtype), g2.astype(dtype)]
    grads_before = [grad.copy() for grad in grads]
    expected_p1, expected_p2 = expected(P0, G1, g2)

    optimizer.step([param], [grads[0]])
    np.testing.assert_allclose(param, expected_p1, rtol=rtol)
    optimizer.step([param], [grads[1]])
    np.testing.assert_allclose(param, expected_p2, rtol=rtol)

    assert param.dtype == dtype
    assert all(array.dtype == dtype for key, array in optimizer.state_dict().items() if "." in key)
    for grad, before in zip(grads, grads_before, strict=False):
        np.testing.assert_array_equal(grad, before)  # gradients are read, never written


def test_lr_is_read_at_every_step():
    optimizer = make_optimizer({"type": "sgd", "lr": 0.1})
    param = P0.copy()
    optimizer.step([param], [G1])
    optimizer.lr = 0.01  # as a schedule does between epochs
    optimizer.step([param], [G2])
    np.testing.assert_allclose(param, P0 - 0.1 * G1 - 0.01 * G2, rtol=1e-15)


def _random_problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(2).astype(dtype)]
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(3)]
    return params, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec", [case[0] for case in CASES], ids=CASE_IDS)
def test_state_dict_round_trip_is_bit_identical(spec, dtype, tmp_path):
    params, grads = _random_problem(dtype)
    params_a = [p.copy() for p in params]
    optimizer_a = make_optimizer(spec)
    for step_grads in grads:
        optimizer_a.step(params_a, step_grads)

    params_b = [p.copy() for p in params]
    optimizer_b = make_optimizer(spec)
    optimizer_b.step(params_b, grads[0])
    np.savez(tmp_path / "checkpoint.npz", **optimizer_b.state_dict())
    with np.load(tmp_path / "checkpoint.npz", allow_pickle=False) as saved:
        state = dict(saved)
    optimizer_c = make_optimizer(spec)
    optimizer_c.load_state_dict(state)
    for step_grads in grads[1:]:
        optimizer_c.step(params_b, step_grads)

    for a, c in zip(params_a, params_b, strict=False):
        assert a.tobytes() == c.tobytes()


def test_state_dict_layout():
    optimizer = make_optimizer({"type": "adam", "amsgrad": True})
    assert set(optimizer.state_dict()) == {"step", "lr"}  # nothing allocated before the first step
    params, grads = _random_problem(np.float32)
    optimizer.step(params, grads[0])
    state = optimizer.state_dict()
    names = ("exp_avg_sum", "exp_avg_sq_sum", "max_exp_avg_sq_sum")
    assert set(state) == {"step", "lr"} | {f"{name}.{i}" for name in names for i in (0, 1)}
    assert state["step"].shape == () and state["step"].dtype == np.int64 and int(state["step"]) == 1
    assert state["exp_avg_sum.0"].shape == (3, 2) and state["exp_avg_sum.1"].dtype == np.float32
    state["exp_avg_sum.0"][...] = 123.0  # a copy: saving it does not alias the live state
    assert not np.any(optimizer.state_dict()["exp_avg_sum.0"] == 123.0)


def test_load_state_dict_rejects_a_mismatch():
    params, grads = _random_problem(np.float64)
    adam = make_optimizer({"type": "adam"})
    adam.step(params, grads[0])
    with pytest.raises(StateError, match="does not match"):
        make_optimizer({"type": "sgd", "momentum": 0.9}).load_state_dict(adam.state_dict())
    with pytest.raises(StateError, match="does not match"):
        make_optimizer({"type": "adam", "amsgrad": True}).load_state_dict(adam.state_dict())
    renamed = {key.replace("_sum", ""): value for key, value in adam.state_dict().items()}  # older key names
    old_names = r"unexpected \['exp_avg.0'.*missing \['exp_avg_sum.<i>'.*without --resume"
    with pytest.raises(StateError, match=old_names):
        make_optimizer({"type": "adam"}).load_state_dict(renamed)
    other = make_optimizer({"type": "adam"})
    other.load_state_dict(adam.state_dict())
    with pytest.raises(StateError, match="does not match the model"):
        other.step([p.T.copy() for p in params], [g.T.copy() for g in grads[1]])


TORCH_DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adam": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    "adamw": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
}


def test_registry_and_defaults():
    assert OPTIMIZERS.names() == sorted(TORCH_DEFAULTS)
    for name, defaults in TORCH_DEFAULTS.items():
        assert make_optimizer({"type": name}).get_config() == {"type": name, **defaults}


@pytest.mark.parametrize("spec", [case[0] for case in CASES] + [{"type": n} for n in TORCH_DEFAULTS], ids=str)
def test_config_round_trip(spec):
    config = assert_round_trips(OPTIMIZERS, make_optimizer(spec))
    assert make_optimizer(config).get_config() == config


@pytest.mark.parametrize("spec, field", [
    ({"type": "sgd", "lr": -0.1}, "optimizer.lr"),
    ({"type": "sgd", "lr": "0.1"}, "optimizer.lr"),
    ({"type": "sgd", "momentum": -0.5}, "optimizer.momentum"),
    ({"type": "sgd", "dampening": 1.5}, "optimizer.dampening"),
    ({"type": "sgd", "nesterov": True}, "optimizer.nesterov"),
    ({"type": "sgd", "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "optimizer.nesterov"),
    ({"type": "adam", "betas": [0.9, 1.0]}, "optimizer.betas[1]"),
    ({"type": "adam", "betas": [1.5, 0.9]}, "optimizer.betas[0]"),
    ({"type": "adamw", "eps": -1e-8}, "optimizer.eps"),
    ({"type": "adamw", "weight_decay": -0.01}, "optimizer.weight_decay"),
    ({"type": "rmsprop", "alpha": 1.0}, "optimizer.alpha"),
    ({"type": "adagrad", "lr_decay": -1.0}, "optimizer.lr_decay"),
    ({"type": "adam", "momentum": 0.9}, "optimizer.momentum"),
    ({"type": "adam", "lr": float("nan")}, "optimizer.lr"),
])
def test_bad_hyperparameters_are_rejected(spec, field):
    with pytest.raises(ConfigError) as error:  # at the boundary: the config names the field
        config_from_dict({"data": {"train": "t.csv", "target": "y"}, "layers": [{"type": "dense", "units": 1}],
                          "optimizer": spec})
    assert error.value.field == field


def test_nesterov_is_checked_by_the_constructor_too():
    with pytest.raises(CoreError, match="nesterov momentum needs momentum > 0 and dampening 0"):
        OPTIMIZERS.get("sgd")(nesterov=True)


def test_unknown_optimizer_suggests_the_closest():
    base = {"data": {"train": "t.csv", "target": "y"}, "layers": [{"type": "dense", "units": 1}]}
    with pytest.raises(ConfigError, match="unknown optimizer 'adma'; did you mean 'adam'"):
        config_from_dict({**base, "optimizer": {"type": "adma"}})
    with pytest.raises(ConfigError, match=re.escape("optimizer.type: required")):
        config_from_dict({**base, "optimizer": {"lr": 0.1}})
