"""Metrics on hand-made examples (expected values worked out by hand), and against scikit-learn if present."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nncli.errors import ConfigError
from nncli.metrics import (
    METRICS,
    class_counts,
    class_indices,
    class_probabilities,
    classification_report,
    compute_metrics,
    confusion_matrix,
    regression_report,
)

CLASSIFICATION = ["accuracy", "precision", "recall", "f1", "auc"]
REGRESSION = ["mse", "mae", "rmse", "r2"]


def one_hot(indices: list[int], count: int) -> np.ndarray:
    return np.eye(count)[indices]


# true [0, 0, 0, 1, 1], predicted [0, 1, 1, 1, 1]: confusion [[1, 2], [0, 2]]
BINARY_TARGETS = np.array([[0.0], [0.0], [0.0], [1.0], [1.0]])
BINARY_OUTPUTS = np.array([[0.1], [0.6], [0.8], [0.7], [0.9]])
BINARY_EXPECTED = {
    "accuracy": 3 / 5,
    "precision": (1 / 1 + 2 / 4) / 2,
    "recall": (1 / 3 + 2 / 2) / 2,
    "f1": (2 / (1 + 3) + 4 / (4 + 2)) / 2,
    "auc": 5 / 6,  # of the 6 (positive, negative) pairs only (0.7, 0.8) is ordered wrongly
}


def test_registry_holds_the_catalogue():
    assert METRICS.names() == sorted(CLASSIFICATION + REGRESSION)
    for name in CLASSIFICATION:
        assert METRICS.get(name).task == "classification"
        assert METRICS.get(name).greater_is_better is True
    for name in REGRESSION:
        assert METRICS.get(name).task == "regression"
    assert METRICS.get("r2").greater_is_better is True
    assert [METRICS.get(name).greater_is_better for name in ["mse", "mae", "rmse"]] == [False] * 3


def test_config_round_trip_and_unknown_name():
    for name in METRICS.names():
        metric = METRICS.create(name)
        assert metric.get_config() == {"type": name}
        assert type(METRICS.get(name).from_config(metric.get_config())) is type(metric)
    with pytest.raises(ConfigError, match="did you mean 'accuracy'"):
        METRICS.get("acuracy")


def test_class_indices_and_probabilities():
    assert class_indices(np.array([[0.2], [0.5], [0.51]])).tolist() == [0, 0, 1]
    assert class_indices(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])).tolist() == [1, 0]
    probabilities = class_probabilities(np.array([[0.25], [1.0]], dtype=np.float32))
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(probabilities, [[0.75, 0.25], [0.0, 1.0]])
    wide = np.array([[0.1, 0.9]])
    assert class_probabilities(wide) is wide


def test_binary_sigmoid_metrics():
    assert compute_metrics(CLASSIFICATION, BINARY_TARGETS, BINARY_OUTPUTS) == pytest.approx(BINARY_EXPECTED)
    assert confusion_matrix(BINARY_TARGETS, BINARY_OUTPUTS).tolist() == [[1, 2], [0, 2]]


def test_binary_one_hot_matches_single_column():
    targets = np.concatenate([1 - BINARY_TARGETS, BINARY_TARGETS], axis=1)
    outputs = np.concatenate([1 - BINARY_OUTPUTS, BINARY_OUTPUTS], axis=1)
    assert compute_metrics(CLASSIFICATION, targets, outputs) == pytest.approx(BINARY_EXPECTED)


def test_float32_inputs():
    values = compute_metrics(CLASSIFICATION, BINARY_TARGETS.astype(np.float32),
                             BINARY_OUTPUTS.astype(np.float32))
    assert values == pytest.approx(BINARY_EXPECTED)
    assert all(type(value) is float for value in values.values())


def test_auc_counts_ties_as_half():
    targets = np.array([[0.0], [1.0], [0.0], [1.0]])
    outputs = np.array([[0.5], [0.5], [0.2], [0.8]])
    # pairs: (0.5, 0.5) tie -> 1/2, (0.5, 0.2), (0.8, 0.5), (0.8, 0.2) right -> 3.5 / 4
    assert METRICS.create("auc")(targets, outputs) == pytest.approx(0.875)


def test_auc_is_nan_when_one_class_is_absent():
    assert math.isnan(METRICS.create("auc")(np.array([[1.0], [1.0]]), np.array([[0.3], [0.9]])))


def test_multiclass_metrics():
    targets = one_hot([0, 1, 2, 2], 3)
    outputs = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    # predicted [0, 1, 1, 2]: confusion [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    expected = {
        "accuracy": 3 / 4,
        "precision": (1 + 1 / 2 + 1) / 3,
        "recall": (1 + 1 + 1 / 2) / 3,
        "f1": (1 + 2 / 3 + 2 / 3) / 3,
        # one-vs-rest: class 0 -> 1, class 1 -> 2/3, class 2 -> 3.5/4 (0.3 ties a negative 0.3)
        "auc": (1 + 2 / 3 + 0.875) / 3,
    }
    assert compute_metrics(CLASSIFICATION, targets, outputs) == pytest.approx(expected)


def test_zero_division_counts_as_zero():
    targets = one_hot([0, 1, 2], 3)
    outputs = one_hot([0, 0, 0], 3)
    values = compute_metrics(["precision", "recall", "f1"], targets, outputs)
    assert values == pytest.approx({"precision": (1 / 3) / 3, "recall": 1 / 3, "f1": 0.5 / 3})


def test_macro_average_skips_classes_neither_true_nor_predicted():
    targets = one_hot([0, 0, 1, 1], 4)
    outputs = one_hot([0, 1, 1, 1], 4)
    values = compute_metrics(["precision", "recall", "f1"], targets, outputs)
    assert values == pytest.approx({"precision": (1 + 2 / 3) / 2, "recall": (1 / 2 + 1) / 2,
                                    "f1": (2 / 3 + 4 / 5) / 2})


def test_regression_single_output():
    targets = np.array([[1.0], [2.0], [3.0], [4.0]])
    outputs = np.array([[1.5], [2.0], [2.0], [5.0]])
    # errors 0.5, 0, -1, 1; SS_res 2.25, SS_tot 5
    expected = {"mse": 0.5625, "mae": 0.625, "rmse": 0.75, "r2": 0.55}
    assert compute_metrics(REGRESSION, targets, outputs) == pytest.approx(expected)
    assert compute_metrics(REGRESSION, targets[:, 0], outputs[:, 0]) == pytest.approx(expected)


def test_regression_averages_uniformly_over_outputs():
    targets = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    outputs = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 2.0]])
    # first output: mse 2/3, mae 2/3, r2 1 - 2/8; second (constant target, imperfect fit): 1/3, 1/3, r2 0
    expected = {"mse": 0.5, "mae": 0.5, "rmse": (math.sqrt(2 / 3) + math.sqrt(1 / 3)) / 2, "r2": 0.375}
    assert compute_metrics(REGRESSION, targets, outputs) == pytest.approx(expected)


def test_r2_of_a_perfect_constant_fit_is_one():
    targets = np.array([[2.0], [2.0], [2.0]])
    assert METRICS.create("r2")(targets, targets.copy()) == 1.0


def test_regression_float32():
    targets = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    outputs = np.array([[1.5], [2.0], [2.0], [5.0]], dtype=np.float32)
    values = compute_metrics(REGRESSION, targets, outputs)
    assert values == pytest.approx({"mse": 0.5625, "mae": 0.625, "rmse": 0.75, "r2": 0.55}, rel=1e-6)


def test_classification_report():
    report = classification_report(BINARY_TARGETS, BINARY_OUTPUTS, ["no", "yes"])
    json.dumps(report)
    assert report["confusion_matrix"] == [[1, 2], [0, 2]]
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["precision"] == pytest.approx(0.75)
    assert report["recall"] == pytest.approx(2 / 3)
    assert report["f1"] == pytest.approx(7 / 12)
    assert report["per_class"]["no"] == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5,
                                                       "support": 3})
    assert report["per_class"]["yes"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3,
                                                        "support": 2})


def test_regression_report():
    targets = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    outputs = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 2.0]])
    report = regression_report(targets, outputs, ["a", "b"])
    json.dumps(report)
    assert report["mse"] == pytest.approx(0.5)
    assert report["r2"] == pytest.approx(0.375)
    assert report["per_target"]["a"] == pytest.approx({"mse": 2 / 3, "mae": 2 / 3, "rmse": math.sqrt(2 / 3),
                                                       "r2": 0.75})
    assert report["per_target"]["b"]["r2"] == 0.0


def test_against_scikit_learn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for count in [1, 2, 3, 5]:
        for n in [7, 40, 300]:
            true = rng.integers(0, max(count, 2), n)
            if count == 1:
                targets = true[:, None].astype(np.float64)
                # rounding makes ties in the scores
                outputs = np.round(rng.random((n, 1)), 1)
                predicted, scores = (outputs[:, 0] > 0.5).astype(int), outputs[:, 0]
            else:
                targets = one_hot(true, count)
                logits = np.round(rng.normal(size=(n, count)), 1)
                outputs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                predicted, scores = outputs.argmax(axis=1), outputs[:, 1] if count == 2 else outputs
            expected = {
                "accuracy": sk.accuracy_score(true, predicted),
                "precision": sk.precision_score(true, predicted, average="macro", zero_division=0),
                "recall": sk.recall_score(true, predicted, average="macro", zero_division=0),
                "f1": sk.f1_score(true, predicted, average="macro", zero_division=0),
            }
            if len(np.unique(true)) == max(count, 2):
                expected["auc"] = sk.roc_auc_score(true, scores, multi_class="ovr")
            values = compute_metrics(list(expected), targets, outputs)
            for name, value in expected.items():
                assert values[name] == pytest.approx(value, abs=1e-12), (name, count, n)
            confusion = sk.confusion_matrix(true, predicted, labels=list(range(max(count, 2))))
            assert confusion_matrix(targets, outputs).tolist() == confusion.tolist()
    for k in [1, 3]:
        targets = rng.normal(size=(50, k))
        outputs = targets + rng.normal(size=(50, k))
        expected = {
            "mse": sk.mean_squared_error(targets, outputs),
            "mae": sk.mean_absolute_error(targets, outputs),
            "rmse": sk.root_mean_squared_error(targets, outputs),
            "r2": sk.r2_score(targets, outputs),
        }
        values = compute_metrics(REGRESSION, targets, outputs)
        for name, value in expected.items():
            assert values[name] == pytest.approx(value, abs=1e-12), (name, k)


def test_class_counts_are_the_confusion_matrix_diagonal_and_sums():
    rng = np.random.default_rng(3)
    for count in (2, 3, 7):
        targets, outputs = one_hot(rng.integers(0, count, 200), count), rng.random((200, count))
        matrix, counts = confusion_matrix(targets, outputs), class_counts(targets, outputs)
        assert counts["true_positive"].tolist() == np.diagonal(matrix).tolist()
        assert counts["predicted"].tolist() == matrix.sum(axis=0).tolist()
        assert counts["support"].tolist() == matrix.sum(axis=1).tolist()


def test_a_report_over_many_classes_never_builds_the_matrix(monkeypatch):
    """20000 classes, 1000 rows (one-hot: 80 MB): scores from counts; no 20000² matrix (3.2 GB), none in the report."""
    import nncli.metrics as metrics

    classes, rows = 20000, 1000
    true = np.arange(rows) % classes
    predicted = np.where(np.arange(rows) % 3 == 0, (true + 1) % classes, true)
    targets = np.zeros((rows, classes), dtype=np.float32)  # one-hot, as eval gives them
    targets[np.arange(rows), true] = 1
    outputs = np.zeros_like(targets)
    outputs[np.arange(rows), predicted] = 1
    monkeypatch.setattr(metrics, "_matrix", lambda *args: pytest.fail("built the dense matrix"))
    report = classification_report(targets, outputs, [f"c{i}" for i in range(classes)])
    assert report["confusion_matrix"] is None
    assert report["accuracy"] == pytest.approx(np.mean(true == predicted))
    assert len(report["per_class"]) == classes and report["per_class"]["c0"]["support"] == 1
    assert report["per_class"]["c2"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report["per_class"]["c0"]["recall"] == 0.0
    assert math.isfinite(compute_metrics(["precision", "recall", "f1"], targets, outputs)["f1"])
