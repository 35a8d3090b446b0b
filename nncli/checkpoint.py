"""checkpoint.npz: the full training state, so that --resume continues bit-identically.

Bit-identical holds on one machine with one numpy and BLAS: the BLAS thread count (OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS) and the CPU can change the last bits of matrix products, so a run resumed
elsewhere or with another thread count goes on correctly, but not bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nncli.errors import ModelFileError
from nncli.nn.errors import CoreError
from nncli.nn.model import Model
from nncli.nn.optimizers import Optimizer
from nncli.nn.schedules import Schedule
from nncli.npz import NpzFile
from nncli.runs import from_json_array, json_array, write_arrays
from nncli.train import TrainingState

_HEADER_KEYS = ("config", "run.data_fingerprint", "run.wall_seconds")
_HEADER_MAX_BYTES = 64 << 20
_SCALARS = ("epoch", "batch", "loss_sum", "epoch_seconds", "wait", "stopped_early")


def save_checkpoint(path: Path, *, model: Model, optimizer: Optimizer, schedule: Schedule,
                    state: TrainingState, rng: np.random.Generator, config: dict[str, Any],
                    data_fingerprint: str = "", wall_seconds: float = 0.0) -> None:
    """Write weights, optimizer and schedule state, the loop's state and the generator's state atomically.

    `data_fingerprint` identifies the training data (a resume refuses other data); `wall_seconds` is the
    training time spent so far, over all sessions.
    """
    arrays: dict[str, np.ndarray] = {f"model.{key}": value for key, value in model.state_dict().items()}
    arrays.update({f"optimizer.{key}": value for key, value in optimizer.state_dict().items()})
    arrays.update({f"schedule.{key}": value for key, value in schedule.state_dict().items()})
    for key in _SCALARS:
        arrays[f"state.{key}"] = np.array(getattr(state, key))
    if state.order is not None:
        arrays["state.order"] = state.order
    if state.train_outputs is not None:
        arrays["state.train_outputs"] = state.train_outputs
    if state.best_weights is not None:
        arrays.update({f"best.{key}": value for key, value in state.best_weights.items()})
    arrays["state.best"] = json_array({"value": state.best_value, "epoch": state.best_epoch})
    arrays["state.history"] = json_array(state.history)
    arrays["state.rng"] = json_array(rng.bit_generator.state)
    arrays["config"] = json_array(config)
    arrays["run.data_fingerprint"] = np.array(data_fingerprint)
    arrays["run.wall_seconds"] = np.array(float(wall_seconds))
    write_arrays(path, arrays)


def read_checkpoint_header(path: Path, display: str | None = None) -> dict[str, np.ndarray]:
    """The small arrays that say which run a checkpoint belongs to (its config, data fingerprint, wall time),
    read before the rest so that a changed config is reported as such, not as mismatched shapes."""
    with NpzFile(path, display) as archive:
        header = {}
        for key in _HEADER_KEYS:
            member = archive.members.get(key)
            if member is None:
                continue
            if member.shape != () or member.nbytes > _HEADER_MAX_BYTES:
                raise archive.error(key, f"is an array of shape {member.shape} ({member.nbytes} bytes); expected "
                                         "a single value")
            header[key] = archive.read(key)
    return header


def read_checkpoint(path: Path, *, model: Model, optimizer: Optimizer, schedule: Schedule,
                    display: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of checkpoint.npz, each one's declared shape checked against the run's freshly built model,
    optimizer and schedule before its data is read (a damaged or foreign file cannot exhaust memory)."""
    with NpzFile(path, display) as archive:
        for key, member in archive.members.items():
            shape, floats = _expected(key, model, optimizer, schedule)
            if shape is None:
                raise archive.error(key, "is not part of an nncli checkpoint of this config")
            if len(member.shape) != len(shape) or any(want not in (None, got)
                                                      for got, want in zip(member.shape, shape, strict=False)):
                raise archive.error(key, f"has shape {member.shape}; the run's network and optimizer need "
                                         f"{_shape_text(shape)}")
            if floats and member.dtype.kind != "f":
                raise archive.error(key, f"holds {member.dtype} values; expected floats")
        arrays = archive.read_all()
        for key, value in arrays.items():
            if key.startswith(("model.", "best.")) and not np.isfinite(value).all():
                raise archive.error(key, "holds non-finite weights (NaN or infinity); nncli never saves those")
    return arrays


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return str(tuple("rows" if size is None else size for size in shape)).replace("'", "")


