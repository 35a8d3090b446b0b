"""A training step allocates nothing once it has run: traced memory stays flat whatever the batch size.

Each case runs what `nncli.train.fit` runs per batch (forward, loss, backward, regularization, clipping, the
optimizer step) under `tracemalloc`, after one warm-up step. numpy's ufuncs take a fixed work buffer for
broadcasts and casts (up to `np.getbufsize()` elements per operand, whatever the array size), so the
measured steps run with a small buffer size: what is left is a few Python objects, and any array with a
row per sample (even a boolean column) would show, at batch 256 and more so at 2048.
"""

import tracemalloc

import numpy as np
import pytest

from nncli.nn.activations import get_activation
from nncli.nn.buffers import Buffers
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.nn.regularizers import clip_global_norm
from nncli.nn.targetscale import TargetScale
from nncli.train import batch_step
from tests.settings import loop_settings

FEATURES = 10
BOUND = 8 * 1024  # bytes; one float32 hidden activation at batch 256 is 256 * 64 * 4 = 64 KiB


def dense(units, activation, **graph):
    return {"type": "dense", "units": units, "activation": activation, **graph}


CASES = {
    "relu-softmax-cce-adam": (
        [dense(64, "relu"), dense(64, "relu"), dense(5, "softmax")],
        "categorical_crossentropy", {"type": "adam", "lr": 1e-3}, loop_settings(epochs=1)),
    "tanh-mse-sgd-momentum": (
        [dense(64, "tanh"), dense(2, "linear")],
        "mse", {"type": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True}, loop_settings(epochs=1)),
    "sigmoid-bce-l1-l2-clip": (
        [dense(64, "sigmoid"), dense(1, "sigmoid")],
        "binary_crossentropy", {"type": "sgd", "lr": 0.1}, loop_settings(epochs=1, clip_norm=0.5, l1=1e-4, l2=1e-3)),
    "gelu-huber-adamw": (
        [dense(64, "gelu"), dense(64, {"type": "gelu", "approximate": "tanh"}), dense(2, "linear")],
        "huber", {"type": "adamw", "lr": 1e-3}, loop_settings(epochs=1)),
    "batchnorm-dropout-rmsprop": (
        [dense(64, "elu"), {"type": "batchnorm"}, {"type": "dropout", "rate": 0.3}, dense(64, "leaky_relu"),
         dense(3, "softmax")],
        "categorical_crossentropy", {"type": "rmsprop", "lr": 1e-3, "momentum": 0.5, "centered": True},
        loop_settings(epochs=1)),
    "branching-concat-add-mae": (
        [dense(64, "silu", name="trunk"),
         dense(64, "softplus", name="left", inputs=["trunk"]),
         dense(64, "sigmoid", name="right", inputs=["trunk"]),
         {"type": "add", "name": "sum", "inputs": ["left", "right", "left"]},
         dense(16, "tanh", name="raw", inputs=["input"]),
         {"type": "concat", "name": "joined", "inputs": ["sum", "raw", "trunk"]},
         dense(1, "linear")],
        "mae", {"type": "adagrad", "lr": 0.01}, loop_settings(epochs=1, l1=1e-3)),
    # losses on outputs they do not fuse with: the activation's `forward`, the loss, the activation's `backward`
    "gelu-outputs-mse-unfused": (
        [dense(64, "relu"), dense(3, "gelu")],
        "mse", {"type": "sgd", "lr": 0.01}, loop_settings(epochs=1)),
    "sigmoid-outputs-cce-unfused": (
        [dense(64, "softplus"), dense(4, "sigmoid")],
        "categorical_crossentropy", {"type": "adam", "lr": 1e-3, "amsgrad": True}, loop_settings(epochs=1, l2=1e-2)),
    "target-scale-mse-adam": (  # standardized targets: the scaled batch is a kept buffer too
        [dense(64, "relu"), dense(3, "linear")],
        "mse", {"type": "adam", "lr": 1e-3}, loop_settings(epochs=1)),
    # row weights (data.weight, training.class_weight): the weighted sums use kept buffers too
    "weighted-softmax-cce-adam": (
        [dense(64, "relu"), dense(5, "softmax")],
        "categorical_crossentropy", {"type": "adam", "lr": 1e-3}, loop_settings(epochs=1)),
    "weighted-sigmoid-bce-sgd": (
        [dense(64, "tanh"), dense(1, "sigmoid")],
        "binary_crossentropy", {"type": "sgd", "lr": 0.1}, loop_settings(epochs=1)),
    "weighted-huber-mse-unfused": (
        [dense(64, "relu"), dense(2, "tanh")],
        "huber", {"type": "sgd", "lr": 0.01}, loop_settings(epochs=1)),
    "weighted-mae-softmax-cce-unfused": (
        [dense(64, "relu"), dense(3, "sigmoid")],
        "categorical_crossentropy", {"type": "sgd", "lr": 0.01}, loop_settings(epochs=1)),
    "weighted-mse": (
        [dense(64, "relu"), dense(2, "linear")],
        "mse", {"type": "sgd", "lr": 0.01}, loop_settings(epochs=1)),
    "weighted-mae": (
        [dense(64, "relu"), dense(2, "linear")],
        "mae", {"type": "sgd", "lr": 0.01}, loop_settings(epochs=1)),
    "softmax-outputs-bce-unfused": (
        [dense(64, "relu"), dense(2, "softmax")],
        "binary_crossentropy", {"type": "sgd", "lr": 0.01, "weight_decay": 0.1}, loop_settings(epochs=1)),
    # an embedded column: the lookup, the per-row gradient accumulation and L2 on the table, all in kept buffers
    "embedding-concat-adam-l2": (
        [{"type": "embedding", "name": "city_vec", "column": "city", "dim": 16},
         {"type": "concat", "name": "joined", "inputs": ["input", "city_vec"]}, dense(64, "relu"), dense(3, "softmax")],
        "categorical_crossentropy", {"type": "adam", "lr": 1e-3}, loop_settings(epochs=1, l2=1e-3)),
}
CATEGORIES = {"city": 500}  # the embedded column of the embedding cases


