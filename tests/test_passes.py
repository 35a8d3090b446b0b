"""The numpy passes derived from a rule: one pass per operation, values placed safely, the rule contract enforced."""

import numpy as np
import pytest

from nncli.config.typed import create, validated
from nncli.nn.optimizers import OPTIMIZERS, passes

Array = np.ndarray

# passes per step (as many as the rule has operations, plus sgd's first copy) and work arrays
PASSES = [
    ({"type": "sgd"}, 2, 2, 1),
    ({"type": "sgd", "momentum": 0.9}, 3, 5, 1),
    ({"type": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, 6, 9, 2),
    ({"type": "adam"}, 10, 10, 1),
    ({"type": "adam", "amsgrad": True, "weight_decay": 0.1}, 13, 13, 1),
    ({"type": "adamw"}, 11, 11, 1),
    ({"type": "adamw", "weight_decay": 0.0}, 10, 10, 1),
    ({"type": "rmsprop"}, 9, 9, 2),
    ({"type": "rmsprop", "centered": True, "momentum": 0.9, "weight_decay": 0.1}, 19, 19, 2),
    ({"type": "adagrad"}, 7, 7, 2),
]


@pytest.mark.parametrize("spec, first, later, work_arrays", PASSES, ids=str)
def test_one_pass_per_operation(spec, first, later, work_arrays):
    optimizer = create(OPTIMIZERS, validated(OPTIMIZERS, spec))
    plans = [passes.plan(optimizer.rule, optimizer.state_names(), optimizer.flags(step)) for step in (1, 2)]
    assert [plan.source.count("(") - 1 for plan in plans] == [first, later]  # calls, after `def run(`
    assert max(plan.work_arrays for plan in plans) == work_arrays
    assert plans[1] is passes.plan(optimizer.rule, optimizer.state_names(), optimizer.flags(3))


def test_adams_passes_read_like_the_rule():
    optimizer = create(OPTIMIZERS, validated(OPTIMIZERS, {"type": "adam", "amsgrad": True}))
    source = passes.plan(optimizer.rule, optimizer.state_names(), optimizer.flags(1)).source
    assert source.splitlines()[-11:] == [
        "    multiply(exp_avg_sum, beta1, out=exp_avg_sum)",
        "    add(exp_avg_sum, grad, out=exp_avg_sum)",
        "    multiply(exp_avg_sq_sum, beta2, out=exp_avg_sq_sum)",
        "    multiply(grad, grad, out=work0)",
        "    add(exp_avg_sq_sum, work0, out=exp_avg_sq_sum)",
        "    maximum(max_exp_avg_sq_sum, exp_avg_sq_sum, out=max_exp_avg_sq_sum)",
        "    sqrt(max_exp_avg_sq_sum, out=work0)",
        "    add(work0, denom_eps, out=work0)",
        "    divide(exp_avg_sum, work0, out=work0)",
        "    multiply(work0, step_size, out=work0)",
        "    subtract(param, work0, out=param)",
    ]


def keeps_old_value(param: Array, grad: Array, previous: Array, lr: float):
    for i in range(param.shape[0]):
        p = param[i]
        param[i] = p - grad[i] * lr
        previous[i] = p * lr  # the parameter's old value, read after its new one was written


def swaps(param: Array, grad: Array, other: Array, lr: float):
    for i in range(param.shape[0]):
        p = param[i]
        param[i] = other[i]
        other[i] = p


def test_a_value_still_needed_is_not_overwritten():
    plan = passes.plan(keeps_old_value, ("previous",), {})
    param, grad, previous = np.array([1.0, 2.0]), np.array([4.0, 8.0]), np.zeros(2)
    work = [np.empty(2) for _ in range(plan.work_arrays)]
    plan.run(param, grad, {"previous": previous}, work, {"lr": 0.5})
    np.testing.assert_array_equal(param, [-1.0, -2.0])
    np.testing.assert_array_equal(previous, [0.5, 1.0])
    with pytest.raises(NotImplementedError, match="swapped"):
        passes.plan(swaps, ("other",), {})


def literal(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        param[i] = param[i] - grad[i] * 2.0


def number_arithmetic(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        param[i] = param[i] - grad[i] * (lr * lr)


def branches_on_a_number(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        if lr:
            param[i] = param[i] - grad[i]


def branches_on_a_value(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        if grad[i]:
            param[i] = param[i] - grad[i] * lr


def other_function(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        param[i] = param[i] - np.exp(grad[i]) * lr


def writes_the_gradient(param: Array, grad: Array, lr: float):
    for i in range(param.shape[0]):
        grad[i] = grad[i] * lr
        param[i] = param[i] - grad[i]


def reads_a_state_not_kept(param: Array, grad: Array, buffer: Array, lr: float):
    for i in range(param.shape[0]):
        param[i] = param[i] - buffer[i] * lr


@pytest.mark.parametrize("rule, message", [
    (literal, "combines array values and its numbers"),
    (number_arithmetic, "arithmetic between its numbers"),
    (branches_on_a_number, "branches on its flags, not on the number 'lr'"),
    (branches_on_a_value, "branches on its flags, not on array values"),
    (other_function, "np.sqrt and np.maximum, not exp"),
    (writes_the_gradient, "not into 'grad'"),
    (reads_a_state_not_kept, "'buffer', which this configuration does not keep"),
])
def test_what_both_engines_would_not_compute_alike_is_refused(rule, message):
    """The kernel computes a literal or a product of two numbers in the arrays' dtype, numpy in double."""
    with pytest.raises(TypeError, match=message):
        passes.plan(rule, (), {})
