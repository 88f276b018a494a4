"""Crops (data/crops.py): the square rule against measured pixels, the inverse transform, mean
padding; the LoRAT (SiamFC) and OSTrack rules against windows computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracktune.boxes import xywh_to_xyxy
from tracktune.data.crops import (CropTransform, clamp_box_size, crop_around, crop_window, lorat_crop, lorat_mask_cells,
                                  ostrack_crop, ostrack_label_transform, resolve_pipeline, siamfc_jittered_params,
                                  siamfc_params)
from tracktune.errors import ConfigError, DataError


def measured_extent(mask_1d: np.ndarray) -> tuple[int, int]:
    idx = np.flatnonzero(mask_1d)
    return int(idx[0]), int(idx[-1]) + 1


# OpenCV's warps resolve source coordinates to 1/32 pixel (INTER_BITS = 5)
HALF_PIXEL = 0.5 + 1 / 32


@pytest.mark.parametrize("factor,out_size,jitter,flipped", [
    (2.0, 112, 0.0, False),   # template-like, upscaled
    (4.0, 224, 0.25, False),  # search-like, jittered
    (4.0, 224, 0.25, True),
    (2.0, 32, 0.0, True),     # downscaled
    (4.0, 48, 0.25, False),
])
def test_box_lands_where_its_pixels_do(factor, out_size, jitter, flipped):
    rng = np.random.default_rng(7)
    for _ in range(6):
        image = np.zeros((200, 260, 3), np.uint8)
        x, y = int(rng.integers(40, 160)), int(rng.integers(40, 110))
        w, h = int(rng.integers(14, 60)), int(rng.integers(14, 60))
        image[y : y + h, x : x + w] = 255
        crop, transform = crop_around(image, [x, y, w, h], factor, out_size, scale_jitter=jitter,
                                      center_jitter=3.0 if jitter else 0.0, rng=rng, flipped=flipped, pad_value=0)
        predicted = transform.frame_to_crop(xywh_to_xyxy(np.array([x, y, w, h], float)))
        predicted = np.clip(predicted, 0, out_size)  # jitter may push the box past the crop's edge
        inside = crop[..., 0] > 127
        # independent measurement: first and last crop pixels whose centre is on the target
        cols = measured_extent(inside.any(0))
        rows = measured_extent(inside.any(1))
        assert abs(cols[0] - predicted[0]) <= HALF_PIXEL and abs(cols[1] - predicted[2]) <= HALF_PIXEL
        assert abs(rows[0] - predicted[1]) <= HALF_PIXEL and abs(rows[1] - predicted[3]) <= HALF_PIXEL


def test_crop_side_and_centre_follow_ostrack_convention():
    t = crop_window([85, 69, 30, 12], 4.0, 224)
    assert t.side == pytest.approx(76.0)  # ceil(4 * sqrt(360)) = ceil(75.89)
    assert t.x0 == pytest.approx(100 - 38) and t.y0 == pytest.approx(75 - 38)
    # the box centre maps to the crop centre
    np.testing.assert_allclose(t.frame_to_crop([85, 69, 115, 81]), [112 - 15 * 224 / 76, 112 - 6 * 224 / 76,
                                                                 112 + 15 * 224 / 76, 112 + 6 * 224 / 76])


def test_crop_to_frame_inverts_frame_to_crop():
    rng = np.random.default_rng(0)
    for flipped in (False, True):
        t = CropTransform(x0=13.3, y0=-7.25, scale=1.7, out_size=224, flipped=flipped)
        boxes = np.sort(rng.uniform(-50, 300, (10, 2, 2)), axis=1).transpose(0, 2, 1).reshape(10, 4)[:, [0, 2, 1, 3]]
        np.testing.assert_allclose(t.crop_to_frame(t.frame_to_crop(boxes)), boxes, atol=1e-9)
        np.testing.assert_allclose(t.crop_to_frame(t.frame_to_crop(boxes, True), True), boxes, atol=1e-9)


def test_padding_is_the_image_mean():
    image = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    expected = np.round(image.reshape(-1, 3).astype(np.float64).mean(0))
    crop, t = crop_around(image, [0, 0, 12, 10], 4.0, 64)
    # crop pixels mapping at least one source pixel left of / above the frame are pure padding
    corner = t.frame_to_crop([-1.0, -1.0, -1.0, -1.0])
    n = int(np.floor(min(corner[0], corner[1]))) - 1
    assert n >= 4
    block = crop[:n, :n].reshape(-1, 3).astype(np.float64)
    np.testing.assert_array_equal(block, np.broadcast_to(expected, block.shape))
    # and the same region of the bottom-right corner crop
    crop2, t2 = crop_around(image, [110, 82, 10, 8], 4.0, 64)
    far = t2.frame_to_crop([121.0, 91.0, 121.0, 91.0])
    m = int(np.ceil(max(far[0], far[1]))) + 1
    np.testing.assert_array_equal(crop2[m:, m:].reshape(-1, 3), np.broadcast_to(expected, crop2[m:, m:].reshape(-1, 3).shape))



@pytest.mark.parametrize("box, factor, out, side", [
    # (x0, y0, x1, y1), context p = (f - 1) (w + h) / 2, side = sqrt((w + p) (h + p))
    ((100, 50, 140, 130), 4.0, 224, math.sqrt((40 + 180) * (80 + 180))),  # tall: p = 3 * 120 / 2
    ((10, 10, 110, 20), 2.0, 112, math.sqrt((100 + 55) * (10 + 55))),  # wide: p = 110 / 2
    ((0, 0, 64, 64), 4.0, 224, 64 * 4.0),  # square: the side is exactly factor * w
    ((-30, 200, 10, 260), 4.0, 224, math.sqrt((40 + 150) * (60 + 150))),  # leaving the frame: p = 3 * 100 / 2
])
def test_siamfc_window_by_hand(box, factor, out, side):
    scale, translation = siamfc_params(np.array(box, float), factor, out)
    assert scale[0] == scale[1] == pytest.approx(out / side, rel=1e-12)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    np.testing.assert_allclose(translation, [out / 2 - cx * out / side, out / 2 - cy * out / side], rtol=1e-12)


def test_boxes_under_ten_pixels_are_clamped_about_their_centre():
    # a 4 x 3 box at centre (52, 31.5) becomes 10 x 10: context p = 3 * 20 / 2 = 30 -> side 40
    window = clamp_box_size(np.array([50.0, 30.0, 54.0, 33.0]), 10.0)
    np.testing.assert_allclose(window, [47.0, 26.5, 57.0, 36.5])
    scale, _ = siamfc_params(window, 4.0, 224)
    assert scale[0] == pytest.approx(224 / 40)
    # only the short side is raised: 30 x 4 -> 30 x 10
    np.testing.assert_allclose(clamp_box_size(np.array([0.0, 0.0, 30.0, 4.0]), 10.0), [0, -3, 30, 7])


def test_jittered_window_by_hand():
    box = np.array([100.0, 50.0, 140.0, 130.0])
    scale0, _ = siamfc_params(box, 4.0, 224)
    g, u = np.array([0.5, -1.0]), np.array([0.75, 0.25])
    scale, translation = siamfc_jittered_params(box, 4.0, 224, 0.25, 3.0, g, u)
    np.testing.assert_allclose(scale, scale0 / np.exp(g * 0.25))
    shift = (40 * scale[0] + 80 * scale[1]) * 0.5 * 3.0  # the largest move, in output pixels
    np.testing.assert_allclose(translation, [112 - 120 * scale[0] + 0.5 * shift, 112 - 90 * scale[1] - 0.5 * shift])


def _upsample2(region: np.ndarray) -> np.ndarray:
    """2x bilinear with half-pixel centres and edge clamping, written out per axis."""
    def axis(a, n):
        out = []
        for i in range(2 * n):
            source = (i + 0.5) / 2 - 0.5
            lo = math.floor(source)
            t = source - lo
            lo_c, hi_c = min(max(lo, 0), n - 1), min(max(lo + 1, 0), n - 1)
            out.append((1 - t) * np.take(a, lo_c, axis=0) + t * np.take(a, hi_c, axis=0))
        return np.stack(out)
    return axis(axis(region, region.shape[0]).swapaxes(0, 1), region.shape[1]).swapaxes(0, 1)


def test_lorat_crop_is_pixel_aligned_by_hand():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 60, 3)).astype(np.uint8)  # H 40, W 60
    # scale 2, translation (-10, 6): the frame [0, 60] x [0, 40] lands on [-10, 110] x [6, 86],
    # clipped to the 64 px crop: output [0, 64) x [6, 64); back in the frame: x [5, 37), y [0, 29)
    crop, transform = lorat_crop(image, [2.0, 2.0], [-10.0, 6.0], 64, pad_value=(1.0, 2.0, 3.0))
    assert crop.dtype == np.float32 and crop.shape == (64, 64, 3)
    np.testing.assert_array_equal(crop[:6], np.broadcast_to(np.float32([1, 2, 3]), (6, 64, 3)))
    expected = _upsample2(image[0:29, 5:37].astype(np.float64))  # 29 x 32 -> 58 x 64
    np.testing.assert_allclose(crop[6:64], expected, atol=1e-4)
    # the adjusted transform: scale 2 both ways, frame (5, 0) -> crop (0, 6)
    assert (transform.x0, transform.y0, transform.scale, transform.sy) == (5.0, -3.0, 2.0, 2.0)
    np.testing.assert_allclose(transform.frame_to_crop([5, 0, 37, 29]), [0, 6, 64, 64])
    # a non-integer window: adjusted per axis from the integer regions (they differ here)
    _, transform = lorat_crop(image, [1.3, 1.3], [3.3, -2.7], 64)
    x_out = (math.floor(0 * 1.3 + 3.3), math.floor(min(60 * 1.3 + 3.3, 64) + 1 - 1e-4))  # [3, 64)
    x_in = (max(math.floor(x_out[0] / 1.3 - 3.3 / 1.3), 0),  # floor(-0.23) = -1, clipped to 0
            math.floor(x_out[1] / 1.3 - 3.3 / 1.3 + 1 - 1e-4))  # [0, 47)
    y_out = (0, math.floor(40 * 1.3 - 2.7 + 1 - 1e-4))  # [0, 50)
    y_in = (math.floor(0 / 1.3 + 2.7 / 1.3), math.floor(y_out[1] / 1.3 + 2.7 / 1.3 + 1 - 1e-4))  # [2, 41) -> 40
    y_in = (y_in[0], min(y_in[1], 40))
    assert transform.scale == pytest.approx((x_out[1] - x_out[0]) / (x_in[1] - x_in[0]), rel=1e-6)
    assert transform.sy == pytest.approx((y_out[1] - y_out[0]) / (y_in[1] - y_in[0]), rel=1e-6)
    assert transform.scale != pytest.approx(transform.sy, rel=1e-3)


def test_lorat_training_crop_matches_the_exact_crop_within_a_hundredth_of_a_grey_level():
    rng = np.random.default_rng(3)
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(20, 200, 2))
        image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
        scale = rng.uniform(0.3, 3.0, 2)
        translation = rng.uniform(-60, 60, 2)
        exact, t_exact = lorat_crop(image, scale, translation, 64)
        fast, t_fast = lorat_crop(image, scale, translation, 64, exact=False)
        assert t_exact == t_fast
        np.testing.assert_allclose(fast, exact, atol=0.01)
    # and against the bilinear formula written out (a 2x upsampling)
    crop, _ = lorat_crop(image[:20, :30], [2.0, 2.0], [0.0, 0.0], 40, exact=False)
    np.testing.assert_allclose(crop, _upsample2(image[:20, :20].astype(np.float64)), atol=0.01)


def test_lorat_crop_pads_a_window_leaving_the_frame_with_the_mean():
    image = np.full((30, 30, 3), 200, np.uint8)
    image[:, :15] = 100  # mean 150
    crop, _ = lorat_crop(image, *siamfc_params(np.array([-40.0, 5.0, -30.0, 15.0]), 4.0, 32), 32)
    assert np.allclose(crop[:, :5], 150.0)  # left of the frame: the frame's mean


def test_ostrack_window_by_hand():
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, (40, 50, 3)).astype(np.uint8)  # H 40, W 50
    # side = ceil(sqrt(30 * 40) * 2) = ceil(69.28) = 70; corner round(25.5 - 35) = round(-9.5) = -10
    # (half to even), round(40 - 35) = 5; window x [-10, 60), y [5, 75): pads x 10 | 60 - 50 + 1 = 11,
    # y 0 | 75 - 40 + 1 = 36 (OSTrack's far-edge pad is one more than needed: row 39 and column
    # 49 of the frame are replaced by zeros)
    crop, transform, side = ostrack_crop(image, [10.5, 20.0, 30.0, 40.0], 2.0, 70)
    assert side == 70
    expected = np.zeros((70, 70, 3), np.uint8)
    expected[0:34, 10:59] = image[5:39, 0:49]
    np.testing.assert_array_equal(crop, expected)
    # boxes map back around the unrounded centre (25.5, 40): x0 = 25.5 - 35, scale 70 / 70
    assert (transform.x0, transform.y0, transform.scale) == (-9.5, 5.0, 1.0)
    # training labels put the window centre at (out - 1) / 2
    label = ostrack_label_transform(transform)
    np.testing.assert_allclose(label.frame_to_crop([25.5, 40.0, 25.5, 40.0])[:2], [34.5, 34.5])
    # resized: 140 px window (factor 4) to 70 px
    _, transform, side = ostrack_crop(image, [10.5, 20.0, 30.0, 40.0], 4.0, 70)
    assert side == math.ceil(math.sqrt(1200) * 4) == 139 and transform.scale == 70 / 139
    # a box far smaller than a pixel still gives a window; a window under one pixel is an error
    assert ostrack_crop(image, [20, 20, 0.3, 0.3], 4.0, 16)[2] == 2
    with pytest.raises(DataError, match="under 1 pixel"):
        ostrack_crop(image, [20, 20, 0.01, 0.01], 0.0, 16)
    # a window off the frame is all zeros
    assert not ostrack_crop(image, [200, 200, 10, 10], 2.0, 16)[0].any()


def test_lorat_foreground_cells_by_hand():
    # box (10, 20, 45, 60) / 14 = (0.71, 1.43, 3.21, 4.29): columns floor(0.71) = 0 up to
    # floor(3.21 + 1 - 1e-4) = 4 (exclusive), rows 1 up to 5
    mask = lorat_mask_cells([10, 20, 45, 60], 14, (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[1:5, 0:4] = True
    np.testing.assert_array_equal(mask, expected)
    # an edge within 1e-4 of a cell boundary does not reach into the next cell; off-grid parts are clipped
    mask = lorat_mask_cells([-20, 14 * 6, 14 * 3 + 1e-5 * 14, 200], 14, (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[6:8, 0:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_pipeline_names():
    assert resolve_pipeline(None, "lorat") == "lorat" and resolve_pipeline(None, "ostrack") == "ostrack"
    assert resolve_pipeline("square", "lorat") == "square"
    with pytest.raises(ConfigError, match="track.pipeline"):
        resolve_pipeline("siamfc", "lorat")
