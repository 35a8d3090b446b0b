"""The preprocessing a model file stores under `meta.`, checked against itself and the network before use.

`Preprocessor.to_arrays` writes these arrays; a file from elsewhere may hold anything under those names. Every
entry is checked for its type, length and values, and the whole for consistency with the network: the
features must encode to the network's input width, the classes or targets must match its output units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np

from nncli.data import Preprocessor
from nncli.data.cells import canonical_text
from nncli.data.encoding import UNKNOWN_CATEGORY
from nncli.data.preprocess import ENCODINGS, MISSING, MISSING_TARGET, SCALES
from nncli.errors import ModelFileError
from nncli.nn.model import Model
from nncli.nn.targetscale import TargetScale

ErrorFactory = Callable[[str, str], ModelFileError]  # (key without "meta.", message) -> the error to raise
OUTPUT_WIDTH = {"binary": "1 unit (the last class's probability)", "onehot": "one unit per class",
                "values": "one unit per target"}


class _Meta:
    """Typed access to the meta arrays: each getter checks its entry or raises the file's error."""

    def __init__(self, arrays: Mapping[str, np.ndarray], error: ErrorFactory):
        self.arrays, self.error = arrays, error

    def get(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise self.error(key, "is missing: the file is not an nncli model or is damaged")
        return self.arrays[key]

    def choice(self, key: str, valid: tuple[str, ...], default: str | None = None) -> str:
        if default is not None and key not in self.arrays:  # a file from before the setting existed
            return default
        value = self.get(key)
        if value.dtype.kind != "U" or value.shape != () or str(value) not in valid:
            raise self.error(key, f"is {value!r}; expected one of {', '.join(valid)}")
        return str(value)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if value.dtype.kind != "b" or value.shape != ():
            raise self.error(key, f"is {value!r}; expected True or False")
        return bool(value)

    def names(self, key: str, what: str, allow_empty: bool = False, optional: bool = False) -> list[str]:
        if optional and key not in self.arrays:
            return []
        value = self.get(key)
        if value.dtype.kind != "U" or value.ndim != 1:
            raise self.error(key, f"is a {value.dtype} array of shape {value.shape}; expected a list of {what}")
        names = [str(name) for name in value]
        if not names and not allow_empty:
            raise self.error(key, f"is empty; expected at least one of the {what}")
        if len(set(names)) < len(names):
            repeated = next(name for name, count in Counter(names).items() if count > 1)
            raise self.error(key, f"repeats {repeated!r}; the {what} are distinct")
        return names

    def numbers(self, key: str, length: int, kinds: str = "f") -> np.ndarray:
        value = self.get(key)
        if value.dtype.kind not in kinds or value.shape != (length,):
            raise self.error(key, f"is a {value.dtype} array of shape {value.shape}; expected {length} "
                                  f"{'floats' if kinds == 'f' else 'flags'}, one per feature")
        return value


def check_preprocessing(arrays: Mapping[str, np.ndarray], model: Model, task: str,
                        error: ErrorFactory) -> Preprocessor:
    """The preprocessor of a model file's meta arrays (keys without "meta."), after checking every entry."""
    meta = _Meta(arrays, error)
    saved_task = meta.choice("task", tuple(ENCODINGS))
    if saved_task != task:
        raise error("task", f"is {saved_task!r} but meta.config says {task!r}")
    encoding = meta.choice("target_encoding", ENCODINGS[task])
    missing = meta.choice("missing", MISSING)
    meta.choice("scale", SCALES)
    names = meta.names("feature_names", "feature names")
    categorical = meta.numbers("categorical", len(names), kinds="b")
    numeric = ~categorical
    for key in ("scale_offset", "scale_divisor") + (("impute_values",) if missing == "impute" else ()):
        values = meta.numbers(key, len(names))[numeric]
        if not np.isfinite(values).all():
            raise error(key, f"is not finite for feature {_first(names, numeric, ~np.isfinite(values))!r}")
    if missing != "impute":
        meta.numbers("impute_values", len(names))
    divisor = meta.get("scale_divisor")[numeric]
    if (divisor == 0).any():
        raise error("scale_divisor", f"is 0 for feature {_first(names, numeric, divisor == 0)!r}; scaling divides "
                                     "by it")
    categorical_names = [name for name, flag in zip(names, categorical, strict=False) if flag]
    _check_vocabularies(meta, categorical_names)
    for name in meta.names("embedded", "embedded columns", allow_empty=True, optional=True):
        if name not in categorical_names:
            raise error("embedded", f"names {name!r}, which is not a categorical feature of meta.feature_names")
    meta.names("na_values", "missing-cell texts", allow_empty=True, optional=True)
    meta.choice("missing_target", MISSING_TARGET, default="drop")
    meta.choice("unknown_category", UNKNOWN_CATEGORY, default="error")
    _check_targets(meta, task, encoding)
    try:
        preprocessor = Preprocessor.from_arrays(arrays)
    except Exception as error_:  # checked above; anything left is still the file's fault
        message = " ".join(f"{type(error_).__name__}: {error_}".split())
        raise error("feature_names", f"the preprocessing cannot be rebuilt ({message})") from None
    _check_fit(preprocessor, model, error)
    return preprocessor


TARGET_SCALE_KEYS = ("target_offset", "target_divisor")


def check_target_scale(arrays: Mapping[str, np.ndarray], model: Model, task: str,
                       error: ErrorFactory) -> TargetScale | None:
    """The target standardization a model file stores (None for a file without one), after checking it."""
    present = [key for key in TARGET_SCALE_KEYS if key in arrays]
    if not present:
        return None
    if task != "regression":
        raise error(present[0], "is a target scaling, but the model is a classifier; only regression targets are "
                                "scaled")
    width = model.output_width
    for key in TARGET_SCALE_KEYS:
        if key not in arrays:
            raise error(key, f"is missing, but meta.{present[0]} is there: target scaling needs both")
        value = arrays[key]
        if value.dtype.kind != "f" or value.shape != (width,):
            raise error(key, f"is a {value.dtype} array of shape {value.shape}; expected {width} floats, one per "
                             "output unit")
        if not np.isfinite(value).all():
            raise error(key, "is not finite; the outputs are mapped back to the target's units with it")
    if not (arrays["target_divisor"] > 0).all():
        raise error("target_divisor", "is not positive for every output; targets are divided by it")
    return TargetScale(arrays["target_offset"], arrays["target_divisor"], model.dtype)


def _check_vocabularies(meta: _Meta, categorical: list[str]) -> None:
    """Each categorical feature's categories and infrequent ones (optional): distinct, together not empty."""
    for name in categorical:
        infrequent = meta.names(f"infrequent.{name}", f"infrequent categories of {name!r}", optional=True)
        categories = meta.names(f"categories.{name}", f"categories of {name!r}", allow_empty=bool(infrequent))
        both = set(categories) & set(infrequent)
        if both:
            raise meta.error(f"infrequent.{name}", f"repeats {sorted(both)[0]!r} of meta.categories.{name}; a "
                                                   "category is frequent or infrequent, not both")
    for key in meta.arrays:
        prefix = next((prefix for prefix in ("categories.", "infrequent.") if key.startswith(prefix)), None)
        if prefix is not None and key[len(prefix):] not in categorical:
            raise meta.error(key, f"is a vocabulary for {key[len(prefix):]!r}, which is not a categorical feature "
                                  "of meta.feature_names")


def _check_targets(meta: _Meta, task: str, encoding: str) -> None:
    targets = meta.names("target_names", "target columns")
    classes = meta.names("classes", "class labels", allow_empty=True)
    numeric = meta.flag("classes_numeric")
    if task == "regression":
        if classes:
            raise meta.error("classes", "lists classes but the model is a regression model; expected none")
        return
    if len(targets) != 1:
        raise meta.error("target_names", f"lists {len(targets)} targets; a classifier has one")
    needed = "exactly 2" if encoding == "binary" else "at least 2"
    if len(classes) < 2 or (encoding == "binary" and len(classes) != 2):
        raise meta.error("classes", f"lists {len(classes)} classes; a {encoding} classifier needs {needed}")
    if numeric:
        try:
            numbers = np.array(classes, dtype=np.float64)
        except ValueError:
            numbers = np.array([np.nan])
        if not np.isfinite(numbers).all():
            raise meta.error("classes", "holds a label that is not a finite number, but meta.classes_numeric is "
                                        "True")
    keys = list(canonical_text(np.array(classes, dtype=str)))
    if len(set(keys)) < len(keys):
        repeated = next(key for key, count in Counter(keys).items() if count > 1)
        raise meta.error("classes", f"holds two labels of the same value ({repeated}); the classes are distinct")


def _check_fit(preprocessor: Preprocessor, model: Model, error: ErrorFactory) -> None:
    """The features must encode to the network's input width, and the output must fit the classes or targets."""
    if preprocessor.input_width != model.input_width:
        raise error("feature_names", f"the {len(preprocessor.feature_names)} features encode to "
                                     f"{preprocessor.input_width} inputs, but the network (meta.input_width) takes "
                                     f"{model.input_width}")
    if preprocessor.embedding_categories() != model.categories:
        raise error("embedded", f"the vocabularies give the embedded columns {preprocessor.embedding_categories()} "
                                f"categories, but the network's embeddings take {model.categories}")
    encoding = preprocessor.target_encoding
    width = {"binary": 1, "onehot": len(preprocessor.classes), "values": len(preprocessor.target_names)}[encoding]
    if model.output_width != width:
        key = "target_names" if encoding == "values" else "classes"
        count = len(preprocessor.target_names) if encoding == "values" else len(preprocessor.classes)
        raise error(key, f"lists {count}, which needs an output layer of {OUTPUT_WIDTH[encoding]} ({width}), but "
                         f"the network's output layer has {model.output_width} units")


def _first(names: list[str], mask: np.ndarray, bad: np.ndarray) -> str:
    """The name of the first feature among those in `mask` where `bad` holds."""
    return [name for name, flag in zip(names, mask, strict=False) if flag][int(np.argmax(bad))]
