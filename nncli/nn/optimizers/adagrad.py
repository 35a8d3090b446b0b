"""Adagrad with learning-rate decay (torch.optim.Adagrad)."""

from __future__ import annotations

import numpy as np

from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer, add_weight_decay
from nncli.nn.params import NonNegativeFloat


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad, step t (from 1), the sum starting at `initial_accumulator_value`:

        g = grad + weight_decay * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
    """

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

    def scratch_names(self) -> tuple[str, ...]:
        return ("grad", "tmp", "std")

    def _update(self, param, grad, lr, state, scratch):
        clr = lr / (1.0 + (self.steps - 1) * self.lr_decay)
        if self._fused_step("adagrad", (param, grad, state["sum"]), self.weight_decay, self.eps, clr):
            return
        tmp, std = scratch["tmp"], scratch["std"]
        if self.weight_decay != 0:
            grad = add_weight_decay(grad, param, self.weight_decay, out=scratch["grad"])
        state_sum = state["sum"]
        np.multiply(grad, grad, out=tmp)
        state_sum += tmp
        np.sqrt(state_sum, out=std)
        std += self.eps
        np.multiply(grad, -clr, out=tmp)
        tmp /= std
        param += tmp