def _expected(key: str, model: Model, optimizer: Optimizer,
              schedule: Schedule) -> tuple[tuple[int | None, ...] | None, bool]:
    """The shape a checkpoint array must have (None: a dimension of any size), and whether it holds floats.

    (None, False) for a key no checkpoint of this run holds.
    """
    section, _, name = key.partition(".")
    if section in ("model", "best"):
        weights = model.state_dict()
        return (weights[name].shape if name in weights else None), True
    if section == "optimizer":
        if name in ("step", "lr"):
            return (), False
        state, _, index = name.rpartition(".")
        shapes = [model.flat_params.shape]  # `fit` steps the optimizer over the one flat array of all parameters
        if state in optimizer.state_names() and index.isdigit() and int(index) < len(shapes):
            return shapes[int(index)], True
        return None, False
    if section == "schedule":
        return (() if name in schedule.state_dict() else None), False
    if key in ("state.order", "state.train_outputs"):
        return ((None,) if key == "state.order" else (None, model.output_width)), False
    scalars = {f"state.{name}" for name in (*_SCALARS, "best", "history", "rng")}
    return (() if key in scalars.union(_HEADER_KEYS) else None), False


def checkpoint_config(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The resolved config the checkpointed run was trained with."""
    return from_json_array(arrays["config"])


def checkpoint_fingerprint(arrays: dict[str, np.ndarray]) -> str | None:
    """The fingerprint of the data the run was trained on (None when not recorded)."""
    value = str(arrays["run.data_fingerprint"]) if "run.data_fingerprint" in arrays else ""
    return value or None


def checkpoint_wall_seconds(arrays: dict[str, np.ndarray]) -> float:
    """Training time spent before this checkpoint, over all sessions."""
    return float(arrays["run.wall_seconds"]) if "run.wall_seconds" in arrays else 0.0


def restore_checkpoint(arrays: dict[str, np.ndarray], *, model: Model, optimizer: Optimizer,
                       schedule: Schedule, rng: np.random.Generator, source: str) -> TrainingState:
    """Load a checkpoint into freshly built objects and return the loop's state.

    A checkpoint with missing or malformed entries is a ModelFileError naming `source`.
    """
    try:
        return _restore(arrays, model, optimizer, schedule, rng)
    except ModelFileError as error:
        error.file = error.file or source
        raise
    except CoreError as error:  # the weights' or the schedule's state does not fit
        raise ModelFileError(error.message, file=source) from None
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise ModelFileError(f"is not a complete nncli checkpoint ({type(error).__name__}: {error})",
                             file=source) from None


def _restore(arrays: dict[str, np.ndarray], model: Model, optimizer: Optimizer, schedule: Schedule,
             rng: np.random.Generator) -> TrainingState:
    def section(prefix: str) -> dict[str, np.ndarray]:
        return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}

    model.load_state_dict(section("model."))
    optimizer.load_state_dict(section("optimizer."))
    schedule.load_state_dict(section("schedule."))
    best = from_json_array(arrays["state.best"])
    state = TrainingState(
        epoch=int(arrays["state.epoch"]), batch=int(arrays["state.batch"]),
        order=arrays.get("state.order"), loss_sum=float(arrays["state.loss_sum"]),
        epoch_seconds=float(arrays["state.epoch_seconds"]), train_outputs=arrays.get("state.train_outputs"),
        history=from_json_array(arrays["state.history"]), best_value=best["value"], best_epoch=best["epoch"],
        wait=int(arrays["state.wait"]), best_weights=section("best.") or None,
        stopped_early=bool(arrays["state.stopped_early"]))
    rng.bit_generator.state = from_json_array(arrays["state.rng"])
    return state
