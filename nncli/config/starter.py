"""The commented config `nncli init` writes for a table: settings chosen from its profile, trainable as it is."""

from __future__ import annotations

import os
from pathlib import Path

from nncli.config.yamlio import FlowList, dump_yaml
from nncli.data.profile import Profile

LEFT_OUT_KINDS = ("constant", "id-like", "index-like")
MIN_ROWS_TO_VALIDATE = 20  # fewer rows: holding a fifth out leaves too little (or nothing) on either side


def hidden_units(rows: int) -> int:
    """The first hidden layer's width: wider for more rows, kept small where a small table would overfit."""
    return 16 if rows < 1000 else 32 if rows < 20000 else 64


def starter_config(profile: Profile, data: Path, config_path: Path) -> str:
    """YAML text of a config for the table at `data`, whose target `profile` names, to be saved at `config_path`."""
    target = profile.target
    if target is None:
        raise ValueError("the profile has no target")
    left_out = [column.name for column in profile.columns
                if column.name != target.name and column.kind in LEFT_OUT_KINDS]
    features = [column.name for column in profile.columns if column.name != target.name and
                column.name not in left_out]
    missing_features = any(column.missing for column in profile.columns if column.name in features)
    classes = len(target.classes)
    units = hidden_units(profile.rows)
    lines = [f"# nncli config for {data.name} ({profile.rows} rows, {len(profile.columns)} columns), "
             "written by `nncli init`.",
             f"# Train it: nncli train {config_path.name}    Reference: nncli schema, nncli list", ""]
    lines += [f"name: {_scalar(config_path.stem)}", "seed: 0                        # drives init, shuffling, "
              "dropout and the validation split", ""]
    lines += ["data:", f"  train: {_scalar(_relative(data, config_path.parent))}",
              f"  target: {_scalar(target.name)}"]
    validate = profile.rows >= MIN_ROWS_TO_VALIDATE
    if validate:
        lines.append("  valid: 0.2                     # held out for validation"
                     + (" (stratified by class)" if target.task == "classification" else ""))
    else:
        lines.append(f"  valid: null                    # {profile.rows} rows are too few to hold some out")
    if left_out:
        lines.append("  # left out: " + ", ".join(f"{name} ({_kind_of(profile, name)})" for name in left_out))
        lines.append(f"  features: {dump_yaml(FlowList(features)).strip()}")
    if target.missing:
        lines.append(f"  missing_target: drop           # {target.missing} rows have no target: skipped and "
                     "counted")
    markers = list(dict.fromkeys(marker for column in profile.columns if column.name in features
                                 for marker in column.markers))
    if markers:
        entry = f"  na_values: {dump_yaml(FlowList(markers)).strip()} "
        lines.append(f"{entry.ljust(33)}# texts in columns of numbers, read as missing")
    missing_features = missing_features or bool(markers)
    if missing_features:
        lines.append("  missing: impute                # missing numbers get the training mean, categories "
                     "their own category")
    lines += ["  scale: standard                # features standardized with training statistics", ""]
    lines += ["layers:", f"  - {{type: dense, units: {units}, activation: relu}}",
              f"  - {{type: dense, units: {max(units // 2, 4)}, activation: relu}}"]
    if target.task == "classification" and classes <= 2:
        lines += ["  - {type: dense, units: 1, activation: sigmoid}   # the probability of the last class",
                  "loss: binary_crossentropy", "metrics: [accuracy, f1]"]
    elif target.task == "classification":
        lines += [f"  - {{type: dense, units: {classes}, activation: softmax}}   # one unit per class",
                  "loss: categorical_crossentropy", "metrics: [accuracy, f1]"]
    else:
        lines += ["  - {type: dense, units: 1}", "loss: mse", "metrics: [mae, r2]"]
    batch = 32 if profile.rows < 20000 else 128
    lines += ["", "optimizer: {type: adam, lr: 0.001}", "", "training:", "  epochs: 200",
              f"  batch_size: {batch}"]
    if validate:
        lines.append("  early_stopping: {monitor: val_loss, patience: 15, restore_best: true}   # stops when "
                     "val_loss stalls")
    lines.append("")
    return "\n".join(lines)


def _kind_of(profile: Profile, name: str) -> str:
    return next(column.kind for column in profile.columns if column.name == name)


def _relative(path: Path, start: Path) -> str:
    """`path` as the config will write it: relative to the config's folder when they are near, else absolute."""
    try:
        relative = Path(os.path.relpath(path.resolve(), start.resolve()))
    except ValueError:  # another drive
        return str(path.resolve())
    return relative.as_posix() if relative.parts[:3].count("..") < 3 else str(path.resolve())


def _scalar(value: str) -> str:
    return dump_yaml(value).strip().removesuffix("...").strip()
