"""Crops (data/crops.py): crop geometry against measured pixels, OSTrack's window convention,
the inverse transform, mean padding."""

from __future__ import annotations

import numpy as np
import pytest

from tracktune.boxes import xywh_to_xyxy
from tracktune.data.crops import CropTransform, crop_around, crop_window


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
