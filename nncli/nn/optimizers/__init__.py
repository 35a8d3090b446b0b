"""Optimizers by name: `sgd`, `adam`, `adamw`, `rmsprop`, `adagrad`, with torch.optim's rules and defaults."""

from nncli.nn.optimizers import adagrad, adam, rmsprop, sgd  # noqa: F401  (registers them)
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer

__all__ = ["OPTIMIZERS", "Optimizer"]
