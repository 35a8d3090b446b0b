"""The training loop: batches and epochs over arrays, yielding one record per epoch.

The caller owns display, files and checkpoints; the loop owns only the numbers. All the loop's progress lives
in a `TrainingState` the caller passes in, so a checkpoint written between batches holds everything a resume
needs and the resumed run goes on exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nncli.errors import TrainingError
from nncli.metrics import compute_metrics, higher_is_better
from nncli.nn.graph import DATA_INPUT
from nncli.nn.losses import Loss
from nncli.nn.model import Model
from nncli.nn.objective import Objective
from nncli.nn.optimizers import Optimizer
from nncli.nn.regularizers import clip_global_norm, regularize
from nncli.nn.schedules import Schedule
from nncli.nn.targetscale import scaled_loss
from nncli.split import Split


class EarlyStoppingRules(Protocol):
    """The config's `training.early_stopping` section, as the loop reads it."""

    @property
    def monitor(self) -> str: ...
    @property
    def patience(self) -> int: ...
    @property
    def min_delta(self) -> float: ...
    @property
    def restore_best(self) -> bool: ...


class TrainingRules(Protocol):
    """The config's `training` section, as the loop reads it."""

    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def shuffle(self) -> bool: ...
    @property
    def clip_norm(self) -> float | None: ...
    @property
    def early_stopping(self) -> EarlyStoppingRules | None: ...


class Penalties(Protocol):
    """The config's `regularization` section, as the loop reads it."""

    @property
    def l1(self) -> float: ...
    @property
    def l2(self) -> float: ...


@dataclass(frozen=True)
class Settings:
    """What the loop reads from a config: its `training` and `regularization` sections as they are, and the
    names of its metrics. (Protocols rather than the config's classes: this layer never imports the config.)"""

    training: TrainingRules
    regularization: Penalties
    metrics: tuple[str, ...] = ()


@dataclass
class TrainingState:
    """The loop's progress: where it is, what it has seen, what it keeps for early stopping."""

    epoch: int = 0  # the epoch in progress, or the next one when `batch` is 0
    batch: int = 0  # the next batch of this epoch
    order: np.ndarray | None = None  # this epoch's row order
    loss_sum: float = 0.0  # sum of this epoch's batch losses so far
    epoch_seconds: float = 0.0  # time spent in this epoch before an interruption
    train_outputs: np.ndarray | None = None  # logits seen in training, for the epoch's training metrics
    history: list[dict] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    best_weights: dict[str, np.ndarray] | None = None
    stopped_early: bool = False


class Interrupted(Exception):
    """A stop was requested; the state is consistent at a batch boundary and can be checkpointed."""


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """Batches in one epoch of `rows` training rows (the last batch may be smaller)."""
    return math.ceil(rows / min(batch_size, rows))


