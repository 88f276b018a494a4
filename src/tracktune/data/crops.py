"""Crops: a square window around a box, warped to the network's input size, and the
similarity that maps boxes between frame and crop coordinates.

The one home of crops: training pairs (`tracktune.data.pairs`) and the tracker's inference
crops (`tracktune.track.tracker`) both use it, so a model fine-tunes on what it tracks on.

Crop geometry (OSTrack, botaoye/OSTrack `lib/train/data/processing_utils.py`
`sample_target`): a square of side `ceil(sqrt(w * h) * factor)` centred on the box, padded with
the frame's per-channel mean, resized to `out_size` by one `cv2.warpAffine` (crop, resize and
horizontal flip folded into one matrix). Departure: continuous pixel coordinates throughout
(pixel i spans [i, i + 1]) and an unrounded corner, so a box lands exactly where its pixels do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from tracktune.errors import DataError




@dataclass(frozen=True)
class CropTransform:
    """The similarity from frame to crop coordinates: `u = (x - x0) * scale` (mirrored to
    `out_size - u` when `flipped`), in continuous pixel coordinates (pixel i spans [i, i+1])."""

    x0: float
    y0: float
    scale: float
    out_size: int
    flipped: bool = False

    @property
    def side(self) -> float:
        """The crop's side in frame pixels."""
        return self.out_size / self.scale

    def warp_matrix(self) -> np.ndarray:
        """2x3 frame-pixel-index -> crop-pixel-index matrix for `cv2.warpAffine`."""
        s = self.scale
        # pixel index i has its centre at i + 0.5 in continuous coordinates
        tx = s * (0.5 - self.x0) - 0.5
        ty = s * (0.5 - self.y0) - 0.5
        if self.flipped:
            return np.array([[-s, 0.0, self.out_size - 1 - tx], [0.0, s, ty]], dtype=np.float64)
        return np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64)

    def frame_to_crop(self, boxes_xyxy, normalised: bool = False) -> np.ndarray:
        """Frame `xyxy` boxes (..., 4) -> crop `xyxy` (pixels, or 0..1 with `normalised`)."""
        b = np.asarray(boxes_xyxy, dtype=np.float64)
        x0 = (b[..., 0] - self.x0) * self.scale
        x1 = (b[..., 2] - self.x0) * self.scale
        if self.flipped:
            x0, x1 = self.out_size - x1, self.out_size - x0
        out = np.stack([x0, (b[..., 1] - self.y0) * self.scale, x1, (b[..., 3] - self.y0) * self.scale], axis=-1)
        return out / self.out_size if normalised else out

    def crop_to_frame(self, boxes_xyxy, normalised: bool = False) -> np.ndarray:
        """Crop `xyxy` boxes (..., 4; pixels, or 0..1 with `normalised`) -> frame `xyxy`."""
        b = np.asarray(boxes_xyxy, dtype=np.float64)
        if normalised:
            b = b * self.out_size
        u0, u1 = b[..., 0], b[..., 2]
        if self.flipped:
            u0, u1 = self.out_size - u1, self.out_size - u0
        return np.stack(
            [u0 / self.scale + self.x0, b[..., 1] / self.scale + self.y0, u1 / self.scale + self.x0,
             b[..., 3] / self.scale + self.y0],
            axis=-1,
        )


def jitter_box(box_xywh, scale_jitter: float, center_jitter: float, gaussians, uniforms) -> np.ndarray:
    """OSTrack's jittered box: size `* exp(gaussians * scale_jitter)`, centre moved by
    `(uniforms - 0.5) * center_jitter * sqrt(jittered area)`. `gaussians` ~ N(0, 1) and
    `uniforms` ~ U(0, 1), two each, are passed in so callers control the random stream."""
    x, y, w, h = (float(v) for v in box_xywh)
    size = np.array([w, h]) * np.exp(np.asarray(gaussians, dtype=np.float64) * scale_jitter)
    offset = math.sqrt(size[0] * size[1]) * center_jitter
    centre = np.array([x + w / 2, y + h / 2]) + offset * (np.asarray(uniforms, dtype=np.float64) - 0.5)
    return np.array([centre[0] - size[0] / 2, centre[1] - size[1] / 2, size[0], size[1]])


def crop_window(box_xywh, factor: float, out_size: int, flipped: bool = False) -> CropTransform:
    """The square of side `ceil(sqrt(w * h) * factor)` (at least 1 pixel) centred on the box."""
    x, y, w, h = (float(v) for v in box_xywh)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise DataError(f"cannot crop around box {list(box_xywh)}: needs finite values and positive size")
    side = max(1.0, float(math.ceil(math.sqrt(w * h) * factor)))
    return CropTransform(x + w / 2 - side / 2, y + h / 2 - side / 2, out_size / side, out_size, flipped)


def image_mean(image: np.ndarray) -> tuple[float, ...]:
    """Per-channel mean of an HxWxC image (the padding value)."""
    return tuple(cv2.mean(image)[: image.shape[2] if image.ndim == 3 else 1])


def warp_crop(image: np.ndarray, transform: CropTransform, pad_value=None) -> np.ndarray:
    """One `cv2.warpAffine` (bilinear): the crop, resized (and mirrored), padded with
    `pad_value` (default: the image's per-channel mean) where it leaves the frame."""
    if pad_value is None:
        pad_value = image_mean(image)
    border = (float(pad_value),) * 4 if np.ndim(pad_value) == 0 else tuple(float(v) for v in pad_value)
    return cv2.warpAffine(
        image,
        transform.warp_matrix(),
        (transform.out_size, transform.out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


def crop_around(
    image: np.ndarray,
    box_xywh,
    factor: float,
    out_size: int,
    scale_jitter: float = 0.0,
    center_jitter: float = 0.0,
    rng: np.random.Generator | None = None,
    flipped: bool = False,
    pad_value=None,
) -> tuple[np.ndarray, CropTransform]:
    """Crop a square region around `box_xywh` (area factor `factor`) resized to `out_size`.

    The one place for crops: training pairs and the tracker's inference crops both use it.
    With `scale_jitter` / `center_jitter` (and an `rng`) the window is OSTrack-jittered.
    Returns the crop (out_size x out_size x C, the image's dtype) and the `CropTransform` that
    maps boxes between frame and crop (`transform.crop_to_frame(pred, normalised=True)`).
    """
    box = np.asarray(box_xywh, dtype=np.float64)
    if scale_jitter or center_jitter:
        if rng is None:
            raise ValueError("crop_around: jitter needs an rng")
        box = jitter_box(box, scale_jitter, center_jitter, rng.standard_normal(2), rng.random(2))
    transform = crop_window(box, factor, out_size, flipped)
    return warp_crop(image, transform, pad_value), transform


def to_chw(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> contiguous (3, H, W) uint8 tensor (cv2.split: twice numpy's transpose copy)."""
    return torch.from_numpy(np.stack(cv2.split(image)))
