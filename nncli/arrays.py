"""Training on arrays you prepared yourself: the core without CSV files or a run directory.

    config = config_from_dict({"layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                          {"type": "dense", "units": 1, "activation": "sigmoid"}],
                               "training": {"epochs": 50, "batch_size": 16}})   # no data section needed
    model, history = fit_arrays(config, features, targets)        # targets shaped (rows, outputs)
    probabilities = model.predict(features)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nncli.build import build_model, training_objects
from nncli.config import Config
from nncli.memory import check_network_fits
from nncli.nn.model import Model
from nncli.split import Split
from nncli.train import TrainingState, fit, quiet_divergence


def fit_arrays(config: Config, features: np.ndarray, targets: np.ndarray,
               valid: tuple[np.ndarray, np.ndarray] | None = None,
               on_epoch: Callable[[dict], None] | None = None) -> tuple[Model, list[dict]]:
    """Build `config`'s network for these features and train it; returns the model and its epoch records.

    Targets are laid out as the loss expects: (rows, 1) 0/1 for binary_crossentropy, one-hot for
    categorical_crossentropy, values for regression. The config's `data` section is not read.
    """
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(config.seed)
    train = Split(np.ascontiguousarray(features, dtype=dtype), np.ascontiguousarray(targets, dtype=dtype))
    held_out = None if valid is None else Split(np.ascontiguousarray(valid[0], dtype=dtype),
                                                np.ascontiguousarray(valid[1], dtype=dtype))
    check_network_fits(config, train.features.shape[1], train.rows)
    model = build_model(config.layer_specs(), train.features.shape[1], dtype, rng)
    objects = training_objects(config, model)
    history = []
    with quiet_divergence():
        for record in fit(model, objects.objective, objects.optimizer, objects.schedule, train, held_out,
                          objects.settings, rng, TrainingState(), base_lr=objects.base_lr):
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
    return model, history