def training_step(case: str, dtype, seed: int = 0):
    """A closure running one training step on a batch of the given size, as `fit` does."""
    specs, loss_name, optimizer_spec, settings = CASES[case]
    rng = np.random.default_rng(seed)
    model = Model(specs, FEATURES, dtype=dtype, rng=rng, categories=CATEGORIES)
    scale = None
    if case.startswith("target-scale"):
        scale = TargetScale(np.full(model.output_width, 5e3), np.full(model.output_width, 2e3), dtype)
    objective = Objective(LOSSES.create(loss_name), model.output_activation, target_scale=scale)
    optimizer = OPTIMIZERS.get(optimizer_spec["type"]).from_config(optimizer_spec)
    params, grads = [model.flat_params], [model.flat_grads]
    batches = {}

    def batch(rows):
        if rows not in batches:
            x = rng.normal(size=(rows, FEATURES)).astype(dtype)
            width = model.output_width
            if loss_name == "categorical_crossentropy":
                y = np.eye(width, dtype=dtype)[rng.integers(0, width, rows)]
            elif loss_name == "binary_crossentropy":
                y = rng.integers(0, 2, size=(rows, width)).astype(dtype)
            else:
                y = rng.normal(size=(rows, width)).astype(dtype)
            w = rng.uniform(0.0, 2.0, size=rows).astype(dtype) if case.startswith("weighted") else None
            if case.startswith("embedding"):  # named inputs; few categories, so that rows repeat in a batch
                x = {"input": x, "city": rng.integers(0, CATEGORIES["city"] + 1, size=rows)}
            batches[rows] = x, y, w
        return batches[rows]

    def step(rows):
        x, y, w = batch(rows)
        value, _ = batch_step(model, objective, x, y, settings, w)
        if settings.training.clip_norm is not None:
            clip_global_norm(grads, settings.training.clip_norm)
        optimizer.step(params, grads)
        return value

    return step, batch


def traced_peak(step, batch, warm_up: list[int], measured: list[int]) -> int:
    """Peak traced bytes above the starting level while running `measured` steps, after `warm_up` ones."""
    for rows in warm_up:
        step(rows)
    for rows in measured:
        batch(rows)  # the data itself is not the step's allocation
    previous = np.setbufsize(256)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for rows in measured:
            step(rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        np.setbufsize(previous)
    return peak - start


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_training_steps_allocate_nothing(case, dtype):
    step, batch = training_step(case, dtype)
    peak = traced_peak(step, batch, warm_up=[256], measured=[256] * 5)
    assert peak < BOUND, f"{peak} bytes traced during five steps at batch 256"
    step, batch = training_step(case, dtype)
    large = traced_peak(step, batch, warm_up=[2048], measured=[2048] * 5)
    # a single boolean column per sample would add (2048 - 256) bytes
    assert large - peak < 512, f"traced peak grows with the batch: {peak} -> {large} bytes"


@pytest.mark.parametrize("case", ["relu-softmax-cce-adam", "batchnorm-dropout-rmsprop"])
def test_a_smaller_last_batch_reuses_the_buffers(case):
    step, batch = training_step(case, np.float32)
    peak = traced_peak(step, batch, warm_up=[256], measured=[256, 200, 256, 200, 256])
    assert peak < BOUND


def test_steps_with_reused_buffers_give_the_same_numbers():
    """Five steps with everything warm equal five steps of a fresh run from the same seed."""
    first, _ = training_step("batchnorm-dropout-rmsprop", np.float64, seed=3)
    second, _ = training_step("batchnorm-dropout-rmsprop", np.float64, seed=3)
    losses = [first(64) for _ in range(5)]
    assert [second(64) for _ in range(5)] == losses


# --- the pieces ---------------------------------------------------------------------------------------

def test_buffers_reuse_views_and_reallocate():
    buffers = Buffers()
    full = buffers.get("a", (8, 3), np.float32)
    assert buffers.get("a", (8, 3), np.float32) is full
    smaller = buffers.get("a", (5, 3), np.float32)
    assert smaller.base is full and smaller.shape == (5, 3) and smaller.flags.c_contiguous
    larger = buffers.get("a", (9, 3), np.float32)
    assert larger.shape == (9, 3) and larger.base is None and larger is not full
    assert buffers.get("a", (9, 3), np.float64).dtype == np.float64
    assert buffers.get("a", (9, 4), np.float64).shape == (9, 4)
    assert buffers.like("b", full, np.bool_).shape == (8, 3)


@pytest.mark.parametrize("spec", ["gelu", {"type": "gelu", "approximate": "tanh"}, "silu"])
def test_forward_state_is_used_only_for_the_same_arrays(spec):
    rng = np.random.default_rng(0)
    z1, z2, grad_a = rng.normal(size=(3, 6, 4))
    activation, reference = get_activation(spec), get_activation(spec)
    a1 = activation.forward(z1)
    activation.forward(z2)  # what it kept now belongs to z2
    expected = reference.backward(z1, reference.forward(z1), grad_a)
    np.testing.assert_array_equal(activation.backward(z1, a1, grad_a), expected)
    out = np.empty_like(z1)
    a1 = activation.forward(z1, out=out)
    np.testing.assert_array_equal(activation.backward(z1, a1, grad_a), expected)
