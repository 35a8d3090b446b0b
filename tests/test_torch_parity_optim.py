"""Optimizers and schedules against torch.optim: 20 float64 steps, and lr sequences, to 1e-12."""

import math

import numpy as np
import pytest

from nncli.build import build_schedule
from nncli.config.typed import create, validated
from nncli.nn.optimizers import OPTIMIZERS

torch = pytest.importorskip("torch")

TORCH_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                    "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}

OPTIMIZER_GRID = [
    ("sgd", {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "amsgrad": True}),
    ("adam", {"lr": 0.01, "betas": (0.3, 0.5), "weight_decay": 0.05, "amsgrad": True}),  # lerp's other form
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.0}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.001, "alpha": 0.9, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.001, "centered": True}),
    ("rmsprop", {"lr": 0.001, "momentum": 0.9}),
    ("rmsprop", {"lr": 0.001, "alpha": 0.3, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-6}),
]
LR_CHANGES = {5: 0.5, 12: 0.25}  # step -> factor on the lr, as a schedule changes it between epochs


@pytest.mark.parametrize("name, hyperparameters", OPTIMIZER_GRID, ids=[f"{n}-{h}" for n, h in OPTIMIZER_GRID])
def test_optimizer_matches_torch(name, hyperparameters):
    rng = np.random.default_rng(len(str(hyperparameters)))
    params = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    torch_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = create(OPTIMIZERS, validated(OPTIMIZERS, {"type": name, **hyperparameters}))
    theirs = TORCH_OPTIMIZERS[name](torch_params, foreach=False, **hyperparameters)
    base_lr = ours.lr
    for step in range(20):
        if step in LR_CHANGES:
            ours.lr = base_lr * LR_CHANGES[step]
            theirs.param_groups[0]["lr"] = base_lr * LR_CHANGES[step]
        grads = [rng.standard_normal(p.shape) for p in params]
        ours.step(params, grads)
        for param, grad in zip(torch_params, grads, strict=False):
            param.grad = torch.tensor(grad)
        theirs.step()
        for param, torch_param in zip(params, torch_params, strict=False):
            np.testing.assert_allclose(param, torch_param.detach().numpy(), rtol=1e-12, atol=1e-12)


def torch_lrs(make_scheduler, base_lr, epochs, metrics=None):
    """The lr of each epoch under a torch scheduler stepped once per epoch."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    used = []
    for epoch in range(epochs):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(*([] if metrics is None else [metrics[epoch]]))
    return used


def our_lrs(spec, base_lr, epochs, metrics=None, key="val_loss"):
    schedule = build_schedule(spec)
    used = []
    for epoch in range(epochs):
        used.append(schedule.lr_at(epoch, base_lr, epochs))
        schedule.observe(epoch, {"loss": 0.0, key: metrics[epoch]} if metrics is not None else {"loss": 0.0})
    return used


SCHEDULE_GRID = [
    ({"type": "constant"}, lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0)),
    ({"type": "exponential", "decay": 0.07},
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-0.07))),
    ({"type": "step", "step_size": 7, "gamma": 0.3}, lambda o: torch.optim.lr_scheduler.StepLR(o, 7, gamma=0.3)),
    ({"type": "cosine"}, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40)),
    ({"type": "cosine", "min_lr": 0.01},
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=0.01)),
    ({"type": "inverse_time", "decay": 0.2},
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + 0.2 * e))),
]


@pytest.mark.parametrize("spec, make_scheduler", SCHEDULE_GRID, ids=[str(s) for s, _ in SCHEDULE_GRID])
def test_schedule_matches_torch(spec, make_scheduler):
    np.testing.assert_allclose(our_lrs(spec, 0.3, 40), torch_lrs(make_scheduler, 0.3, 40), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("patience, factor, min_lr, threshold", [
    (1, 0.5, 0.0, 1e-4), (3, 0.1, 0.0, 1e-4), (2, 0.5, 0.02, 1e-2), (10, 0.1, 0.0, 1e-4), (4, 0.7, 1e-3, 0.0),
])
@pytest.mark.parametrize("mode, key", [("min", "val_loss"), ("max", "val_accuracy")])
def test_plateau_matches_torch(patience, factor, min_lr, threshold, mode, key):
    rng = np.random.default_rng(patience)
    # a noisy decrease (or increase) that flattens out, then ties, so improvements and plateaus both occur
    trend = np.maximum(1.0 - 0.05 * np.arange(60), 0.3) + 0.05 * rng.random(60)
    trend[45:] = trend[44]
    metrics = [float(v) for v in (trend if mode == "min" else 1.0 - trend)]
    spec = {"type": "plateau", "monitor": key, "factor": factor, "patience": patience, "min_lr": min_lr,
            "threshold": threshold}
    # Keras counting (reduce when wait >= patience) is torch's with patience - 1
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode=mode, factor=factor, patience=patience - 1, threshold=threshold, threshold_mode="rel",
        min_lr=min_lr), 0.5, 60, metrics)
    ours = our_lrs(spec, 0.5, 60, metrics, key=key)
    assert len(set(ours)) > 1  # the grid really reduces
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_plateau_skips_negligible_reductions_as_torch():
    # from 1e-6 by factor 0.1: 1e-7, 1e-8, then 1e-9 would change the lr by less than torch's eps 1e-8
    metrics = [1.0] * 8
    theirs = torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.1, patience=0),
                       1e-6, 8, metrics)
    ours = our_lrs({"type": "plateau", "factor": 0.1, "patience": 1}, 1e-6, 8, metrics)
    assert min(ours) == pytest.approx(1e-8, rel=1e-12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
