"""Range-checked argparse types."""

import argparse
import math

import pytest

from tracktune.cli_types import float_range, int_range


def test_int_range():
    at_least_one = int_range(1)
    assert at_least_one("1") == 1 and at_least_one("40") == 40
    for bad, message in (("0", "0 is out of range; expected an integer >= 1"), ("-3", "-3 is out of range"),
                         ("2.5", "'2.5' is not an integer"), ("x", "'x' is not an integer")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            at_least_one(bad)
    bounded = int_range(0, 3)
    assert bounded("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer in \[0, 3\]"):
        bounded("4")


def test_float_range():
    positive = float_range(0, low_open=True)
    assert positive("0.5") == 0.5
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a number > 0"):
            positive(bad)
    level = float_range(0, 1, low_open=True, high_open=True)
    assert math.isclose(level("0.95"), 0.95)
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number in \(0, 1\)"):
        level("1")