def quiet_divergence() -> np.errstate:
    """Floating-point warnings off while training: a diverging run overflows, and `fit` reports it instead.

    Entered by the caller around its loop over `fit` (a context entered inside a generator would leak into
    the caller's code at every `yield`).
    """
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def batch_step(model: Model, objective: Objective, x: np.ndarray | Mapping[str, np.ndarray], y: np.ndarray,
               settings: Settings, weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Forward and backward for one batch (rows weighed by `weight`): fills the gradients, returns the
    (regularized) loss and the logits.

    After a first batch of the same size it allocates no array: every work array is a kept buffer of the
    model, its layers or the objective, valid until the next step.
    """
    logits = model.forward(x, training=True)
    value, grad = objective.value_and_grad(logits, y, weight)
    model.backward(grad)
    if settings.regularization.l1 or settings.regularization.l2:
        for layer in model.layers:
            for key in layer.regularized:
                weight = layer.params[key]
                value += regularize(weight, layer.grads[key], settings.regularization.l1, settings.regularization.l2,
                                    layer.buffer("regularization." + key, weight.shape))
    return value, logits


def evaluate_split(model: Model, loss: Loss, split: Split, metrics: tuple[str, ...],
                   prefix: str = "") -> dict[str, float]:
    """Loss (without regularization, on the scale the network learns) and metrics (in own units)."""
    outputs = model.predict(split.inputs())
    record = {f"{prefix}loss": scaled_loss(loss, model.target_scale, outputs, split.targets, split.weights)}
    for name, metric_value in compute_metrics(list(metrics), split.targets, outputs).items():
        record[f"{prefix}{name}"] = metric_value
    return record


def fit(model: Model, objective: Objective, optimizer: Optimizer, schedule: Schedule, train: Split,
        valid: Split | None, settings: Settings, rng: np.random.Generator, state: TrainingState,
        base_lr: float, should_stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[int], None] | None = None) -> Iterator[dict]:  # on_batch gets the 0-based index
    """Train from `state` up to `settings.training.epochs`, yielding each finished epoch's record.

    Raises `Interrupted` at a batch boundary when `should_stop()` turns true, and `TrainingError` when a batch
    loss is not finite (before the weights are touched by that batch).
    """
    rows = train.rows
    batch_size = min(settings.training.batch_size, rows)
    batches = batches_per_epoch(rows, settings.training.batch_size)
    params, grads = [model.flat_params], [model.flat_grads]
    optimizer.choose_engine(model.flat_params.size, batches * (settings.training.epochs - state.epoch))
    batch_x = np.empty((batch_size, train.features.shape[1]), dtype=train.features.dtype)
    batch_indices = {name: np.empty(batch_size, dtype=index.dtype) for name, index in train.indices.items()}
    batch_inputs: dict[str, np.ndarray] = {}  # the named inputs of the batch, refilled batch by batch
    batch_y = np.empty((batch_size, train.targets.shape[1]), dtype=train.targets.dtype)
    weights = train.weights
    batch_w = None if weights is None else np.empty(batch_size, dtype=weights.dtype)
    if state.train_outputs is None:
        state.train_outputs = np.empty((rows, model.output_width), dtype=model.dtype)
    while state.epoch < settings.training.epochs and not state.stopped_early:
        epoch = state.epoch
        optimizer.lr = schedule.lr_at(epoch, base_lr, settings.training.epochs)
        if state.batch == 0:
            if should_stop():  # before the shuffle draws from `rng`: a resume at batch 0 draws the same order
                raise Interrupted()
            state.order = rng.permutation(rows) if settings.training.shuffle else None
            state.loss_sum, state.epoch_seconds = 0.0, 0.0
        started = time.perf_counter()
        while state.batch < batches:
            if should_stop():
                state.epoch_seconds += time.perf_counter() - started
                raise Interrupted()
            start = state.batch * batch_size
            stop = min(start + batch_size, rows)
            if state.order is None:
                x, y = train.features[start:stop], train.targets[start:stop]
                w = None if weights is None else weights[start:stop]
                for name, column in train.indices.items():
                    batch_inputs[name] = column[start:stop]
            else:
                index = state.order[start:stop]  # a permutation: always in range, so mode="clip" only
                # spares np.take the bounds-checked temporary copy it makes with out= otherwise
                x = train.features.take(index, axis=0, out=batch_x[:stop - start], mode="clip")
                y = train.targets.take(index, axis=0, out=batch_y[:stop - start], mode="clip")
                w = None if weights is None or batch_w is None else \
                    weights.take(index, out=batch_w[:stop - start], mode="clip")
                for name, column in train.indices.items():
                    batch_inputs[name] = column.take(index, out=batch_indices[name][:stop - start], mode="clip")
            batch_inputs[DATA_INPUT] = x
            value, logits = batch_step(model, objective, batch_inputs, y, settings, w)
            if not math.isfinite(value):
                raise TrainingError(
                    f"training diverged: the loss is {value} at epoch {epoch}, batch {state.batch}; the weights "
                    "of the last finished epoch are kept in the checkpoint. Try a lower optimizer.lr or set "
                    "training.clip_norm")
            if settings.training.clip_norm is not None:
                clip_global_norm(grads, settings.training.clip_norm)
            optimizer.step(params, grads)
            if settings.metrics:  # training metrics come from the outputs seen during the epoch
                rows_seen = slice(start, stop) if state.order is None else state.order[start:stop]
                state.train_outputs[rows_seen] = logits  # activated once, at the epoch's end
            state.loss_sum += value
            state.batch += 1
            if on_batch is not None:
                on_batch(state.batch - 1)
        record = {"epoch": epoch, "lr": optimizer.lr, "loss": state.loss_sum / batches}
        if settings.metrics:
            outputs = objective.activate(state.train_outputs)
            record.update(compute_metrics(list(settings.metrics), train.targets, outputs))
        if valid is not None:
            record.update(evaluate_split(model, objective.loss, valid, settings.metrics, prefix="val_"))
        record["seconds"] = state.epoch_seconds + time.perf_counter() - started
        schedule.observe(epoch, record)
        _track_best(model, state, record, settings.training.early_stopping)
        state.history.append(record)
        state.epoch, state.batch = epoch + 1, 0
        yield record
    if settings.training.early_stopping is not None and settings.training.early_stopping.restore_best \
            and state.best_weights is not None:
        model.load_state_dict(state.best_weights)


def _track_best(model: Model, state: TrainingState, record: dict, early: EarlyStoppingRules | None) -> None:
    """Keep the best epoch by the monitored value; stop after `patience` epochs without improvement."""
    if early is None:
        return
    value = record.get(early.monitor, record["loss"])
    sign = -1.0 if higher_is_better(early.monitor) else 1.0
    if state.best_value is None or sign * (state.best_value - value) > early.min_delta:
        state.best_value, state.best_epoch, state.wait = value, record["epoch"], 0
        if early.restore_best:
            state.best_weights = {key: array.copy() for key, array in model.state_dict().items()}
    else:
        state.wait += 1
        if state.wait >= early.patience:
            state.stopped_early = True
