"""The training loop's settings as a config gives them, from keyword arguments, for tests that call the loop."""

from nncli.config.schema import Regularization, Training
from nncli.train import Settings


def loop_settings(*, l1: float = 0.0, l2: float = 0.0, metrics: tuple[str, ...] = (), **training) -> Settings:
    """`training` keys (epochs, batch_size, shuffle, clip_norm, early_stopping) and the l1/l2 strengths."""
    return Settings(Training(**training), Regularization(l1=l1, l2=l2), metrics)
