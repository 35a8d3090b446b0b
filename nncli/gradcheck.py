"""Gradient checks in float64: analytic gradients against central differences.

`numerical_gradient` is the one central-difference routine (the core's tests use it too); `check_config` runs it
through a config's whole network and loss on a batch of its data, for `nncli gradcheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EPS = 1e-6
TOLERANCE = 1e-5
BATCH_ROWS = 32
MAX_ENTRIES = 40  # entries checked per parameter; larger ones are checked on a seeded subset
# Central differences in float64 are good to about 1e-10 absolutely (roundoff ~ 1e-16 / EPS): relative errors
# are taken against at least this gradient size, so a gradient that is nearly zero is not a false alarm.
GRADIENT_FLOOR = 1e-4


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = EPS,
                       entries: np.ndarray | None = None) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place (restored afterwards).

    With `entries` (flat indices), only those are computed; the others stay 0.
    """
    assert x.dtype == np.float64, "gradient checks run in float64"
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat_x, x), "x must be contiguous: it is perturbed in place"
    for i in range(flat_x.size) if entries is None else entries:
        original = flat_x[i]
        flat_x[i] = original + eps
        f_plus = float(f())
        flat_x[i] = original - eps
        f_minus = float(f())
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = GRADIENT_FLOOR) -> np.ndarray:
    """|analytic - numeric| / max(|analytic|, |numeric|, floor), elementwise."""
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return np.abs(analytic - numeric) / scale


@dataclass(frozen=True)
class ParameterCheck:
    """One parameter's result: its shape, how many entries were checked, and the largest relative error."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_error: float

    @property
    def passed(self) -> bool:
        return bool(self.max_error < TOLERANCE)


def check_config(config_path: str | Path, overrides: Sequence[str] = (), rows: int = BATCH_ROWS,
                 entries: int = MAX_ENTRIES) -> list[ParameterCheck]:
    """Every parameter of the config's network, checked in float64 on its first `rows` training rows.

    Dropout is off (its rate set to 0, so the loss is a deterministic function of the weights); batchnorm runs
    in training mode (batch statistics), as in training. The loss is the config's objective, without penalties.
    """
    from nncli.build import build_model, load_data, training_objects
    from nncli.config import load_config

    config = load_config(Path(config_path), list(overrides)).model_copy(update={"dtype": "float64"})
    rng = np.random.default_rng(config.seed)
    datasets = load_data(config, rng)
    specs = [spec | {"rate": 0.0} if spec["type"] == "dropout" else spec for spec in config.layer_specs()]
    model = build_model(specs, datasets.preprocessor.input_width, np.float64, rng,
                        datasets.preprocessor.embedding_categories())
    objective = training_objects(config, model).objective
    x = {name: np.ascontiguousarray(array[:rows], dtype=np.float64 if array.dtype.kind == "f" else array.dtype)
         for name, array in datasets.train.inputs().items()}
    y = np.ascontiguousarray(datasets.train.targets[:rows], dtype=np.float64)

    def loss() -> float:
        return objective.value_and_grad(model.forward(x, training=True), y)[0]

    logits = model.forward(x, training=True)
    model.backward(objective.value_and_grad(logits, y)[1])
    analytic = {name: grad.copy() for name, _, grad in model.parameters}
    choose = np.random.default_rng(config.seed)
    results = []
    for name, param, _ in model.parameters:
        picked = np.arange(param.size) if param.size <= entries else np.sort(choose.choice(param.size, entries,
                                                                                            replace=False))
        numeric = numerical_gradient(loss, param, entries=picked).reshape(-1)[picked]
        errors = relative_error(analytic[name].reshape(-1)[picked], numeric)
        results.append(ParameterCheck(name, tuple(param.shape), len(picked), float(errors.max(initial=0.0))))
    return results
