"""Adagrad with learning-rate decay (torch.optim.Adagrad)."""

from __future__ import annotations

from nncli.nn.optimizers import rules
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer
from nncli.nn.params import NonNegativeFloat


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad, step t (from 1), the sum starting at `initial_accumulator_value`:

        g = grad + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
    """

    rule = staticmethod(rules.adagrad)

    def __init__(self, lr: NonNegativeFloat = 1e-2, lr_decay: NonNegativeFloat = 0.0,
                 weight_decay: NonNegativeFloat = 0.0, initial_accumulator_value: NonNegativeFloat = 0.0,
                 eps: NonNegativeFloat = 1e-10):
        super().__init__()
        self.lr = float(lr)
        self.lr_decay = float(lr_decay)
        self.weight_decay = float(weight_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.eps = float(eps)

    def state_names(self) -> tuple[str, ...]:
        return ("sum",)

    def initial_state_value(self, name: str) -> float:
        return self.initial_accumulator_value

    def flags(self, step):
        return {"decays": self.weight_decay != 0}

    def numbers(self, lr, step):
        return {"weight_decay": self.weight_decay, "eps": self.eps, "clr": lr / (1.0 + (step - 1) * self.lr_decay)}
