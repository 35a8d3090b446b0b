"""Schedules: learning rates per epoch computed by hand, plateau's bookkeeping, configs and bad parameters."""

import math

import numpy as np
import pytest

from nncli.build import build_schedule
from nncli.config import config_from_dict
from nncli.errors import ConfigError
from nncli.nn.errors import CoreError, StateError
from nncli.nn.schedules import SCHEDULES
from tests.roundtrip import assert_round_trips


def make(spec):
    """A schedule straight from the registry (a plateau minimizes unless told: `auto` is the config's)."""
    if spec["type"] == "plateau":
        spec = {"mode": "min", **spec}
    return SCHEDULES.get(spec["type"]).from_config(spec)


def lrs(spec, base_lr, epochs):
    schedule = make(spec)
    return [schedule.lr_at(epoch, base_lr, epochs) for epoch in range(epochs)]


def test_constant():
    assert lrs({"type": "constant"}, 0.1, 4) == [0.1, 0.1, 0.1, 0.1]


def test_exponential():
    # lr * exp(-decay * e)
    assert lrs({"type": "exponential", "decay": 0.5}, 2.0, 3) == [2.0, 2.0 * math.exp(-0.5), 2.0 * math.exp(-1.0)]
    assert make({"type": "exponential"}).lr_at(100, 1.0, 200) == math.exp(-0.01 * 100)


def test_step():
    # lr * gamma ** floor(e / step_size): epochs 0-2 -> 1, 3-5 -> 0.5, 6-7 -> 0.25
    assert lrs({"type": "step", "step_size": 3, "gamma": 0.5}, 1.0, 8) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert make({"type": "step"}).lr_at(25, 1.0, 30) == pytest.approx(0.01, rel=1e-15)


def test_cosine():
    # min_lr + (lr - min_lr) * (1 + cos(pi * e / epochs)) / 2, from lr at e = 0 to min_lr at e = epochs
    schedule = make({"type": "cosine", "min_lr": 0.1})
    assert schedule.lr_at(0, 1.1, 4) == 1.1
    assert schedule.lr_at(1, 1.1, 4) == pytest.approx(0.1 + 1.0 * (1 + math.sqrt(0.5)) / 2, rel=1e-15)
    assert schedule.lr_at(2, 1.1, 4) == pytest.approx(0.1 + 0.5, rel=1e-15)
    assert schedule.lr_at(4, 1.1, 4) == pytest.approx(0.1, rel=1e-15)
    assert make({"type": "cosine"}).lr_at(3, 1.0, 3) == pytest.approx(0.0, abs=1e-16)


def test_inverse_time():
    # lr / (1 + decay * e)
    assert lrs({"type": "inverse_time", "decay": 0.5}, 1.0, 4) == [1.0, 1 / 1.5, 1 / 2.0, 1 / 2.5]


def run_plateau(schedule, values, base_lr=1.0, key="val_loss"):
    """The lr used in each epoch, observing `values[e]` after epoch e."""
    used = []
    for epoch, value in enumerate(values):
        used.append(schedule.lr_at(epoch, base_lr, len(values)))
        schedule.observe(epoch, {"loss": 123.0, key: value})
    return used


def test_plateau_reduces_after_patience_epochs_without_improvement():
    schedule = make({"type": "plateau", "factor": 0.5, "patience": 2})
    values = [1.0, 0.9, 0.95, 0.92, 0.8, 0.85, 0.86, 0.87]
    # wait:   0    0    1     2->0  0    1     2->0  1
    # lr:     1    1    1     1     0.5  0.5   0.5   0.25
    assert run_plateau(schedule, values) == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    assert schedule.best == 0.8 and schedule.wait == 1 and schedule.reductions == 2


def test_plateau_threshold_is_relative():
    schedule = make({"type": "plateau", "patience": 1, "factor": 0.5, "threshold": 1e-3})
    # 0.9995 is not below 1.0 * (1 - 1e-3) = 0.999: no improvement, patience 1 reduces at once
    assert run_plateau(schedule, [1.0, 0.9995, 0.998, 0.9975]) == [1, 1, 0.5, 0.5]


def test_plateau_never_goes_below_min_lr():
    schedule = make({"type": "plateau", "patience": 1, "factor": 0.1, "min_lr": 0.05})
    # 1 -> max(0.1, 0.05) = 0.1 -> max(0.01, 0.05) = 0.05 -> 0.05
    assert run_plateau(schedule, [1.0, 1.0, 1.0, 1.0, 1.0]) == [1, 1, 0.1, 0.05, 0.05]


def test_plateau_patience_zero_reduces_after_each_bad_epoch():
    schedule = make({"type": "plateau", "patience": 0, "factor": 0.5})
    assert run_plateau(schedule, [1.0, 0.5, 0.6, 0.4, 0.7]) == [1, 1, 1, 0.5, 0.5]


def test_plateau_watches_accuracy_upwards():
    schedule = make({"type": "plateau", "monitor": "val_accuracy", "patience": 1, "factor": 0.5, "mode": "max"})
    assert run_plateau(schedule, [0.5, 0.6, 0.55, 0.7], key="val_accuracy") == [1, 1, 1, 0.5]
    forced = make({"type": "plateau", "monitor": "val_accuracy", "patience": 1, "mode": "min"})
    assert run_plateau(forced, [0.5, 0.6], key="val_accuracy") == [1, 1]
    assert forced.reductions == 1


