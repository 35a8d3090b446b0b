"""A fitted preprocessor as the plain arrays model.npz and the data cache keep (keys without `meta.`), and back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nncli.data.encoding import text_array

if TYPE_CHECKING:
    from nncli.data.preprocess import Preprocessor


def saved_arrays(pre: Preprocessor) -> dict[str, np.ndarray]:
    """Everything predict needs, as plain arrays (no objects): settings, columns, statistics, vocabularies.

    A categorical feature's vocabulary is `categories.<column>` (and `infrequent.<column>`), one-hot encoded or
    embedded alike; `embedded` lists the columns an embedding layer takes (row k of its table: category k - 1).
    """
    arrays = {
        "task": np.array(pre.task), "target_encoding": np.array(pre.target_encoding),
        "missing": np.array(pre.missing), "scale": np.array(pre.scale),
        "feature_names": text_array(pre.feature_names),
        "categorical": np.array([name in pre.categories for name in pre.feature_names], dtype=bool),
        "impute_values": pre.impute_values.copy(), "scale_offset": pre.offset.copy(),
        "scale_divisor": pre.divisor.copy(), "target_names": text_array(pre.target_names),
        "classes": text_array(pre.class_text), "classes_numeric": np.array(pre.classes_numeric),
        "dtype": np.array(pre.dtype.name), "na_values": text_array(pre.na_values),
        "missing_target": np.array(pre.missing_target), "unknown_category": np.array(pre.unknown_category),
        "embedded": text_array(pre.embedded),
    }
    for name, values in pre.categories.items():
        arrays[f"categories.{name}"] = text_array(values)
        if pre.infrequent[name]:
            arrays[f"infrequent.{name}"] = text_array(pre.infrequent[name])
    return arrays


def saved_settings(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The Preprocessor keywords `saved_arrays` stored (a KeyError names a missing entry); files from before
    na_values, missing_target, unknown_category, min_frequency and embeddings get those settings' defaults."""
    names = [str(name) for name in arrays["feature_names"]]
    is_categorical = np.asarray(arrays["categorical"], dtype=bool)
    categorical = [name for name, flag in zip(names, is_categorical, strict=False) if flag]
    categories = {name: [str(value) for value in arrays[f"categories.{name}"]] for name in categorical}
    infrequent = {name: [str(value) for value in arrays.get(f"infrequent.{name}", [])] for name in categorical}
    return dict(feature_names=names, categories=categories, infrequent=infrequent,
                impute_values=arrays["impute_values"], offset=arrays["scale_offset"],
                divisor=arrays["scale_divisor"], target_names=[str(name) for name in arrays["target_names"]],
                class_text=arrays["classes"], classes_numeric=bool(arrays["classes_numeric"]),
                task=str(arrays["task"]), target_encoding=str(arrays["target_encoding"]),
                missing=str(arrays["missing"]), scale=str(arrays["scale"]),
                dtype=str(arrays["dtype"]) if "dtype" in arrays else "float64",
                na_values=[str(text) for text in arrays.get("na_values", [])],
                missing_target=str(arrays.get("missing_target", "drop")),
                unknown_category=str(arrays.get("unknown_category", "error")),
                embedded=[str(name) for name in arrays.get("embedded", [])])
