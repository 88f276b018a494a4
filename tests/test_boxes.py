"""Box geometry against hand-computed values and properties (hypothesis)."""

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tracktune import boxes

finite = st.floats(min_value=-500, max_value=500, allow_nan=False)
positive = st.floats(min_value=0.5, max_value=300, allow_nan=False)
xywh = st.tuples(finite, finite, positive, positive).map(lambda t: np.array(t, dtype=np.float64))


def test_conversions_by_hand():
    box = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(boxes.xywh_to_xyxy(box), [10, 20, 40, 60])
    np.testing.assert_allclose(boxes.xywh_to_cxcywh(box), [25, 40, 30, 40])
    np.testing.assert_allclose(boxes.xyxy_to_cxcywh([10, 20, 40, 60]), [25, 40, 30, 40])
    np.testing.assert_allclose(boxes.cxcywh_to_xyxy([25, 40, 30, 40]), [10, 20, 40, 60])
    np.testing.assert_allclose(boxes.centers_xywh(box), [25, 40])


def test_iou_by_hand():
    # two 10x10 squares overlapping in a 5x5 corner: 25 / (100 + 100 - 25)
    assert boxes.iou_xywh(np.array([0, 0, 10, 10.0]), np.array([5, 5, 10, 10.0])) == pytest.approx(25 / 175)
    # disjoint and touching boxes have IoU 0
    assert boxes.iou_xywh(np.array([0, 0, 10, 10.0]), np.array([10, 0, 10, 10.0])) == 0
    # a box inside another: area ratio
    assert boxes.iou_xywh(np.array([0, 0, 10, 10.0]), np.array([2, 2, 5, 5.0])) == pytest.approx(25 / 100)


def test_giou_by_hand():
    # disjoint unit squares at (0,0) and (2,2): enclosing 3x3=9, union 2 -> 0 - 7/9
    value = boxes.giou_xyxy(torch.tensor([0, 0, 1, 1.0]), torch.tensor([2, 2, 3, 3.0]))
    assert float(value) == pytest.approx(-7 / 9, abs=1e-6)


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 100, (50, 2)), rng.uniform(1, 50, (50, 2))], axis=1)
    b = np.concatenate([rng.uniform(0, 100, (50, 2)), rng.uniform(1, 50, (50, 2))], axis=1)
    np.testing.assert_allclose(boxes.iou_xywh(a, b), boxes.iou_xywh(torch.tensor(a), torch.tensor(b)).numpy())


def test_clip_by_hand():
    np.testing.assert_allclose(boxes.clip_xywh(np.array([-5, -5, 20, 20.0]), 10, 10), [0, 0, 10, 10])
    # a box squeezed to nothing at the border keeps min_size inside the image
    np.testing.assert_allclose(boxes.clip_xywh(np.array([12, 3, 5, 5.0]), 10, 10, min_size=4), [6, 3, 4, 5])


def test_grid_masks_by_hand():
    # box covering x in [0.3, 0.55], y in [0.0, 0.2] on a 4x4 grid (cells of 0.25)
    box = np.array([0.3, 0.0, 0.55, 0.2])
    touch = boxes.grid_touch_mask(box, 4, 4)
    expected = np.zeros((4, 4), bool)
    expected[0, 1:3] = True  # columns 1 (0.25-0.5) and 2 (0.5-0.75), row 0
    np.testing.assert_array_equal(touch, expected)
    centre = boxes.grid_center_mask(box, 4, 4)
    expected_centre = np.zeros((4, 4), bool)
    expected_centre[0, 1] = True  # only column 1's centre 0.375 lies in [0.3, 0.55]; row 0 centre 0.125 <= 0.2
    np.testing.assert_array_equal(centre, expected_centre)
    np.testing.assert_array_equal(boxes.grid_touch_mask(torch.tensor(box), 4, 4).numpy(), touch)


@settings(max_examples=200, deadline=None)
@given(xywh, xywh)
def test_iou_properties(a, b):
    value = boxes.iou_xywh(a, b)
    assert 0.0 <= value <= 1.0 + 1e-12
    assert value == pytest.approx(boxes.iou_xywh(b, a))
    assert boxes.iou_xywh(a, a) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(xywh)
def test_round_trips(box):
    np.testing.assert_allclose(boxes.xyxy_to_xywh(boxes.xywh_to_xyxy(box)), box, atol=1e-9)
    np.testing.assert_allclose(boxes.cxcywh_to_xywh(boxes.xywh_to_cxcywh(box)), box, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(xywh, st.floats(10, 500), st.floats(10, 500))
@example(np.array([1.57888748, 0.0, 129.0, 1.0]), 129.86782627823695, 10.0)  # x + w rounded 1 ulp past width
def test_clip_stays_inside(box, width, height):
    clipped = boxes.clip_xywh(box, width, height)
    x0, y0, x1, y1 = boxes.xywh_to_xyxy(clipped)
    assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
