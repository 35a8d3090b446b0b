"""The array-level Python API."""

import numpy as np

from nncli.arrays import fit_arrays
from nncli.config import config_from_dict


def xor_config(**training):
    return config_from_dict({
        "seed": 0, "task": "classification", "dtype": "float64",
        "layers": [{"type": "dense", "units": 3, "activation": "tanh"},
                   {"type": "dense", "units": 1, "activation": "tanh"}],
        "loss": "mse", "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
        "training": {"epochs": 300, "batch_size": 4, "shuffle": False, **training}})


def test_fit_arrays_learns_xor_and_is_deterministic():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    model, history = fit_arrays(xor_config(), x, y)
    assert len(history) == 300 and history[-1]["accuracy"] == 1.0
    np.testing.assert_array_equal(model.predict(x) > 0.5, y > 0.5)
    again, _ = fit_arrays(xor_config(), x, y)
    for (_, a, _), (_, b, _) in zip(model.parameters, again.parameters, strict=False):
        np.testing.assert_array_equal(a, b)
    assert model.dtype == np.float64


def test_fit_arrays_with_validation_and_early_stopping():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(float)
    config = xor_config(epochs=200, batch_size=16, early_stopping={"monitor": "val_loss", "patience": 3})
    _model, history = fit_arrays(config, x[:150], y[:150], valid=(x[150:], y[150:]))
    assert "val_loss" in history[0] and len(history) < 200


def test_a_diverging_fit_arrays_raises_without_leaking_warnings():
    import warnings

    import pytest

    from nncli.errors import TrainingError

    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float) * 1e3
    y = np.array([[0], [1], [1], [0]], dtype=float)
    config = config_from_dict({
        "task": "regression",
        "layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 1}],
        "loss": "mse", "optimizer": {"type": "sgd", "lr": 10.0}, "training": {"epochs": 50, "batch_size": 4}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the call instead of the TrainingError
        with pytest.raises(TrainingError, match=r"training diverged: the loss is (inf|nan) at epoch"):
            fit_arrays(config, x, y)
    assert np.geterr()["over"] == "warn"  # nothing left switched off


def test_a_network_that_does_not_fit_is_the_config_error_users_see():
    import pytest

    from nncli.errors import ConfigError

    config = config_from_dict({
        "layers": [{"type": "dense", "name": "a", "units": 4}, {"type": "dense", "name": "b", "inputs": ["input"],
                                                                "units": 3},
                   {"type": "add", "inputs": ["a", "b"]}], "loss": "mse"})
    with pytest.raises(ConfigError) as error:
        fit_arrays(config, np.zeros((4, 2)), np.zeros((4, 3)))
    assert str(error.value) == "layers[2]: add needs inputs of equal width, got widths [4, 3]"


def test_batches_per_epoch_counts_the_smaller_last_batch():
    from nncli.train import batches_per_epoch

    assert [batches_per_epoch(rows, 32) for rows in (1, 32, 33, 64, 65)] == [1, 1, 2, 2, 3]
    assert batches_per_epoch(10, 100) == 1
