"""Row weights for training: a row's sample weight (`data.weight`) times its class's weight (`training.class_weight`).

`balanced` gives class c the weight `rows / (classes · rows of c)` over the training split (scikit-learn's
rule); a mapping names classes by their label (as written in the CSV, `1` and `1.0` being the same class), and a
class it leaves out keeps weight 1. The loss of a batch is then `Σ wᵢ·lᵢ / Σ wᵢ` (see nncli.nn.losses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from nncli.data import Datasets, Preprocessor
from nncli.data.cells import canonical_text
from nncli.errors import ConfigError, format_values, quoted
from nncli.split import Split


def class_indices(targets: np.ndarray) -> np.ndarray:
    """Each row's class position from class targets laid out as a 0/1 column or one-hot rows."""
    if targets.shape[1] == 1:
        return (targets[:, 0] > 0.5).astype(np.intp)
    return np.argmax(targets, axis=1)


def class_weights(setting: str | Mapping[str, float], preprocessor: Preprocessor,
                  train_targets: np.ndarray) -> np.ndarray:
    """One weight per class (in `preprocessor.classes` order) for `training.class_weight`."""
    classes = len(preprocessor.classes)
    if setting == "balanced":
        counts = np.bincount(class_indices(train_targets), minlength=classes).astype(np.float64)
        with np.errstate(divide="ignore"):  # a class without training rows weighs nothing anyway
            return np.where(counts > 0, len(train_targets) / (classes * np.maximum(counts, 1)), 0.0)
    keys = canonical_text(np.array([str(label) for label in preprocessor.class_text], dtype=str))
    position_of = {str(key): position for position, key in enumerate(keys)}  # one lookup per named class
    weights = np.ones(classes)
    named = list(setting.items()) if isinstance(setting, Mapping) else []
    named_keys = canonical_text(np.array([str(label) for label, _ in named], dtype=str)) if named else \
        np.array([], dtype=str)
    for (label, weight), key in zip(named, map(str, named_keys), strict=True):
        if key not in position_of:
            known = format_values(list(preprocessor.class_text))
            shown = quoted(label) if isinstance(label, str) else repr(label)
            raise ConfigError(f"names class {shown}, which the training data does not have (classes: "
                              f"{known})", field="training.class_weight")
        weights[position_of[key]] = float(weight)
    return weights


def row_weights(split: Split, per_class: np.ndarray | None) -> np.ndarray | None:
    """A split's row weights: its sample weights times its rows' class weights (None when neither is set)."""
    if per_class is None:
        return split.weights
    weights = per_class[class_indices(split.targets)].astype(split.features.dtype)
    return weights if split.weights is None else weights * split.weights


def weigh_datasets(datasets: Datasets, class_weight: Any) -> Datasets:
    """The datasets with the training and validation splits' `weights` the row weights their losses use (the
    test split stays unweighted, as `nncli eval` scores a model)."""
    if class_weight is None:
        return datasets
    per_class = class_weights(class_weight, datasets.preprocessor, datasets.train.targets)
    valid = datasets.valid
    return replace(datasets, train=replace(datasets.train, weights=row_weights(datasets.train, per_class)),
                   valid=None if valid is None else replace(valid, weights=row_weights(valid, per_class)))
