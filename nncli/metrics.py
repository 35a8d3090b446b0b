"""Metric functions by name, computed from encoded targets and model outputs (as scikit-learn defines them).

Classification metrics take the target as the model trains on it: an (n, 1) column of 0/1 for a single
sigmoid unit, or one-hot (n, C); the outputs are the model's probabilities of the same shape. Regression
metrics take (n, k) targets and outputs and average uniformly over the k outputs.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from nncli.registry import Configurable, Registry


def json_ready(value: Any) -> Any:
    """A report with every number that is not finite (an undefined metric, such as r2 of one row) as None,
    so that `json.dumps(..., allow_nan=False)` gives valid JSON."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _as_columns(array: np.ndarray) -> np.ndarray:
    """`array` as 2-D: a 1-D vector becomes one column."""
    array = np.asarray(array)
    return array.reshape(-1, 1) if array.ndim == 1 else array


def class_indices(encoded: np.ndarray) -> np.ndarray:
    """Class index per row: 0/1 from a single column (threshold 0.5), else the argmax of the row."""
    encoded = _as_columns(encoded)
    if encoded.shape[1] == 1:
        return (encoded[:, 0] > 0.5).astype(np.intp)
    return np.argmax(encoded, axis=1)


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(n, C) class probabilities: a single column p becomes [1 - p, p]; wider outputs are returned as is."""
    outputs = _as_columns(outputs)
    if outputs.shape[1] == 1:
        return np.concatenate([1 - outputs, outputs], axis=1)
    return outputs


def _class_count(encoded: np.ndarray) -> int:
    return max(2, _as_columns(encoded).shape[1])


MAX_MATRIX_CLASSES = 1000
"""A report carries the confusion matrix up to this many classes (a million counts); beyond, per-class scores
only: 30000 classes would need a 7 GB matrix (and much more as JSON) for counts no one can read."""


def _labelled(targets: np.ndarray, outputs: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The number of classes, and each row's true and predicted class index."""
    return _class_count(targets), class_indices(targets), class_indices(outputs)


