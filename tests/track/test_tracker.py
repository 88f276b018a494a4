from __future__ import annotations

import math

import numpy as np
import pytest

from track_fixtures import StubModel, micro_config, micro_model
from tracktune.config import TrackConfig
from tracktune.errors import ConfigError, DataError
from tracktune.track.tracker import Tracker, decode_best, hann_window


def test_hann_window_by_hand():
    # n = 3: 0.5 * (1 - cos(2 pi k / 4)), k = 1, 2, 3 -> 0.5, 1, 0.5
    expected_1d = np.array([0.5, 1.0, 0.5])
    np.testing.assert_allclose(hann_window(3, 3), np.outer(expected_1d, expected_1d), atol=1e-12)
    # n = 2: k = 1, 2 -> 0.5 * (1 - cos(2 pi / 3)) = 0.75 each
    np.testing.assert_allclose(hann_window(2, 3), np.outer([0.75, 0.75], expected_1d), atol=1e-12)
    assert (hann_window(16, 16) > 0).all()


def test_decode_best_applies_window_and_reports_raw_score():
    logits = np.zeros((3, 3))
    logits[0, 0] = 2.0  # sigmoid 0.8808 at a corner (window 0.25)
    logits[1, 1] = 1.0  # sigmoid 0.7311 at the centre (window 1)
    boxes = np.arange(3 * 3 * 4, dtype=np.float64).reshape(3, 3, 4) / 100
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    # without the window the corner wins
    box, score, cell = decode_best(logits, boxes, hann_window(3, 3), 0.0)
    assert cell == (0, 0) and score == pytest.approx(sig(2.0))
    # influence 0.45: corner 0.8808*0.55 + 0.25*0.45 = 0.597; centre 0.7311*0.55 + 0.45 = 0.852
    box, score, cell = decode_best(logits, boxes, hann_window(3, 3), 0.45)
    assert cell == (1, 1)
    assert score == pytest.approx(sig(1.0))  # the score before the window
    np.testing.assert_allclose(box, boxes[1, 1])


def test_box_maps_back_to_the_frame():
    # 8x8 search grid; the best cell (2, 5) holds the normalised crop box (0.25, 0.25, 0.5, 0.5)
    logits = np.full((8, 8), -5.0)
    logits[2, 5] = 5.0
    boxes = np.zeros((8, 8, 4))
    boxes[..., 2:] = 1.0
    boxes[2, 5] = [0.25, 0.25, 0.5, 0.5]
    model = StubModel(logits, boxes)
    tracker = Tracker(model, TrackConfig(pipeline="square", window_influence=0.0, amp="none"))
    frame = np.zeros((200, 300, 3), np.uint8)
    tracker.init(frame, [80, 90, 20, 20])
    box, score = tracker.update(frame)
    # search side = ceil(sqrt(20 * 20) * 4) = 80 px centred at (90, 100): x0 = 50, y0 = 60;
    # crop box (0.25..0.5) * 80 px -> frame x 70..90, y 80..100
    np.testing.assert_allclose(box, [70, 80, 20, 20], atol=1e-9)
    assert score == pytest.approx(1 / (1 + math.exp(-5.0)))
    # next search is centred on the new box (80, 90): same 80 px, x0 = 40, y0 = 50 -> x 60..80, y 70..90
    box, _ = tracker.update(frame)
    np.testing.assert_allclose(box, [60, 70, 20, 20], atol=1e-9)
    # template mask: 64 px template of side 40 px around a 20 px box -> the box spans 0.25..0.75,
    # touching cells 1 and 2 of 4 in each direction
    mask = model.calls[0]["template_mask"][0].numpy()
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_box_is_clipped_to_the_frame():
    logits = np.zeros((8, 8))
    boxes = np.zeros((8, 8, 4))
    boxes[...] = [-1.0, -1.0, 0.2, 0.2]  # far outside the top-left of the frame
    tracker = Tracker(StubModel(logits, boxes), TrackConfig(pipeline="square", amp="none"))
    frame = np.zeros((100, 100, 3), np.uint8)
    tracker.init(frame, [10, 10, 10, 10])
    box, _ = tracker.update(frame)
    # search: side 40 centred (15, 15), x0 = -5; 0.2 * 40 - 5 = 3 -> clipped xyxy (0, 0, 3, 3)
    np.testing.assert_allclose(box, [0, 0, 3, 3], atol=1e-9)


def test_tracker_on_a_real_model_checks_inputs():
    model, config = micro_model("early_add")
    tracker = Tracker(model, config.track)
    frame = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="auxiliary"):
        tracker.init(frame, [30, 30, 20, 20])
    tracker.init(frame, [30, 30, 20, 20], frame)
    box, score = tracker.update(frame, frame)
    assert box.shape == (4,) and 0 <= score <= 1
    assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= 120 + 1e-9 and box[1] + box[3] <= 90 + 1e-9
    with pytest.raises(ConfigError):
        Tracker(model, TrackConfig(online_template=True))
    assert micro_config().track.amp == "none"
