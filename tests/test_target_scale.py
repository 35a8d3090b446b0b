"""data.target_scale: the network learns standardized regression targets; metrics, eval and predict stay in the
target's own units; the statistics are saved in model.npz and checked when it is loaded."""

import numpy as np
import pandas as pd
import pytest

from nncli import api
from nncli.config import config_from_dict
from nncli.errors import ConfigError, ModelFileError
from nncli.modelfile import load_model
from nncli.nn.losses import LOSSES
from nncli.nn.targetscale import TargetScale, scaled_loss
from nncli.runs import write_arrays


def prices(rows: int, seed: int) -> pd.DataFrame:
    """House-price-like targets in the thousands from four standard-normal inputs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    price = 5000 + 1500 * x[:, 0] - 800 * x[:, 1] + 400 * x[:, 0] * x[:, 2] + rng.normal(0, 100, rows)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "d": x[:, 3], "price": price})


@pytest.fixture(scope="module")
def price_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prices")
    prices(800, 0).to_csv(folder / "train.csv", index=False)
    prices(200, 1).to_csv(folder / "test.csv", index=False)
    return folder


def price_config(folder, **data):
    return config_from_dict({
        "name": "prices", "data": {"train": "train.csv", "test": "test.csv", "target": "price", **data},
        "layers": [{"type": "dense", "units": 32, "activation": "relu"}, {"type": "dense", "units": 1}],
        "loss": "mse", "metrics": ["rmse", "r2"], "optimizer": {"type": "adam", "lr": 0.01},
        "training": {"epochs": 30, "batch_size": 32}}, base_dir=folder)


@pytest.fixture(scope="module")
def scaled_run(price_files, tmp_path_factory):
    return api.train(price_config(price_files), tmp_path_factory.mktemp("runs") / "scaled")


def test_large_targets_converge_with_scaling_and_stall_without(price_files, scaled_run, tmp_path):
    unscaled = api.train(price_config(price_files, target_scale="none"), tmp_path / "unscaled")
    assert scaled_run.summary["test"]["r2"] > 0.95
    assert unscaled.summary["test"]["r2"] < 0.0  # still far from the targets' mean of 5000


def test_loss_is_standardized_and_metrics_are_in_own_units(scaled_run):
    final = scaled_run.summary["final"]
    assert final["val_loss"] < 0.1  # on the standardized scale (the targets' variance is about 1)
    # rmse in price units: the noise alone is 100, the spread of the prices about 1700
    assert 100 < final["val_rmse"] < 500
    assert 50 < final["rmse"] < 500  # the training metrics too


def test_predict_and_eval_are_in_own_units_and_the_statistics_are_saved(price_files, scaled_run):
    run_dir = scaled_run.run_dir
    arrays = np.load(run_dir / "model.npz", allow_pickle=False)
    train = pd.read_csv(price_files / "train.csv")
    # the statistics of the training split (80% of the file): close to the whole file's
    assert arrays["meta.target_offset"].shape == (1,)
    assert arrays["meta.target_offset"][0] == pytest.approx(train["price"].mean(), rel=0.02)
    assert arrays["meta.target_divisor"][0] == pytest.approx(train["price"].std(), rel=0.05)
    predicted = api.predict(run_dir, price_files / "test.csv")
    test = pd.read_csv(price_files / "test.csv")
    assert np.corrcoef(predicted["price"], test["price"])[0, 1] > 0.97
    assert abs(predicted["price"].mean() - test["price"].mean()) < 200
    report = api.evaluate_model(load_model(run_dir), price_files / "test.csv")
    assert report["r2"] == pytest.approx(scaled_run.summary["test"]["r2"], rel=1e-5)
    assert report["loss"] == pytest.approx(scaled_run.summary["test"]["loss"], rel=1e-5)
    assert report["loss"] < 0.1


def test_auto_is_standard_for_regression_and_none_for_classification(price_files):
    assert price_config(price_files).data.target_scale == "standard"
    classifier = config_from_dict({"data": {"train": "t.csv", "target": "y"},
                                   "layers": [{"type": "dense", "units": 1, "activation": "sigmoid"}]})
    assert classifier.data.target_scale == "none"


def test_standard_scaling_of_class_targets_is_refused():
    with pytest.raises(ConfigError, match="target_scale: standard scales regression targets"):
        config_from_dict({"data": {"train": "t.csv", "target": "y", "target_scale": "standard"},
                          "layers": [{"type": "dense", "units": 1, "activation": "sigmoid"}]})


@pytest.mark.parametrize(("change", "message"), [
    ({"meta.target_divisor": np.array([0.0])}, "meta.target_divisor: is not positive"),
    ({"meta.target_offset": np.array([np.nan])}, "meta.target_offset: is not finite"),
    ({"meta.target_offset": np.array([1.0, 2.0])}, "expected 1 floats"),
    ({"meta.target_divisor": None}, "meta.target_divisor: is missing"),
])
def test_a_damaged_target_scale_is_a_model_file_error(scaled_run, tmp_path, change, message):
    arrays = dict(np.load(scaled_run.run_dir / "model.npz", allow_pickle=False))
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    write_arrays(tmp_path / "model.npz", arrays)
    with pytest.raises(ModelFileError, match=message):
        load_model(tmp_path / "model.npz")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_map_round_trips_in_place(dtype):
    rng = np.random.default_rng(0)
    targets = rng.normal([3000.0, -2.0], [800.0, 0.01], size=(50, 2)).astype(dtype)
    scale = TargetScale.fit(targets, dtype)
    standardized = scale.standardize(targets)
    assert standardized.dtype == dtype
    np.testing.assert_allclose(standardized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(standardized.std(axis=0), 1, rtol=1e-4)
    back = scale.restore(standardized.copy(), out=None)
    np.testing.assert_allclose(back, targets, rtol=1e-5)
    constant = TargetScale.fit(np.full((4, 1), 7.0), dtype)
    assert constant.divisor[0] == 1.0
    loss = LOSSES.create("mse")
    assert scaled_loss(loss, scale, targets, targets) == 0.0