def _matrix(count: int, true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.bincount(true * count + predicted, minlength=count * count).reshape(count, count)


def _counts(count: int, true: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    return {"true_positive": np.bincount(true[true == predicted], minlength=count),
            "predicted": np.bincount(predicted, minlength=count),
            "support": np.bincount(true, minlength=count)}


def confusion_matrix(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """(C, C) counts: rows are the true class, columns the predicted class."""
    return _matrix(*_labelled(targets, outputs))


def class_counts(targets: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """Per class: rows predicted right (the confusion matrix's diagonal), rows predicted as the class (its column
    sums) and rows of the class (its row sums, the support), in memory linear in the classes."""
    return _counts(*_labelled(targets, outputs))


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator = numerator.astype(np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def per_class_scores(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-class precision, recall, f1 and support from `class_counts`."""
    true_positive, predicted, support = counts["true_positive"], counts["predicted"], counts["support"]
    return {
        "precision": _safe_ratio(true_positive, predicted),
        "recall": _safe_ratio(true_positive, support),
        # 2·tp / (2·tp + fp + fn), the form scikit-learn uses, equal to the harmonic mean where defined
        "f1": _safe_ratio(2 * true_positive, predicted + support),
        "support": support,
    }


def _macro(counts: dict[str, np.ndarray], score: str) -> float:
    # scikit-learn averages over the labels seen in the targets or the predictions only
    seen = (counts["predicted"] + counts["support"]) > 0
    if not seen.any():
        return float("nan")
    return float(np.mean(per_class_scores(counts)[score][seen]))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, ties sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)
    return (last_rank - (counts - 1) / 2.0)[inverse]


def binary_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties counted half, as roc_auc_score); NaN when one class is absent.

    This is the Mann-Whitney statistic: the probability that a random positive scores above a random
    negative, which equals the trapezoidal area under the ROC curve, ties included.
    """
    positives = int(np.count_nonzero(is_positive))
    negatives = is_positive.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = float(np.sum(_average_ranks(scores)[is_positive]))
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


class Metric(Configurable):
    """A named metric: `metric(targets, outputs) -> float`."""

    task: ClassVar[str]
    greater_is_better: ClassVar[bool]

    def __init__(self) -> None:
        pass

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        raise NotImplementedError


METRICS = Registry[Metric]("metric")


class ClassificationMetric(Metric):
    """Base of the metrics computed from the confusion matrix."""

    task = "classification"
    greater_is_better = True


@METRICS.register("accuracy")
class Accuracy(ClassificationMetric):
    """Fraction of rows whose predicted class is the true class."""

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return float(np.mean(class_indices(targets) == class_indices(outputs)))


@METRICS.register("precision")
class Precision(ClassificationMetric):
    """Macro-averaged precision: tp / (tp + fp) per class, 0 for a class never predicted."""

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return _macro(class_counts(targets, outputs), "precision")


@METRICS.register("recall")
class Recall(ClassificationMetric):
    """Macro-averaged recall: tp / (tp + fn) per class."""

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return _macro(class_counts(targets, outputs), "recall")


@METRICS.register("f1")
class F1(ClassificationMetric):
    """Macro-averaged F1: 2·tp / (2·tp + fp + fn) per class."""

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return _macro(class_counts(targets, outputs), "f1")


@METRICS.register("auc")
class AUC(ClassificationMetric):
    """ROC AUC: binary, or the macro average of one-vs-rest AUCs over the classes present."""

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        true = class_indices(targets)
        probabilities = class_probabilities(outputs)
        if probabilities.shape[1] == 2:
            return binary_auc(true == 1, probabilities[:, 1])
        scores = [binary_auc(true == c, probabilities[:, c]) for c in range(probabilities.shape[1])]
        defined = [score for score in scores if not np.isnan(score)]
        return float(np.mean(defined)) if defined else float("nan")


class RegressionMetric(Metric):
    """Base of the metrics on (n, k) values, averaged uniformly over the k outputs."""

    task = "regression"
    greater_is_better = False

    def per_output(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, targets: np.ndarray, outputs: np.ndarray) -> float:
        return float(np.mean(self.per_output(_as_columns(targets), _as_columns(outputs))))


def _squared_errors(targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    errors = np.subtract(outputs, targets)
    return np.square(errors, out=errors)


@METRICS.register("mse")
class MeanSquaredError(RegressionMetric):
    """Mean squared error."""

    def per_output(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        return np.mean(_squared_errors(targets, outputs), axis=0)


@METRICS.register("mae")
class MeanAbsoluteError(RegressionMetric):
    """Mean absolute error."""

    def per_output(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        errors = np.subtract(outputs, targets)
        return np.mean(np.abs(errors, out=errors), axis=0)


@METRICS.register("rmse")
class RootMeanSquaredError(RegressionMetric):
    """Root mean squared error, per output, then averaged (as root_mean_squared_error)."""

    def per_output(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean(_squared_errors(targets, outputs), axis=0))


@METRICS.register("r2")
class R2(RegressionMetric):
    """Coefficient of determination 1 - SS_res / SS_tot per output (1 for a perfect fit of a constant
    target, 0 for an imperfect one, as r2_score's force_finite); NaN with fewer than two rows."""

    greater_is_better = True

    def per_output(self, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
        if targets.shape[0] < 2:
            return np.full(targets.shape[1], np.nan)
        residual = np.sum(_squared_errors(targets, outputs), axis=0)
        total = np.sum(_squared_errors(targets, np.mean(targets, axis=0)), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - residual / total
        return np.where(total != 0, scores, (residual == 0).astype(scores.dtype))


def higher_is_better(monitor: str) -> bool:
    """Whether a larger value of `monitor` is an improvement.

    `monitor` is a metrics.csv column: `loss`, `val_loss`, a metric or `val_` + metric. True for the metrics
    that say so (accuracy, precision, recall, f1, auc, r2); losses and errors improve downwards.
    """
    name = monitor.removeprefix("val_")
    return name in METRICS and METRICS.get(name).greater_is_better


def compute_metrics(names: list[str], targets: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """`{name: value}` for each named metric."""
    return {name: METRICS.create(name)(targets, outputs) for name in names}


def classification_report(targets: np.ndarray, outputs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, macro precision/recall/f1, per-class scores and the confusion matrix, JSON-ready."""
    labelled = _labelled(targets, outputs)
    counts = _counts(*labelled)
    scores = per_class_scores(counts)
    per_class = {
        str(label): {
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "support": int(scores["support"][i]),
        }
        for i, label in enumerate(classes)
    }
    total = int(counts["support"].sum())
    small = labelled[0] <= MAX_MATRIX_CLASSES
    return {
        "accuracy": float(counts["true_positive"].sum() / total) if total else float("nan"),
        "precision": _macro(counts, "precision"),
        "recall": _macro(counts, "recall"),
        "f1": _macro(counts, "f1"),
        "per_class": per_class,
        "confusion_matrix": _matrix(*labelled).tolist() if small else None,
    }


def regression_report(targets: np.ndarray, outputs: np.ndarray, target_names: list[str]) -> dict[str, Any]:
    """mse, mae, rmse and r2 averaged over the targets, and the same per target, JSON-ready."""
    targets, outputs = _as_columns(targets), _as_columns(outputs)
    names = ["mse", "mae", "rmse", "r2"]
    per_output = {name: cast(RegressionMetric, METRICS.create(name)).per_output(targets, outputs) for name in names}
    report: dict[str, Any] = {name: float(np.mean(values)) for name, values in per_output.items()}
    report["per_target"] = {
        str(target): {name: float(per_output[name][i]) for name in names}
        for i, target in enumerate(target_names)
    }
    return report
