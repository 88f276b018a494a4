"""Contact sheets (data/show.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tracktune.data.show import degradation_sheet
from tracktune.errors import ConfigError


def test_degradation_sheet_layout():
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    sheet = degradation_sheet(image, ["fog", "rain"], tile=64)
    # 2 kinds x (clean + 5 severities), tiles of 64x64, no gaps
    assert sheet.shape == (2 * 64, 6 * 64, 3) and sheet.dtype == np.uint8
    clean = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    assert np.array_equal(sheet[20:64, :64], clean[20:])  # the first tile is the clean image (label above row 20)


def test_degradation_sheet_unknown_kind_names_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'fog'"):
        degradation_sheet(np.zeros((32, 32, 3), np.uint8), ["fgo"])
