"""checkpoint.npz: the full training state, so that --resume continues bit-identically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nncli.nn.model import Model
from nncli.nn.optimizers import Optimizer
from nncli.nn.schedules import Schedule
from nncli.runs import from_json_array, json_array, read_arrays, write_arrays
from nncli.train import TrainingState

_SCALARS = ("epoch", "batch", "loss_sum", "epoch_seconds", "wait", "stopped_early")


def save_checkpoint(path: Path, *, model: Model, optimizer: Optimizer, schedule: Schedule,
                    state: TrainingState, rng: np.random.Generator, config: dict[str, Any]) -> None:
    """Write weights, optimizer and schedule state, the loop's state and the generator's state atomically."""
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
    write_arrays(path, arrays)


def read_checkpoint(path: Path, display: str | None = None) -> dict[str, np.ndarray]:
    return read_arrays(path, display)


def checkpoint_config(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return from_json_array(arrays["config"])


def restore_checkpoint(arrays: dict[str, np.ndarray], *, model: Model, optimizer: Optimizer,
                       schedule: Schedule, rng: np.random.Generator, source: str) -> TrainingState:
    """Load a checkpoint into freshly built objects and return the loop's state."""
    def section(prefix: str) -> dict[str, np.ndarray]:
        return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}

    model.load_state_dict(section("model."), source=source)
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
