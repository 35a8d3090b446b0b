"""Adam and AdamW, with the AMSGrad variant (torch.optim.Adam, torch.optim.AdamW)."""

from __future__ import annotations

import numpy as np

from nncli.nn.optimizers.base import OPTIMIZERS, Optimizer, add_weight_decay, lerp_
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
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def scratch_names(self) -> tuple[str, ...]:
        return ("grad", "tmp", "denom")

    def _update(self, param, grad, lr, state, scratch):
        beta1, beta2 = self.betas
        tmp, denom = scratch["tmp"], scratch["denom"]
        if self.weight_decay != 0:
            if self.decoupled:
                param *= 1.0 - lr * self.weight_decay
            else:
                grad = add_weight_decay(grad, param, self.weight_decay, out=scratch["grad"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, grad, 1.0 - beta1, tmp)
        exp_avg_sq *= beta2
        np.multiply(grad, 1.0 - beta2, out=tmp)
        tmp *= grad
        exp_avg_sq += tmp
        step = float(self.steps)
        bias_correction2_sqrt = (1.0 - beta2**step) ** 0.5
        # lr/bc1 * m / (sqrt(v)/bc2_sqrt + eps) == lr/bc1*bc2_sqrt * m / (sqrt(v) + eps*bc2_sqrt):
        # one pass fewer over every parameter than torch's grouping, equal up to rounding
        step_size = lr / (1.0 - beta1**step) * bias_correction2_sqrt
        if self.amsgrad:
            exp_avg_sq = np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        np.sqrt(exp_avg_sq, out=denom)
        denom += self.eps * bias_correction2_sqrt
        np.divide(exp_avg, denom, out=tmp)
        tmp *= step_size
        param -= tmp


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay: `p = p * (1 - lr * weight_decay)` before the Adam step."""

    decoupled = True

    def __init__(self, lr: NonNegativeFloat = 1e-3, betas: tuple[UnitRate, UnitRate] = (0.9, 0.999),
                 eps: NonNegativeFloat = 1e-8, weight_decay: NonNegativeFloat = 1e-2, amsgrad: Bool = False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
