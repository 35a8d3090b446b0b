"""RMSprop, plain or centered, with optional momentum (torch.optim.RMSprop)."""

from __future__ import annotations

from nncli.nn.optimizers import rules
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer
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

    rule = staticmethod(rules.rmsprop)

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

    def flags(self, step):
        return {"decays": self.weight_decay != 0, "centered": self.centered,
                "lerp_small": 1.0 - self.alpha < 0.5,  # torch's lerp_ has two forms, by its weight
                "keeps_momentum": self.momentum > 0}

    def numbers(self, lr, step):
        weight = 1.0 - self.alpha
        return {"weight_decay": self.weight_decay, "alpha": self.alpha, "one_minus_alpha": weight,
                "lerp_weight": weight if weight < 0.5 else 1.0 - weight, "eps": self.eps, "momentum": self.momentum,
                "lr": lr}
