"""SRFT's transfer significance: an EMA of squared gradients, and the damping step it drives."""

from __future__ import annotations

import math

import torch

from tracktune.adapt.srft.priors import normalised_diagonal


def hoyer_sparsity(values: torch.Tensor) -> float:
    """Hoyer's measure in [0, 1]: 1 for a single non-zero entry, 0 for a constant tensor."""
    n = values.numel()
    if n <= 1:
        return 1.0
    l2 = float(values.float().norm())
    if l2 == 0.0:
        return 0.0
    l1 = float(values.float().abs().sum())
    root = math.sqrt(n)
    return (root - l1 / l2) / (root - 1.0)


class TransferSignificance:
    """T_i = EMA(g_i^2) normalised per tensor to [0, 1] (times Hoyer sparsity if asked)."""

    def __init__(self, decay: float = 0.9, hoyer: bool = False) -> None:
        self.decay = decay
        self.hoyer = hoyer
        self.ema: dict[str, torch.Tensor] = {}

    def update(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        """Fold in this step's gradient; return the normalised significance T (same shape)."""
        square = grad.detach().float().square()
        if name in self.ema:
            self.ema[name].mul_(self.decay).add_(square, alpha=1.0 - self.decay)
        else:
            self.ema[name] = square  # first step: the EMA starts at g^2 (scale is normalised away)
        significance = normalised_diagonal(self.ema[name])
        if self.hoyer:
            significance = significance * hoyer_sparsity(significance)
        return significance


def transfer_step(previous: torch.Tensor, proposed: torch.Tensor, significance: torch.Tensor,
                  strength: float) -> torch.Tensor:
    """theta_{t-1} + (theta~_t - theta_{t-1}) / (1 + c T): damp the update where T is large."""
    return previous + (proposed - previous) / (1.0 + strength * significance)
