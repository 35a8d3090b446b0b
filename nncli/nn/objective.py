"""The training objective: the output activation and the loss as one function of the model's logits.

The model leaves its output layer's activation out of the graph (`Model.output_activation`) and trains on
the logits; the objective pairs that activation with the loss. Where the pair has a fused form (the loss's
`fused_activation`: softmax + categorical_crossentropy, sigmoid + binary_crossentropy) the loss and its
gradient come straight from the logits (`Loss.from_logits`), stable for any logits and one pass cheaper.
Any other pair applies the activation, takes the loss of the activated outputs and carries its gradient
back through the activation's derivative (the chain rule); a linear output goes to the loss as it is.
With a `TargetScale` the targets are standardized (into a kept buffer) before the loss sees them.
"""

from __future__ import annotations

import numpy as np

from nncli.nn.activations import Activation
from nncli.nn.buffers import Buffers
from nncli.nn.losses import Loss
from nncli.nn.targetscale import TargetScale


class Objective:
    """A loss paired with the output activation it is computed through.

    `fuse=False` always takes the chain rule, even for a pair with a fused form (to check one against the
    other). The arrays `value_and_grad` returns are this objective's buffers, valid until its next call:
    after a first batch of the same size, a call allocates nothing.
    """

    def __init__(self, loss: Loss, activation: Activation, fuse: bool = True,
                 target_scale: TargetScale | None = None):
        self.loss = loss
        self.target_scale = target_scale
        self.activation = activation
        self.fused = fuse and loss.fused_activation == activation.name
        self._buffers = Buffers()

    def value_and_grad(self, logits: np.ndarray, target: np.ndarray,
                       weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """(loss, d loss / d logits) for a batch of logits and its targets (rows weighed by `weight`)."""
        grad = self._buffers.like("grad", logits)
        if self.target_scale is not None:
            target = self.target_scale.standardize(target, out=self._buffers.like("target", logits))
        if self.fused:
            return self.loss.from_logits(logits, target, out=grad, weight=weight)
        if self.activation.is_identity:
            return self.loss.forward(logits, target, out=grad, weight=weight)
        outputs = self.activation.forward(logits, out=self._buffers.like("outputs", logits))
        value, grad_outputs = self.loss.forward(outputs, target, out=self._buffers.like("grad_outputs", logits),
                                                weight=weight)
        return value, self.activation.backward(logits, outputs, grad_outputs, out=grad)

    def activate(self, logits: np.ndarray) -> np.ndarray:
        """The outputs for these logits in the targets' own units: a new array, or `logits` itself when the
        activation is linear and there is no target scale."""
        outputs = logits if self.activation.is_identity else self.activation.forward(logits)
        if self.target_scale is not None:
            outputs = self.target_scale.restore(outputs, out=None if outputs is logits else outputs)
        return outputs