@pytest.mark.parametrize("monitor, mode", [("val_accuracy", "max"), ("accuracy", "max"), ("val_r2", "max"),
                                           ("val_auc", "max"), ("val_loss", "min"), ("loss", "min"),
                                           ("val_mae", "min"), ("rmse", "min")])
def test_the_config_builder_resolves_auto_by_the_monitor(monitor, mode):
    spec = {"type": "plateau", "monitor": monitor, "patience": 1, "mode": "auto"}
    assert build_schedule(spec).mode == mode
    assert spec["mode"] == "auto"  # the config is left as it was
    assert build_schedule({**spec, "mode": "min"}).mode == "min"


def test_the_config_builder_resolves_the_default_mode_and_leaves_other_schedules_alone():
    assert build_schedule({"type": "plateau"}).mode == "min"  # monitor val_loss, mode auto: the defaults
    assert build_schedule({"type": "plateau", "monitor": "f1"}).mode == "max"
    assert build_schedule({"type": "step", "step_size": 2}).get_config() == {"type": "step", "step_size": 2,
                                                                              "gamma": 0.1}


def test_an_unresolved_auto_plateau_refuses_to_guess():
    schedule = SCHEDULES.get("plateau")(monitor="val_accuracy")
    schedule.observe(0, {"loss": 1.0})  # without its monitor it watches the loss, which improves downwards
    with pytest.raises(CoreError, match="plateau mode 'auto' must be resolved to 'min' or 'max' for 'val_accuracy'"):
        schedule.observe(1, {"loss": 1.0, "val_accuracy": 0.5})


def test_plateau_falls_back_to_loss():
    schedule = make({"type": "plateau", "patience": 1, "factor": 0.5})
    for epoch, loss in enumerate([1.0, 2.0]):
        schedule.observe(epoch, {"loss": loss})  # no validation data: no val_loss
    assert schedule.lr_at(2, 1.0, 3) == 0.5
    with pytest.raises(CoreError, match="neither 'val_loss' nor 'loss'"):
        schedule.observe(2, {"accuracy": 0.5})


def test_plateau_nan_is_no_improvement():
    schedule = make({"type": "plateau", "patience": 1, "factor": 0.5})
    assert run_plateau(schedule, [float("nan"), 1.0, float("nan")]) == [1, 0.5, 0.5]
    assert schedule.best == 1.0 and schedule.reductions == 2


def test_plateau_state_round_trip(tmp_path):
    spec = {"type": "plateau", "factor": 0.5, "patience": 2}
    values = [1.0, 0.9, 0.95, 0.92, 0.8, 0.85, 0.86, 0.87]
    whole = run_plateau(make(spec), values)

    first = make(spec)
    used = run_plateau(first, values[:3])
    np.savez(tmp_path / "state.npz", **first.state_dict())
    second = make(spec)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as saved:
        second.load_state_dict(dict(saved))
    for epoch, value in enumerate(values[3:], start=3):
        used.append(second.lr_at(epoch, 1.0, len(values)))
        second.observe(epoch, {"val_loss": value})
    assert used == whole
    with pytest.raises(StateError):
        second.load_state_dict({"best": np.array(1.0)})


def test_pure_schedules_keep_no_state():
    for name in ["constant", "exponential", "step", "cosine", "inverse_time"]:
        schedule = make({"type": name})
        schedule.observe(0, {"loss": 1.0})
        assert schedule.state_dict() == {}
        schedule.load_state_dict({})
        with pytest.raises(StateError):
            schedule.load_state_dict({"wait": np.array(1)})


def test_registry():
    assert SCHEDULES.names() == sorted(["constant", "exponential", "step", "cosine", "inverse_time", "plateau"])
    with pytest.raises(ConfigError, match="unknown schedule 'cosin'; did you mean 'cosine'"):
        SCHEDULES.get("cosin")


@pytest.mark.parametrize("name", sorted(["constant", "exponential", "step", "cosine", "inverse_time", "plateau"]))
def test_config_round_trip(name):
    config = assert_round_trips(SCHEDULES, make({"type": name}))
    assert make(config).get_config() == config


@pytest.mark.parametrize("spec, field", [
    ({"type": "exponential", "decay": -0.1}, "schedule.decay"),
    ({"type": "step", "step_size": 0}, "schedule.step_size"),
    ({"type": "step", "step_size": 2.5}, "schedule.step_size"),
    ({"type": "step", "gamma": 1.5}, "schedule.gamma"),
    ({"type": "cosine", "min_lr": -1.0}, "schedule.min_lr"),
    ({"type": "inverse_time", "decay": "fast"}, "schedule.decay"),
    ({"type": "plateau", "factor": 1.0}, "schedule.factor"),
    ({"type": "plateau", "patience": -1}, "schedule.patience"),
    ({"type": "plateau", "monitor": ""}, "schedule.monitor"),
    ({"type": "plateau", "mode": "up"}, "schedule.mode"),
    ({"type": "constant", "lr": 0.1}, "schedule.lr"),
])
def test_bad_parameters_are_rejected(spec, field):
    with pytest.raises(ConfigError) as error:
        config_from_dict({"layers": [{"type": "dense", "units": 1}],
                          "schedule": spec})
    assert error.value.field == field
