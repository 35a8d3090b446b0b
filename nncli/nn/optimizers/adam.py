"""Adam and AdamW, with the AMSGrad variant (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

from nncli.nn.optimizers import rules
from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer
from nncli.nn.params import Bool, NonNegativeFloat, UnitRate


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam, step t (from 1):

        g = grad + weight_decay * p            (adamw instead: p = p * (1 - lr * weight_decay))
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v)                  (amsgrad, which then uses v_max for v below)
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - lr / (1 - beta1**t) * m / denom
    """

    rule = staticmethod(rules.adam)
    decoupled = False  # adamw decays the weights directly instead of through the gradient

    def __init__(self, lr: NonNegativeFloat = 1e-3, betas: tuple[UnitRate, UnitRate] = (0.9, 0.999),
                 eps: NonNegativeFloat = 1e-8, weight_decay: NonNegativeFloat = 0.0, amsgrad: Bool = False):
        super().__init__()
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.amsgrad = bool(amsgrad)

    def state_names(self) -> tuple[str, ...]:
        # the averages are kept as sums, m / (1 - beta1) and v / (1 - beta2): see `numbers`
        return ("exp_avg_sum", "exp_avg_sq_sum") + (("max_exp_avg_sq_sum",) if self.amsgrad else ())

    def flags(self, step):
        return {"decays_weights": self.decoupled and self.weight_decay != 0,
                "decays": not self.decoupled and self.weight_decay != 0, "amsgrad": self.amsgrad}

    def numbers(self, lr, step):
        # torch's m and v are (1 - beta1) * m_sum and (1 - beta2) * v_sum, where
        #   m_sum = beta1 * m_sum + g,   v_sum = beta2 * v_sum + g * g.
        # The step lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps) then equals
        #   lr * (1 - beta1) / (bc1 * c) * m_sum / (sqrt(v_sum) + eps / c),   c = sqrt((1 - beta2) / bc2):
        # the same update up to rounding in 10 passes over the parameters instead of 13, the hot loop of a
        # large network
        beta1, beta2 = self.betas
        step = float(step)
        c = ((1.0 - beta2) / (1.0 - beta2**step)) ** 0.5
        return {"decay": 1.0 - lr * self.weight_decay, "weight_decay": self.weight_decay, "beta1": beta1,
                "beta2": beta2, "denom_eps": self.eps / c, "step_size": lr * (1.0 - beta1) / ((1.0 - beta1**step) * c)}


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay: `p = p * (1 - lr * weight_decay)` before the Adam step."""

    decoupled = True

    def __init__(self, lr: NonNegativeFloat = 1e-3, betas: tuple[UnitRate, UnitRate] = (0.9, 0.999),
                 eps: NonNegativeFloat = 1e-8, weight_decay: NonNegativeFloat = 1e-2, amsgrad: Bool = False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
