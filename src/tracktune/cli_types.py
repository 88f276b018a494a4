"""Range-checked argparse types for command-line numbers.

`type=int_range(1)` makes `--frames 0` an argparse error (`argument --frames: 0 is out of
range; expected an integer >= 1`) before anything runs, instead of an empty dataset or a
division by zero later.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable, Optional


def _interval(low, high, low_open: bool, high_open: bool, kind: str) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def int_range(low: Optional[int] = None, high: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (either bound may be None)."""
    expected = _interval(low, high, False, False, "an integer")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected {expected}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range; expected {expected}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False,
                high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in the interval (open ends with `*_open`)."""
    expected = _interval(low, high, low_open, high_open, "a number")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected {expected}") from None
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or below or above:
            raise argparse.ArgumentTypeError(f"{text} is out of range; expected {expected}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = int_range(1)
non_negative_int = int_range(0)
positive_float = float_range(0, low_open=True)
