"""The compiled rules (nncli.nn.optimizers.fused) give the numpy passes' results bit for bit."""

import numpy as np
import pytest

from nncli.config.typed import create, validated
from nncli.nn.optimizers import OPTIMIZERS, fused, rules

pytest.importorskip("numba")

SIZE = 4099  # not a multiple of any vector width: the loops' remainders are covered too

CASES = {
    "adam": {"type": "adam", "lr": 1e-2},
    "adam-amsgrad-l2": {"type": "adam", "lr": 1e-2, "amsgrad": True, "weight_decay": 0.1},
    "adam-betas": {"type": "adam", "lr": 3e-3, "betas": [0.0, 0.5], "eps": 1e-3},
    "adamw": {"type": "adamw", "lr": 1e-2},
    "adamw-amsgrad": {"type": "adamw", "lr": 1e-2, "weight_decay": 0.3, "amsgrad": True},
    "sgd-momentum": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
    "sgd-dampening-l2": {"type": "sgd", "lr": 0.05, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.01},
    "sgd-nesterov": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02},
    "sgd-plain": {"type": "sgd", "lr": 0.1},
    "sgd-plain-l2": {"type": "sgd", "lr": 0.1, "weight_decay": 0.05},
    "rmsprop": {"type": "rmsprop"},
    "rmsprop-centered-momentum-l2": {"type": "rmsprop", "centered": True, "momentum": 0.9, "weight_decay": 0.01},
    "rmsprop-centered-small-alpha": {"type": "rmsprop", "alpha": 0.3, "centered": True},  # lerp_'s other form
    "rmsprop-momentum": {"type": "rmsprop", "lr": 1e-3, "momentum": 0.5, "eps": 1e-4},
    "adagrad": {"type": "adagrad"},
    "adagrad-decay-l2": {"type": "adagrad", "lr_decay": 0.1, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
}
RULES = {"adam": rules.adam, "adamw": rules.adam, "sgd": rules.sgd, "rmsprop": rules.rmsprop, "adagrad": rules.adagrad}


def make_optimizer(spec):
    return create(OPTIMIZERS, validated(OPTIMIZERS, dict(spec)))


def run_steps(spec, dtype, grads, lrs, fused_on: bool, monkeypatch) -> tuple[np.ndarray, dict]:
    monkeypatch.setenv("NNCLI_FUSED", "1" if fused_on else "0")
    param = np.linspace(-2.0, 2.0, SIZE).astype(dtype)
    optimizer = make_optimizer(spec)
    for grad, lr in zip(grads, lrs, strict=False):
        optimizer.lr = lr
        optimizer.step([param], [grad])
    return param, optimizer.state_dict()


@pytest.fixture(autouse=True)
def small_arrays_use_kernels(monkeypatch):
    monkeypatch.setattr(fused, "MIN_SIZE", 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_kernel_matches_numpy_passes_bit_for_bit(case, dtype, monkeypatch):
    rng = np.random.default_rng(3)
    grads = [(rng.standard_normal(SIZE) * scale).astype(dtype) for scale in (1.0, 1e-3, 10.0, 0.0, 1e-8, 1.0)]
    grads[2][:7] = 0.0
    lrs = [0.1, 0.1, 0.05, 0.05, 0.01, 0.2]  # a schedule changes lr between steps
    expected_param, expected_state = run_steps(CASES[case], dtype, grads, lrs, False, monkeypatch)
    param, state = run_steps(CASES[case], dtype, grads, lrs, True, monkeypatch)
    assert fused.kernel(RULES[CASES[case]["type"]], param) is not None
    np.testing.assert_array_equal(param, expected_param)
    assert state.keys() == expected_state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], expected_state[key], err_msg=key)
        assert state[key].dtype == expected_state[key].dtype


@pytest.mark.parametrize("case", ["adam-amsgrad-l2", "sgd-nesterov", "rmsprop-centered-momentum-l2", "adagrad"])
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_non_finite_gradients_propagate_as_in_numpy(case, monkeypatch):
    grads = [np.full(SIZE, 0.5, dtype=np.float32) for _ in range(3)]
    grads[1][:3] = [np.nan, np.inf, -np.inf]
    expected_param, expected_state = run_steps(CASES[case], np.float32, grads, [0.1] * 3, False, monkeypatch)
    param, state = run_steps(CASES[case], np.float32, grads, [0.1] * 3, True, monkeypatch)
    np.testing.assert_array_equal(param, expected_param)
    for key in state:
        np.testing.assert_array_equal(state[key], expected_state[key], err_msg=key)


