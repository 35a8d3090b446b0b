"""The embedding layer against PyTorch: nn.Embedding + Linear trained side by side, SGD and Adam, with and
without L2, to 1e-7 in float64. Skipped when torch is not installed (CI installs it for this file)."""

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
from tests.test_embedding import SPECS

torch = pytest.importorskip("torch")


def torch_run(model, x, index, y, spec, l2, batch_size, epochs):
    """The same network in torch: nn.Embedding + Linear layers, the same start, unshuffled batches."""
    embedding = torch.nn.Embedding(model.categories["city"] + 1, 3, dtype=torch.float64)
    hidden = torch.nn.Linear(5, 4, dtype=torch.float64)
    out = torch.nn.Linear(4, 1, dtype=torch.float64)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor(model.layers[0].params["weight"]))
        for linear, layer in ((hidden, model.layers[2]), (out, model.layers[3])):
            linear.weight.copy_(torch.tensor(layer.params["weight"].T))
            linear.bias.copy_(torch.tensor(layer.params["bias"]))
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    optimizer = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[spec["type"]](
        [embedding.weight, hidden.weight, hidden.bias, out.weight, out.bias], **kwargs)
    tx, tindex, ty = torch.tensor(x), torch.tensor(index), torch.tensor(y)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            h = torch.cat([tx[rows], embedding(tindex[rows])], dim=1)
            logits = out(torch.tanh(hidden(h)))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, ty[rows])
            if l2:
                weights = (embedding.weight, hidden.weight, out.weight)
                loss = loss + l2 / 2 * sum((w ** 2).sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return [embedding.weight, hidden.weight.T, hidden.bias, out.weight.T, out.bias]


@pytest.mark.parametrize("spec,l2", [({"type": "sgd", "lr": 0.1, "momentum": 0.9}, 0.0),
                                     ({"type": "sgd", "lr": 0.05}, 0.01),
                                     ({"type": "adam", "lr": 0.01}, 0.0),
                                     ({"type": "adam", "lr": 0.01, "weight_decay": 0.01}, 0.01)])
def test_training_matches_torch_embedding_and_linear(spec, l2):
    rng = np.random.default_rng(7)
    rows, categories = 41, 6
    x = rng.normal(size=(rows, 2))
    index = rng.integers(0, categories + 1, size=rows).astype(np.intp)  # repeats in every batch
    y = rng.integers(0, 2, size=(rows, 1)).astype(float)
    model = Model(SPECS, 2, dtype=np.float64, rng=rng, categories={"city": categories})
    expected = torch_run(model, x, index, y, spec, l2, batch_size=8, epochs=4)
    settings = loop_settings(epochs=4, batch_size=8, shuffle=False, l2=l2)
    objective = Objective(LOSSES.create("binary_crossentropy"), model.output_activation)
    optimizer = OPTIMIZERS.get(spec["type"]).from_config(spec)
    split = Split(x, y, indices={"city": index})
    list(fit(model, objective, optimizer, build_schedule({"type": "constant"}), split, None, settings,
             np.random.default_rng(0), TrainingState(), base_lr=spec["lr"]))
    for (_, param, _), want in zip(model.parameters, expected, strict=True):
        np.testing.assert_allclose(param, want.detach().numpy(), rtol=0, atol=1e-7)
