"""Five epochs of training against torch.optim: same weights, same unshuffled batches, float64, within 1e-7.

Skipped where torch is not installed (it is never a dependency of nncli): `pip install torch==2.13.0`.
"""

import itertools
import math

import numpy as np
import pytest

from nncli.build import build_schedule
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.split import Split
from nncli.train import TrainingState, fit
from tests.settings import loop_settings
from tests.torch_mirror import forward, torch_parameters

torch = pytest.importorskip("torch")

EPOCHS = 5
OPTIMIZERS_UNDER_TEST = [
    {"type": "sgd", "lr": 0.05},
    {"type": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
    {"type": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"type": "adam", "lr": 0.01},
    {"type": "adam", "lr": 0.01, "weight_decay": 0.01, "amsgrad": True},
    {"type": "adamw", "lr": 0.01, "weight_decay": 0.1},
    {"type": "rmsprop", "lr": 0.005, "momentum": 0.5, "centered": True},
    {"type": "rmsprop", "lr": 0.005, "weight_decay": 0.01},
    {"type": "adagrad", "lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01},
]
SCHEDULES_UNDER_TEST = [
    {"type": "constant"}, {"type": "exponential", "decay": 0.1}, {"type": "step", "step_size": 2, "gamma": 0.5},
    {"type": "cosine", "min_lr": 0.001}, {"type": "inverse_time", "decay": 0.3},
    {"type": "plateau", "monitor": "loss", "factor": 0.5, "patience": 1, "threshold": 0.5},
]
LOSSES_UNDER_TEST = [("mse", "linear", 2), ("mae", "linear", 2), ("huber", "tanh", 2),
                     ("binary_crossentropy", "sigmoid", 1), ("categorical_crossentropy", "softmax", 3)]
TORCH_ACTIVATIONS = {"linear": lambda z: z, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                     "softmax": lambda z: torch.softmax(z, dim=1), "gelu": torch.nn.functional.gelu}


def torch_optimizer(spec, params):
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
           "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[spec["type"]]
    return cls(params, **kwargs)


def torch_scheduler(spec, optimizer):
    kind = spec["type"]
    if kind == "constant":
        return None
    if kind == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=math.exp(-spec["decay"]))
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec["step_size"], gamma=spec["gamma"])
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS, eta_min=spec["min_lr"])
    if kind == "inverse_time":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1 / (1 + spec["decay"] * e))
    # nncli reduces once `patience` epochs have not improved; torch once more than `patience` have not
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=spec["factor"],
                                                      patience=spec["patience"] - 1, threshold=spec["threshold"])


def torch_loss(name, logits, activation, target):
    if name == "binary_crossentropy":
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    if name == "categorical_crossentropy":
        return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    output = TORCH_ACTIVATIONS[activation](logits)
    return {"mse": torch.nn.functional.mse_loss, "mae": torch.nn.functional.l1_loss,
            "huber": torch.nn.functional.huber_loss}[name](output, target)


def run_torch(model, loss_name, activation, x, y, optimizer_spec, schedule_spec, l2, clip, batch_size):
    weights, biases, params = torch_parameters(torch, model)
    optimizer = torch_optimizer(optimizer_spec, params)
    scheduler = torch_scheduler(schedule_spec, optimizer)
    tx, ty = torch.tensor(x), torch.tensor(y)
    losses = []
    for _epoch in range(EPOCHS):
        batch_losses = []
        for start in range(0, len(x), batch_size):
            h = forward(torch, tx[start:start + batch_size], weights, biases)
            loss = torch_loss(loss_name, h, activation, ty[start:start + batch_size])
            if l2:
                loss = loss + l2 / 2 * sum((w ** 2).sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            batch_losses.append(loss.item())
        losses.append(sum(batch_losses) / len(batch_losses))
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(losses[-1])
        elif scheduler is not None:
            scheduler.step()
    return losses, [p.detach().numpy() for p in params]


def data_for(loss_name, width, rng, rows=37):
    x = rng.normal(size=(rows, 3))
    if loss_name == "categorical_crossentropy":
        return x, np.eye(width)[rng.integers(0, width, size=rows)]
    if loss_name == "binary_crossentropy":
        return x, rng.integers(0, 2, size=(rows, 1)).astype(float)
    return x, rng.normal(size=(rows, width))


COMBINATIONS = list(itertools.product(range(len(OPTIMIZERS_UNDER_TEST)), range(len(SCHEDULES_UNDER_TEST))))


@pytest.mark.parametrize("optimizer_index,schedule_index", COMBINATIONS)
def test_five_epochs_match_torch(optimizer_index, schedule_index):
    # every optimizer with every schedule; losses, L2 and clipping rotate through the grid
    loss_name, activation, width = LOSSES_UNDER_TEST[(optimizer_index + schedule_index) % len(LOSSES_UNDER_TEST)]
    l2 = (0.0, 0.01)[optimizer_index % 2]
    clip = (None, 0.5, None)[schedule_index % 3]
    optimizer_spec = OPTIMIZERS_UNDER_TEST[optimizer_index]
    schedule_spec = SCHEDULES_UNDER_TEST[schedule_index]
    rng = np.random.default_rng(optimizer_index * 10 + schedule_index)
    x, y = data_for(loss_name, width, rng)
    specs = [{"type": "dense", "units": 5, "activation": "gelu"},
             {"type": "dense", "units": width, "activation": activation}]
    model = Model(specs, 3, dtype=np.float64, rng=rng)
    for layer in model.layers:  # non-zero biases so that every parameter is exercised
        layer.params["bias"][:] = rng.normal(scale=0.1, size=layer.params["bias"].shape)
    expected_losses, expected_params = run_torch(model, loss_name, activation, x, y, optimizer_spec,
                                                 schedule_spec, l2, clip, batch_size=8)
    optimizer = OPTIMIZERS.get(optimizer_spec["type"]).from_config(optimizer_spec)
    schedule = build_schedule(schedule_spec)
    settings = loop_settings(epochs=EPOCHS, batch_size=8, shuffle=False, clip_norm=clip, l2=l2)
    objective = Objective(LOSSES.create(loss_name), model.output_activation)
    records = list(fit(model, objective, optimizer, schedule, Split(x, y), None, settings,
                       np.random.default_rng(0), TrainingState(), base_lr=optimizer_spec["lr"]))
    np.testing.assert_allclose([r["loss"] for r in records], expected_losses, rtol=0, atol=1e-7)
    for (_, param, _), expected in zip(model.parameters, expected_params, strict=False):
        np.testing.assert_allclose(param, expected, rtol=0, atol=1e-7)
