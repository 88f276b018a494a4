"""SRFT's transfer step as the released code does it: rank-based damping of each step.

Source: zhiwen-xdu/SRTrack, `lib/train/trainers/regular_trainer.py`,
`RegularTrainer._momentum_update_with_sensitivity` (the active variant "5"), read, not
copied. After each optimiser step, for every trainable backbone tensor:
1. sensitivity s = (g_prev**2 + g**2) / 2: the squared gradient of this step averaged with
   the previous step's (the released code scales both by 1e8 and divides by the maximum,
   which changes no rank);
2. the elements are ranked by s, ascending; the element of rank r (0-based, of n) gets the
   factor m_r = m_min + (m_max - m_min) r / (n - 1) (`torch.linspace(m_min, m_max, n)`,
   0.25 and 0.65 in the release);
3. theta = m theta_prev + (1 - m) theta~, i.e. the element keeps the fraction 1 - m of its
   step: the most sensitive elements move least.

The release indexes the ramp by the sort permutation, `ramp[sort_id]`: a gather, which
gives element i the factor of the rank *position* `sort_id[i]` (another element's index),
not the factor of its own rank, so the factors land on the wrong elements (for a tensor
whose sensitivity already increases with the index it happens to be right). The intent,
an element's factor following its own rank, is the scatter `m[sort_id] = ramp`, done
here (`rank_factors`); `released_gather_factors` keeps the released indexing for the test
that shows the two differ.

In `SRFTMethod` (`srft.transfer: rank`) it replaces our proximal transfer step at every
step (no kappa schedule, as released); the decoupled prior step, when `lambda_p > 0`,
still follows it. Its two-step memory is checkpointed, so a resumed run continues exactly.

Departures: ties are ranked by position (a stable sort; the release's sort is not
stable); a one-element tensor gets m_min; the head is left out (the release walks
`net.backbone` only: here every trainable parameter whose group is not `head`); the
release's learning-rate override (1e-6) is not reproduced.
"""

from __future__ import annotations

import torch

RELEASED_RANGE = (0.25, 0.65)  # m_min, m_max of the release


def rank_factors(sensitivity: torch.Tensor, low: float = RELEASED_RANGE[0],
                 high: float = RELEASED_RANGE[1]) -> torch.Tensor:
    """m per element (same shape): linear in the element's ascending rank of `sensitivity`,
    `low` for the least sensitive, `high` for the most (the scatter of the ramp)."""
    flat = sensitivity.detach().flatten()
    n = flat.numel()
    ramp = torch.linspace(low, high, n, dtype=torch.float32, device=flat.device) if n > 1 else \
        torch.full((n,), float(low), dtype=torch.float32, device=flat.device)
    order = torch.argsort(flat, stable=True)
    factors = torch.empty_like(ramp)
    factors[order] = ramp
    return factors.view(sensitivity.shape)


def released_gather_factors(sensitivity: torch.Tensor, low: float = RELEASED_RANGE[0],
                            high: float = RELEASED_RANGE[1]) -> torch.Tensor:
    """The released indexing, `ramp[sort_id]` (a gather): kept only to test against."""
    flat = sensitivity.detach().flatten()
    ramp = torch.linspace(low, high, flat.numel(), dtype=torch.float32, device=flat.device)
    return ramp[torch.argsort(flat, stable=True)].view(sensitivity.shape)


class RankTransfer:
    """The two-step squared-gradient average per tensor and the damped step."""

    def __init__(self, low: float = RELEASED_RANGE[0], high: float = RELEASED_RANGE[1]) -> None:
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"srft.rank_range: need 0 <= low <= high <= 1, got ({low}, {high})")
        self.low, self.high = float(low), float(high)
        self.last_square: dict[str, torch.Tensor] = {}

    def sensitivity(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        square = grad.detach().float().square()
        previous = self.last_square.get(name)
        self.last_square[name] = square
        return square if previous is None else (previous + square) / 2.0

    def step(self, name: str, previous: torch.Tensor, proposed: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """theta_prev + (1 - m) (theta~ - theta_prev), m from this element's rank."""
        m = rank_factors(self.sensitivity(name, grad), self.low, self.high).to(proposed.dtype)
        return previous + (1.0 - m) * (proposed - previous)
