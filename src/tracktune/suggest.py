"""'Did you mean ...?' hints for names a user mistyped (config keys, datasets, conditions)."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.5) -> str:
    """`" (did you mean 'x'?)"` for the closest of `choices`, or `""` when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""
