"""Stochastic gradient descent with momentum, dampening and Nesterov momentum (torch.optim.SGD)."""

from __future__ import annotations

import numpy as np

from nncli.errors import ConfigError
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer, add_weight_decay
from nncli.nn.params import Bool, NonNegativeFloat, UnitInterval


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """SGD, step t (from 1):

        g = grad + weight_decay * p
        b = g                                      (t = 1)
        b = momentum * b + (1 - dampening) * g     (t > 1)
        g = g + momentum * b   (nesterov)   or   g = b   (momentum > 0)
        p = p - lr * g
    """

    def __init__(self, lr: NonNegativeFloat = 1e-3, momentum: NonNegativeFloat = 0.0,
                 dampening: UnitInterval = 0.0, weight_decay: NonNegativeFloat = 0.0,
                 nesterov: Bool = False):
        super().__init__()
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigError(f"nesterov momentum needs momentum > 0 and dampening 0, got momentum "
                              f"{momentum} and dampening {dampening}", field="optimizer.nesterov")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def state_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def scratch_names(self) -> tuple[str, ...]:
        return ("grad", "tmp")

    def _update(self, param, grad, lr, state, scratch):
        buffer = state["momentum_buffer"] if self.momentum != 0 else param  # the kernel leaves it alone then
        if self._fused_step("sgd", (param, grad, buffer), self.momentum != 0, self.steps == 1, self.momentum,
                            1.0 - self.dampening, self.nesterov, self.weight_decay, lr):
            return
        tmp = scratch["tmp"]
        if self.weight_decay != 0:
            grad = add_weight_decay(grad, param, self.weight_decay, out=scratch["grad"])
        if self.momentum != 0:
            buffer = state["momentum_buffer"]
            if self.steps == 1:
                np.copyto(buffer, grad)
            else:
                buffer *= self.momentum
                np.multiply(grad, 1.0 - self.dampening, out=tmp)
                buffer += tmp
            if self.nesterov:
                np.multiply(buffer, self.momentum, out=tmp)
                grad = np.add(grad, tmp, out=scratch["grad"])
            else:
                grad = buffer
        np.multiply(grad, lr, out=tmp)
        param -= tmp
