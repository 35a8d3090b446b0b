"""One training epoch per call, for each engine: nncli, PyTorch, scikit-learn and the bare matrix products.

Every factory returns a zero-argument callable that runs `epochs` epochs (default one) when called, so the
caller can interleave engines and time each call. Models are built once; state carries over between calls,
as in a real run. The optional engines raise `Missing` when their package is not importable.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import pairwise

import numpy as np

Epoch = Callable[[], None]


class Missing(Exception):
    """An optional engine's package is not installed."""


def dense_specs(widths: tuple[int, ...], hidden: str, output: str) -> list[dict]:
    """nncli layer specs for a chain of dense layers."""
    return [{"type": "dense", "units": units, "activation": hidden if i < len(widths) - 2 else output}
            for i, units in enumerate(widths[1:])]


def nncli_epochs(features: np.ndarray, targets: np.ndarray, widths: tuple[int, ...], *, hidden: str,
                 output: str, loss: str, optimizer: dict, batch_size: int, epochs: int = 1,
                 seed: int = 0) -> Epoch:
    """nncli's own loop (`nncli.train.fit`), advanced `epochs` epochs per call."""
    from nncli.config.schema import Regularization, Training
    from nncli.nn.losses import LOSSES
    from nncli.nn.model import Model
    from nncli.nn.objective import Objective
    from nncli.nn.optimizers import OPTIMIZERS
    from nncli.nn.schedules import SCHEDULES
    from nncli.split import Split
    from nncli.train import Settings, TrainingState, fit

    rng = np.random.default_rng(seed)
    model = Model(dense_specs(widths, hidden, output), widths[0], dtype=features.dtype, rng=rng)
    objective = Objective(LOSSES.create(loss), model.output_activation)
    loop = fit(model, objective, OPTIMIZERS.get(optimizer["type"]).from_config(optimizer),
               SCHEDULES.get("constant").from_config({"type": "constant"}), Split(features, targets), None,
               Settings(Training(epochs=10**9, batch_size=batch_size, shuffle=True), Regularization()), rng,
               TrainingState(),
               base_lr=optimizer["lr"])

    def run() -> None:
        for _ in range(epochs):
            next(loop)
    return run


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_epochs(features: np.ndarray, targets: np.ndarray, widths: tuple[int, ...], *, hidden: str,
                 output: str, loss: str, optimizer: dict, batch_size: int, epochs: int = 1,
                 seed: int = 0, loader: bool = True) -> Epoch:
    """A PyTorch training loop; `loader` picks which one.

    `loader=True`: the textbook loop of PyTorch's tutorials, a `DataLoader` over a `TensorDataset` with
    `shuffle=True`. `loader=False`: a hand-tuned loop without the DataLoader, tensors sharing the numpy arrays,
    a `randperm` and `index_select` batches. Both call `zero_grad`, forward, `backward`, `step` and
    `loss.item()` per batch (the epoch's mean loss, as nncli and scikit-learn keep it).
    `loss` is "cross_entropy" (logits, integer `targets`) or "mse". `optimizer` is {"type": "adam"|"sgd", ...}.
    """
    if not torch_available():
        raise Missing("torch")
    import torch

    torch.manual_seed(seed)
    activations = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "linear": torch.nn.Identity}
    layers: list[torch.nn.Module] = []
    for i, (fan_in, units) in enumerate(pairwise(widths)):
        layers.append(torch.nn.Linear(fan_in, units))
        layers.append(activations[hidden if i < len(widths) - 2 else output]())
    dtype = torch.float64 if features.dtype == np.float64 else torch.float32
    model = torch.nn.Sequential(*layers).to(dtype)
    x = torch.from_numpy(features)
    y = torch.from_numpy(targets)
    criterion = torch.nn.CrossEntropyLoss() if loss == "cross_entropy" else torch.nn.MSELoss()
    settings = {key: value for key, value in optimizer.items() if key != "type"}
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer["type"]](model.parameters(), **settings)
    rows = x.shape[0]

    def run_loader() -> None:
        for _ in range(epochs):
            total = 0.0
            for batch_x, batch_y in batches:
                opt.zero_grad()
                batch_loss = criterion(model(batch_x), batch_y)
                batch_loss.backward()
                opt.step()
                total += batch_loss.item()

    def run_hand_tuned() -> None:
        for _ in range(epochs):
            order = torch.randperm(rows)
            total = 0.0
            for start in range(0, rows, batch_size):
                index = order[start:start + batch_size]
                opt.zero_grad(set_to_none=True)
                batch_loss = criterion(model(x.index_select(0, index)), y.index_select(0, index))
                batch_loss.backward()
                opt.step()
                total += batch_loss.item()

    if loader:
        batches = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size,
                                              shuffle=True)
        return run_loader
    return run_hand_tuned


def sklearn_epochs(features: np.ndarray, labels: np.ndarray, widths: tuple[int, ...], *, batch_size: int,
                   lr: float, seed: int = 0) -> Epoch:
    """scikit-learn's MLPClassifier (relu, adam, no L2): one `partial_fit` call is one shuffled epoch."""
    try:
        import sklearn
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise Missing("scikit-learn") from None
    model = MLPClassifier(hidden_layer_sizes=widths[1:-1], activation="relu", solver="adam", alpha=0.0,
                          batch_size=batch_size, learning_rate_init=lr, shuffle=True, random_state=seed)
    classes = np.arange(widths[-1])
    first = [True]

    def run() -> None:
        # assume_finite skips the per-call finiteness scan of X, which a single fit(max_iter=n) does once
        with warnings.catch_warnings(), sklearn.config_context(assume_finite=True):
            warnings.simplefilter("ignore")
            if first[0]:
                model.partial_fit(features, labels, classes=classes)
                first[0] = False
            else:
                model.partial_fit(features, labels)
    return run


def matmul_epochs(features: np.ndarray, widths: tuple[int, ...], *, batch_size: int, seed: int = 0) -> Epoch:
    """The matrix products of one epoch alone, into preallocated buffers: the BLAS limit of a training epoch.

    Per batch: 3 forward products, and 5 backward ones (weight gradients of all three layers, input gradients
    of the upper two; the first layer's input gradient is not needed). Batches are contiguous views.
    """
    rng = np.random.default_rng(seed)
    dtype = features.dtype
    weights = [rng.standard_normal((a, b)).astype(dtype) * 0.05 for a, b in pairwise(widths)]
    grad_weights = [np.empty_like(w) for w in weights]
    acts = [np.empty((batch_size, units), dtype=dtype) for units in widths[1:]]
    grads = [np.empty((batch_size, units), dtype=dtype) for units in widths[1:]]
    grads[-1][...] = rng.standard_normal(grads[-1].shape) * 0.01
    rows = features.shape[0]
    layers = len(weights)

    def run() -> None:
        for start in range(0, rows, batch_size):
            x = features[start:start + batch_size]
            n = x.shape[0]
            inputs = [x] + [a[:n] for a in acts[:-1]]
            for i in range(layers):
                np.matmul(inputs[i], weights[i], out=acts[i][:n])
            for i in range(layers - 1, -1, -1):
                np.matmul(inputs[i].T, grads[i][:n], out=grad_weights[i])
                if i > 0:
                    np.matmul(grads[i][:n], weights[i].T, out=grads[i - 1][:n])
    return run


def epoch_flops(rows: int, widths: tuple[int, ...]) -> float:
    """Floating-point operations of the 3 + 5 products of one epoch (2 per multiply-add)."""
    products = [a * b for a, b in pairwise(widths)]
    return 2.0 * rows * (sum(products) * 3 - products[0])
