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
from nncli.runs import from_json_array, json_array, read_arrays, write_arrays
from nncli.train import TrainingState

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


def read_checkpoint(path: Path, display: str | None = None) -> dict[str, np.ndarray]:
    return read_arrays(path, display)


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