def test_when_kernels_are_used(monkeypatch):
    monkeypatch.setattr(fused, "MIN_SIZE", 1000)
    assert fused.kernel(rules.adam, np.zeros(999, dtype=np.float32)) is None  # numpy is quicker than compiling
    assert fused.kernel(rules.adam, np.zeros(1000, dtype=np.float32)) is not None
    assert fused.kernel(rules.adam, np.zeros((100, 20), dtype=np.float32)[:, ::2]) is None  # not contiguous
    monkeypatch.setenv("NNCLI_FUSED", "0")
    assert fused.kernel(rules.adam, np.zeros(1000, dtype=np.float32)) is None


@pytest.mark.parametrize("fused_on", [False, True])
@pytest.mark.parametrize("case", ["adam-amsgrad-l2", "sgd-dampening-l2", "rmsprop-centered-momentum-l2"])
def test_the_rule_gets_its_flags_and_numbers_by_name(case, fused_on, monkeypatch):
    """Both engines bind the optimizer's flags and numbers to the rule's parameters by name, not by order."""
    grads = [np.linspace(-1.0, 1.0, SIZE).astype(np.float32) * scale for scale in (1.0, 0.5, -2.0)]
    expected_param, expected_state = run_steps(CASES[case], np.float32, grads, [0.1] * 3, fused_on, monkeypatch)
    optimizer_class = OPTIMIZERS.get(CASES[case]["type"])
    flags, numbers = optimizer_class.flags, optimizer_class.numbers
    monkeypatch.setattr(optimizer_class, "flags", lambda self, step: dict(reversed(flags(self, step).items())))
    monkeypatch.setattr(optimizer_class, "numbers",
                        lambda self, lr, step: dict(reversed(numbers(self, lr, step).items())))
    param, state = run_steps(CASES[case], np.float32, grads, [0.1] * 3, fused_on, monkeypatch)
    np.testing.assert_array_equal(param, expected_param)
    for key in state:
        np.testing.assert_array_equal(state[key], expected_state[key], err_msg=key)


@pytest.mark.parametrize("epochs, compiled", [(1, False), (10**6, True)])
def test_training_asks_for_kernels_only_when_the_run_is_large_enough(epochs, compiled):
    """fit weighs the run (parameters x planned steps) against the one-off cost of getting the kernels."""
    from nncli.nn.losses import LOSSES
    from nncli.nn.model import Model
    from nncli.nn.objective import Objective
    from nncli.nn.schedules import SCHEDULES
    from nncli.split import Split
    from nncli.train import TrainingState, fit
    from tests.settings import loop_settings

    rng = np.random.default_rng(0)
    specs = [{"type": "dense", "units": 128, "activation": "relu"}, {"type": "dense", "units": 128},
             {"type": "dense", "units": 1}]
    model = Model(specs, 4, rng=rng)
    assert model.flat_params.size >= 10_000
    optimizer = make_optimizer({"type": "adam"})
    x = rng.normal(size=(64, 4)).astype(np.float32)
    objective = Objective(LOSSES.create("mse"), model.output_activation)
    loop = fit(model, objective, optimizer, SCHEDULES.create("constant"), Split(x, x[:, :1]), None,
               loop_settings(epochs=epochs, batch_size=8), rng, TrainingState(), base_lr=1e-3)
    next(loop)
    assert optimizer.compiled is compiled
    assert fused.worth_compiling(model.flat_params.size, 8 * epochs) is compiled


def test_a_kernel_that_cannot_run_falls_back_to_numpy(monkeypatch):
    def broken(*args):
        raise RuntimeError("no code generation here")

    monkeypatch.setattr(fused, "_kernels", {"adam": broken})
    monkeypatch.setattr(fused, "_ready", {})
    assert fused.kernel(rules.adam, np.zeros(SIZE, dtype=np.float32)) is None
    param = np.ones(SIZE, dtype=np.float32)
    make_optimizer({"type": "adam"}).step([param], [np.ones(SIZE, dtype=np.float32)])
    np.testing.assert_allclose(param, 1.0 - 1e-3, rtol=1e-6)  # the numpy passes' first Adam step: p - lr


def test_numba_with_its_jit_disabled_is_not_used(monkeypatch):
    import numba

    monkeypatch.setattr(numba.config, "DISABLE_JIT", True)
    monkeypatch.setattr(fused, "_kernels", None)
    monkeypatch.setattr(fused, "_ready", {})
    assert fused.kernel(rules.adam, np.zeros(SIZE, dtype=np.float32)) is None


def test_a_rule_takes_arrays_then_flags_then_numbers():
    """The kernel's caller passes them grouped in that order, each group by name."""
    def numbers_before_flags(param: np.ndarray, grad: np.ndarray, lr: float, decays: bool):
        pass

    with pytest.raises(TypeError, match="param, grad, its state arrays, flags, then numbers"):
        fused.Kernel(numbers_before_flags, numbers_before_flags)
    assert fused.Kernel(rules.rmsprop, rules.rmsprop).states == ["square_avg", "grad_avg", "momentum_buffer"]
