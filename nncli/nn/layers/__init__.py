"""Layer registry: importing this package registers every layer type."""

from nncli.nn.layers import batchnorm, dense, dropout, embedding, merge  # noqa: F401  (registration)
from nncli.nn.layers.base import LAYERS, Layer

__all__ = ["LAYERS", "Layer"]
