"""Stochastic gradient descent with momentum, dampening and Nesterov momentum (torch.optim.SGD)."""

from __future__ import annotations

from nncli.nn.errors import CoreError
from nncli.nn.optimizers import rules
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer
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

    rule = staticmethod(rules.sgd)

    def __init__(self, lr: NonNegativeFloat = 1e-3, momentum: NonNegativeFloat = 0.0,
                 dampening: UnitInterval = 0.0, weight_decay: NonNegativeFloat = 0.0,
                 nesterov: Bool = False):
        super().__init__()
        if nesterov and (momentum <= 0 or dampening != 0):
            raise CoreError(f"nesterov momentum needs momentum > 0 and dampening 0, got momentum {momentum} and "
                            f"dampening {dampening}", parameter="nesterov")
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)

    def state_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def flags(self, step):
        return {"decays": self.weight_decay != 0, "keeps_momentum": self.momentum != 0, "first_step": step == 1,
                "nesterov": self.nesterov}

    def numbers(self, lr, step):
        return {"weight_decay": self.weight_decay, "momentum": self.momentum, "damping": 1.0 - self.dampening,
                "lr": lr}
