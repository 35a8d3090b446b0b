"""The layer contract: parameters and gradients as named arrays; forward keeps what backward needs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from nncli.nn.activations import Activation, get_activation
from nncli.nn.buffers import Buffers
from nncli.registry import Configurable, Registry


class Layer(Configurable, ABC):
    """A node of the model graph working on 2-D arrays (batch, features).

    `build` creates the parameters once the input widths are known. `forward` returns the output and keeps
    what `backward` needs; `backward(grad_output)` fills `grads` (same keys as `params`) and returns the
    gradient for each input (None for the data when `skip_input_grad` is set). Layers never update their own
    parameters: optimizers do, through `params` and `grads`. The arrays both return are the layer's buffers (or
    views of what it was given): valid until the layer's next call.
    """

    merge = False  # merge layers (concat, add) take several inputs
    skip_input_grad = False  # set by the model when the input is the data, whose gradient nobody needs
    regularized: tuple[str, ...] = ()  # parameter names that l1/l2 regularization applies to

    def build(self, input_widths: list[int], rng: np.random.Generator, dtype: np.dtype) -> int:
        """Create parameters for these input widths; return the output width."""
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}  # non-trainable arrays saved with the model
        self.dtype = np.dtype(dtype)
        self._buffers = Buffers()
        return self._build(input_widths, rng)

    @abstractmethod
    def _build(self, input_widths: list[int], rng: np.random.Generator) -> int:
        raise NotImplementedError

    @abstractmethod
    def forward(self, inputs: list[np.ndarray], training: bool) -> np.ndarray:
        """The output for these inputs (in training mode or not), keeping what `backward` needs."""
        raise NotImplementedError

    @abstractmethod
    def backward(self, grad_output: np.ndarray) -> Sequence[np.ndarray | None]:
        """Fill `grads` from d loss / d output; return d loss / d input for each input."""
        raise NotImplementedError

    def detach_activation(self) -> Activation:
        """Hand over the activation this layer applies last; from now on it outputs what that activation took.

        The model calls it on its output layer once built: the training objective owns that activation, so
        it can pair it with the loss. A layer without an activation hands over the identity.
        """
        return get_activation("linear")

    def buffer(self, key: str, shape: tuple[int, ...], dtype: np.dtype | None = None) -> np.ndarray:
        """A scratch array of this layer (in its dtype unless given), reused from batch to batch.

        See `nncli.nn.buffers.Buffers`: a smaller batch gets a view of the first rows, so the hot loop
        allocates nothing after its first step. The content is overwritten by the next call with `key`.
        """
        return self._buffers.get(key, shape, self.dtype if dtype is None else dtype)

    def add_parameter(self, key: str, value: np.ndarray) -> None:
        self.params[key] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[key] = np.zeros_like(self.params[key])


LAYERS: Registry[Layer] = Registry("layer type")
