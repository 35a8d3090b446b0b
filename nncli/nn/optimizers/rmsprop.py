"""RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop)."""

from __future__ import annotations

import numpy as np

from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer, add_weight_decay, lerp_
from nncli.nn.params import Bool, NonNegativeFloat, UnitRate


@OPTIMIZERS.register("rmsprop")
class RMSprop(Optimizer):
    """RMSprop:

        g = grad + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        a = a + (1 - alpha) * (g - a)          (centered, which then uses v - a * a for v below)
        avg = sqrt(v) + eps
        b = momentum * b + g / avg;  p = p - lr * b      (momentum > 0)
        p = p - lr * g / avg                             (otherwise)
    """

    def __init__(self, lr: NonNegativeFloat = 1e-2, alpha: UnitRate = 0.99, eps: NonNegativeFloat = 1e-8,
                 weight_decay: NonNegativeFloat = 0.0, momentum: NonNegativeFloat = 0.0, centered: Bool = False):
        super().__init__()
        self.lr = float(lr)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.centered = bool(centered)

    def state_names(self) -> tuple[str, ...]:
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0 else ()))

    def scratch_names(self) -> tuple[str, ...]:
        return ("grad", "tmp", "avg")

    def _update(self, param, grad, lr, state, scratch):
        weight = 1.0 - self.alpha  # lerp_'s two forms
        square_avg = state["square_avg"]  # stands in for the arrays this configuration does not keep
        arrays = (param, grad, square_avg, state.get("grad_avg", square_avg), state.get("momentum_buffer", square_avg))
        if self._fused_step("rmsprop", arrays, self.centered, self.momentum > 0, self.alpha, 1.0 - self.alpha,
                            weight < 0.5, weight if weight < 0.5 else 1.0 - weight, self.eps, self.momentum,
                            self.weight_decay, lr):
            return
        tmp, avg = scratch["tmp"], scratch["avg"]
        if self.weight_decay != 0:
            grad = add_weight_decay(grad, param, self.weight_decay, out=scratch["grad"])
        square_avg = state["square_avg"]
        square_avg *= self.alpha
        np.multiply(grad, 1.0 - self.alpha, out=tmp)
        tmp *= grad
        square_avg += tmp
        if self.centered:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1.0 - self.alpha, tmp)
            np.negative(grad_avg, out=avg)
            avg *= grad_avg
            avg += square_avg
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        avg += self.eps
        if self.momentum > 0:
            buffer = state["momentum_buffer"]
            buffer *= self.momentum
            np.divide(grad, avg, out=tmp)
            buffer += tmp
            np.multiply(buffer, lr, out=tmp)
            param -= tmp
        else:
            np.multiply(grad, -lr, out=tmp)
            tmp /= avg
            param += tmp
