"""SRFT's schedule: the weight kappa(t) of the prior (the transfer term gets 1 - kappa)."""

from __future__ import annotations

import math

from tracktune.errors import ConfigError

SCHEDULES = ("cosine", "linear", "constant")


def kappa(progress: float, schedule: str = "cosine", constant: float = 0.5) -> float:
    """Weight of the prior at training progress t in [0, 1]; the transfer term gets 1 - kappa."""
    t = min(max(float(progress), 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "linear":
        return 1.0 - t
    if schedule == "constant":
        return float(constant)
    raise ConfigError(f"srft.schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")
