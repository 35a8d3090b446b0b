"""Weighted losses: Σ wᵢ·lᵢ / Σ wᵢ for every loss, gradients by central differences, and training against
PyTorch's weighted losses (CrossEntropyLoss(weight=...), BCEWithLogitsLoss with per-element weights)."""

import numpy as np
import pytest

from nncli.nn.activations import get_activation
from nncli.nn.losses import LOSSES
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import OPTIMIZERS
from nncli.nn.schedules import SCHEDULES
from nncli.split import Split
from nncli.train import TrainingState, fit
from tests.gradcheck import assert_gradients_close, numerical_gradient
from tests.settings import loop_settings
from tests.test_losses import SPEC_IDS, SPECS, _kink_free, batch, make_loss, predictions
from tests.torch_mirror import forward, torch_parameters


def row_losses(spec, pred, target):
    """Each row's unweighted loss, from the loss itself on that row alone."""
    loss = make_loss(spec)
    return np.array([loss.forward(pred[i:i + 1], target[i:i + 1])[0] for i in range(len(pred))])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_weighted_value_and_gradient(spec, seed):
    rng = np.random.default_rng(seed)
    rows, outputs = int(rng.integers(2, 7)), int(rng.integers(2, 5))
    logits, target = batch(spec, rng, rows, outputs)
    pred = _kink_free(spec, predictions(spec, logits), target)
    weight = rng.uniform(0.0, 3.0, size=rows)
    weight[0] = 0.0  # a row that counts for nothing
    loss = make_loss(spec)
    value, analytic = loss.forward(pred, target, weight=weight)
    assert value == pytest.approx(np.dot(weight, row_losses(spec, pred, target)) / weight.sum(), rel=1e-12)
    numeric = numerical_gradient(lambda: loss.forward(pred, target, weight=weight)[0], pred, eps=1e-7)
    assert_gradients_close(analytic, numeric, rtol=1e-5, atol=1e-7)
    assert not analytic[0].any()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
def test_weighted_fused_gradient(name, seed):
    rng = np.random.default_rng(seed)
    logits, target = batch(name, rng, 6, 3)
    weight = rng.uniform(0.1, 3.0, size=6)
    loss = make_loss(name)
    value, analytic = loss.from_logits(logits, target, weight=weight)
    unfused = Objective(make_loss(name), get_activation(loss.fused_activation), fuse=False)
    unfused_value, unfused_grad = unfused.value_and_grad(logits, target, weight)
    assert value == pytest.approx(unfused_value, rel=1e-10)
    np.testing.assert_allclose(analytic, unfused_grad, rtol=1e-9, atol=1e-12)
    numeric = numerical_gradient(lambda: loss.from_logits(logits, target, weight=weight)[0], logits)
    assert_gradients_close(analytic, numeric)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_unit_weights_equal_the_unweighted_loss_and_zero_weights_give_zero(spec):
    rng = np.random.default_rng(5)
    logits, target = batch(spec, rng, 5, 3)
    pred = _kink_free(spec, predictions(spec, logits), target)
    loss = make_loss(spec)
    value, grad = loss.forward(pred, target)
    weighted_value, weighted_grad = loss.forward(pred, target, weight=np.full(5, 2.5))
    assert weighted_value == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(weighted_grad, grad, rtol=1e-12)
    zero_value, zero_grad = loss.forward(pred, target, weight=np.zeros(5))
    assert zero_value == 0.0 and not zero_grad.any()


# --- training against PyTorch ---------------------------------------------------------------------------

EPOCHS, BATCH = 4, 8


def torch_training(model, loss_fn, x, y, lr):
    """SGD on a gelu network with torch's loss `loss_fn(logits, y_batch, rows)`: losses and parameters."""
    torch = pytest.importorskip("torch")
    weights, biases, params = torch_parameters(torch, model)
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    tx, ty = torch.tensor(x), torch.tensor(y)
    losses = []
    for _ in range(EPOCHS):
        batch_losses = []
        for start in range(0, len(x), BATCH):
            h = forward(torch, tx[start:start + BATCH], weights, biases)
            loss = loss_fn(h, ty[start:start + BATCH], slice(start, start + BATCH))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        losses.append(sum(batch_losses) / len(batch_losses))
    return losses, [p.detach().numpy() for p in params]


def nncli_training(model, loss_name, x, y, row_weight, lr):
    optimizer = OPTIMIZERS.create("sgd", lr=lr, momentum=0.9)
    settings = loop_settings(epochs=EPOCHS, batch_size=BATCH, shuffle=False)
    objective = Objective(LOSSES.create(loss_name), model.output_activation)
    records = list(fit(model, objective, optimizer, SCHEDULES.create("constant"), Split(x, y, weights=row_weight),
                       None, settings, np.random.default_rng(0), TrainingState(), base_lr=lr))
    return [record["loss"] for record in records]


def parity_model(width, rng):
    model = Model([{"type": "dense", "units": 5, "activation": "gelu"},
                   {"type": "dense", "units": width, "activation": "softmax" if width > 1 else "sigmoid"}],
                  3, dtype=np.float64, rng=rng)
    for layer in model.layers:
        layer.params["bias"][:] = rng.normal(scale=0.1, size=layer.params["bias"].shape)
    return model


def test_class_weighted_softmax_crossentropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(37, 3))
    labels = rng.integers(0, 3, size=37)
    y = np.eye(3)[labels]
    per_class = np.array([0.5, 2.0, 3.5])
    model = parity_model(3, rng)
    criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor(per_class))
    expected_losses, expected_params = torch_training(
        model, lambda logits, target, rows: criterion(logits, target.argmax(dim=1)), x, y, lr=0.1)
    losses = nncli_training(model, "categorical_crossentropy", x, y, per_class[labels], lr=0.1)
    np.testing.assert_allclose(losses, expected_losses, rtol=0, atol=1e-7)
    for (_, param, _), expected in zip(model.parameters, expected_params, strict=False):
        np.testing.assert_allclose(param, expected, rtol=0, atol=1e-7)


def test_sample_weighted_binary_crossentropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(37, 3))
    y = rng.integers(0, 2, size=(37, 1)).astype(float)
    row_weight = rng.uniform(0.0, 4.0, size=37)
    model = parity_model(1, rng)
    tw = torch.tensor(row_weight).reshape(-1, 1)

    def weighted_bce(logits, target, rows):
        elementwise = torch.nn.BCEWithLogitsLoss(weight=tw[rows], reduction="sum")(logits, target)
        return elementwise / tw[rows].sum()

    expected_losses, expected_params = torch_training(model, weighted_bce, x, y, lr=0.2)
    losses = nncli_training(model, "binary_crossentropy", x, y, row_weight, lr=0.2)
    np.testing.assert_allclose(losses, expected_losses, rtol=0, atol=1e-7)
    for (_, param, _), expected in zip(model.parameters, expected_params, strict=False):
        np.testing.assert_allclose(param, expected, rtol=0, atol=1e-7)
