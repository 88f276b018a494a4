"""Crops: a window around a box, resized to the network's input size, and the transform that
maps boxes between frame and crop coordinates.

The one home of crops: training pairs (`tracktune.data.pairs`) and the tracker's inference
crops (`tracktune.track.tracker`) both use it, so a model fine-tunes on what it tracks on.
Three crop rules, one per tracking pipeline (`track.pipeline`, see `tracktune.track.tracker`):

- `square` (tracktune's own rule; `crop_window`, `crop_around`): a square of side
  `ceil(sqrt(w * h) * factor)` centred on the box, padded with the frame's per-channel mean,
  resized by one `cv2.warpAffine` (crop, resize and horizontal flip folded into one matrix),
  in continuous pixel coordinates (pixel i spans [i, i + 1]) with an unrounded corner, so a
  box lands exactly where its pixels do.
- `lorat` (LitingLin/LoRAT, `trackit/core/utils/siamfc_cropping.py`
  `get_scale_and_translation_factors` / `apply_siamfc_cropping`, and
  `trackit/core/operator/scale_and_translate.py` `scale_and_translate`; `siamfc_params`,
  `lorat_crop`): the SiamFC context rule, scale `s = sqrt(out_w * out_h / ((w + (f-1)(w+h)/2)
  * (h + (f-1)(w+h)/2)))` (the window side is `out / s`), the box centre to the crop centre;
  the crop is pixel-aligned: the frame rectangle mapped into the crop is clipped and rounded
  out to whole output pixels, mapped back and rounded out to whole input pixels, and that
  input region is resized onto that output region (bilinear, half-pixel centres, no
  antialiasing: `F.interpolate(align_corners=False)`) in float32 (the crop is not rounded to
  uint8); the rest is the padding value (the frame's per-channel mean). Boxes map through
  the adjusted (per-axis) scale and translation those integer regions imply. At tracking time
  the box is first clamped to at least 10 px per side around its centre
  (`SiamFCCroppingParameterSimpleProvider`, `min_object_size: 10`). Training jitter as
  `get_jittered_scale_and_translation_factors` (`siamfc_jittered_params`).
- `ostrack` (botaoye/OSTrack, `lib/train/data/processing_utils.py` `sample_target`;
  `ostrack_crop`): an integer square of side `ceil(sqrt(w * h) * factor)` whose corner is
  `round(centre - side / 2)` (Python's round, half to even), zero padding by
  `cv2.copyMakeBorder` (with the reference's extra padded row / column at the far edge,
  `x2 - W + 1`), resized by `cv2.resize` (bilinear, uint8). Boxes map back around the
  unrounded centre as `map_box_back` in `lib/test/tracker/ostrack.py` does; training labels
  as `transform_image_to_crop` (centre at `(out - 1) / 2`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from tracktune.errors import ConfigError, DataError




@dataclass(frozen=True)
class CropTransform:
    """The map from frame to crop coordinates: `u = (x - x0) * scale`, `v = (y - y0) * scale_y`
    (mirrored to `out_size - u` when `flipped`), in continuous pixel coordinates (pixel i spans
    [i, i+1]). `scale_y` None: the same as `scale` (a similarity)."""

    x0: float
    y0: float
    scale: float
    out_size: int
    flipped: bool = False
    scale_y: float | None = None

    @property
    def sy(self) -> float:
        return self.scale if self.scale_y is None else self.scale_y

    @property
    def side(self) -> float:
        """The crop's side in frame pixels."""
        return self.out_size / self.scale

    def warp_matrix(self) -> np.ndarray:
        """2x3 frame-pixel-index -> crop-pixel-index matrix for `cv2.warpAffine`."""
        s, sy = self.scale, self.sy
        # pixel index i has its centre at i + 0.5 in continuous coordinates
        tx = s * (0.5 - self.x0) - 0.5
        ty = sy * (0.5 - self.y0) - 0.5
        if self.flipped:
            return np.array([[-s, 0.0, self.out_size - 1 - tx], [0.0, sy, ty]], dtype=np.float64)
        return np.array([[s, 0.0, tx], [0.0, sy, ty]], dtype=np.float64)

    def frame_to_crop(self, boxes_xyxy, normalised: bool = False) -> np.ndarray:
        """Frame `xyxy` boxes (..., 4) -> crop `xyxy` (pixels, or 0..1 with `normalised`)."""
        b = np.asarray(boxes_xyxy, dtype=np.float64)
        x0 = (b[..., 0] - self.x0) * self.scale
        x1 = (b[..., 2] - self.x0) * self.scale
        if self.flipped:
            x0, x1 = self.out_size - x1, self.out_size - x0
        out = np.stack([x0, (b[..., 1] - self.y0) * self.sy, x1, (b[..., 3] - self.y0) * self.sy], axis=-1)
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
            [u0 / self.scale + self.x0, b[..., 1] / self.sy + self.y0, u1 / self.scale + self.x0,
             b[..., 3] / self.sy + self.y0],
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


# --------------------------------------------------------------------------------------
# The `lorat` rule: SiamFC context window, pixel-aligned crop (see the module docstring)
# --------------------------------------------------------------------------------------

# LoRAT's tracking-time minimum box side (config `search_region_cropping.min_object_size`)
LORAT_MIN_OBJECT_SIZE = 10.0


def _box_xyxy(box_xywh, what: str = "box") -> np.ndarray:
    x, y, w, h = (float(v) for v in np.asarray(box_xywh, dtype=np.float64).reshape(4))
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise DataError(f"cannot crop around {what} {list(np.asarray(box_xywh).reshape(-1))}: "
                        "needs finite values and positive size")
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def clamp_box_size(box_xyxy, min_size: float) -> np.ndarray:
    """xyxy box with width and height raised to at least `min_size` about its centre (LoRAT's
    `_adjust_bbox_size`: via centre / size and back)."""
    b = np.asarray(box_xyxy, dtype=np.float64)
    cx, cy = (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0
    w, h = max(b[2] - b[0], min_size), max(b[3] - b[1], min_size)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=np.float64)


def siamfc_params(box_xyxy, factor: float, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale (2,), translation (2,)) of the SiamFC context window: `u = x * scale + t`.

    The context side is `sqrt((w + p) * (h + p))` with `p = (factor - 1) * (w + h) / 2`; the
    scale maps it onto `out_size`, and the box centre onto the crop centre `out_size / 2`
    (LoRAT `siamfc_cropping.py` `_get_scale_from_area_factor`, `get_scale_and_translation_factors`)."""
    b = np.asarray(box_xyxy, dtype=np.float64)
    wh = np.array([b[2] - b[0], b[3] - b[1]])
    area = wh + (factor - 1.0) * (wh.sum() * 0.5)
    out = np.array([out_size, out_size])
    scale = np.sqrt(out.prod() / area.prod()).repeat(2)
    centre = np.array([(b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5])
    return scale, out / 2.0 - centre * scale


def siamfc_jittered_params(box_xyxy, factor: float, out_size: int, scale_jitter: float, translation_jitter: float,
                           gaussians, uniforms) -> tuple[np.ndarray, np.ndarray]:
    """LoRAT's training jitter (`get_jittered_scale_and_translation_factors`): per-axis scale
    `/ exp(gaussians * scale_jitter)`, then the translation moved by `(2 * uniforms - 1) *
    translation_jitter * (w * sx + h * sy) / 2` output pixels. `gaussians` ~ N(0, 1) and
    `uniforms` ~ U(0, 1), two each, come from the caller's random stream."""
    b = np.asarray(box_xyxy, dtype=np.float64)
    scale, _ = siamfc_params(b, factor, out_size)
    scale = scale / np.exp(np.asarray(gaussians, dtype=np.float64) * scale_jitter)
    centre = np.array([(b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5])
    translation = np.array([out_size, out_size]) / 2.0 - centre * scale
    wh = np.array([b[2] - b[0], b[3] - b[1]])
    max_translate = (wh * scale).sum() * 0.5 * translation_jitter
    return scale, translation + (2.0 * np.asarray(uniforms, dtype=np.float64) - 1.0) * max_translate


def _map_xyxy(box, scale, translation) -> np.ndarray:
    # LoRAT's bbox_scale_and_translate: multiply, then add, per axis (the same rounding)
    out = np.array(box, dtype=np.float64)
    out[0::2] *= scale[0]
    out[0::2] += translation[0]
    out[1::2] *= scale[1]
    out[1::2] += translation[1]
    return out


def _rasterise(box) -> np.ndarray:
    # LoRAT's bbox_rasterize_: floor(x0), floor(x1 + 1 - 1e-4) (end exclusive)
    out = np.array(box, dtype=np.float64)
    out[2:] += 1.0 - 1e-4
    return np.floor(out)


def _clip(box, width: float, height: float) -> np.ndarray:
    return np.array([min(max(box[0], 0), width), min(max(box[1], 0), height),
                     min(max(box[2], 0), width), min(max(box[3], 0), height)], dtype=np.float64)


def lorat_crop(image: np.ndarray, scale, translation, out_size: int, pad_value=None,
               flipped: bool = False, exact: bool = True) -> tuple[np.ndarray, CropTransform]:
    """LoRAT's pixel-aligned crop (`scale_and_translate` with `return_adjusted_params`).

    image: HxWxC (uint8 or float). Returns the float32 crop (out_size x out_size x C) and the
    `CropTransform` of the adjusted parameters (the integer input region onto the integer
    output region), per axis. `pad_value`: per-channel padding (default: the image's mean).
    Departure: when the window misses the frame entirely (nothing to interpolate), the
    transform is the nominal one (LoRAT's adjusted parameters are then undefined).
    `exact=False` (training pairs, rounded to uint8 next) resizes with `cv2.resize` (bilinear,
    half-pixel centres): the same formula, within 0.01 of a grey level of `F.interpolate` in
    float32, and about a fifth of its cost; the tracker keeps `exact=True`."""
    scale = np.asarray(scale, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    height, width = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    if pad_value is None:
        pad_value = image_mean(image)
    pad = np.broadcast_to(np.asarray(pad_value, dtype=np.float32), (channels,))
    crop = np.empty((out_size, out_size, channels), dtype=np.float32)
    crop[:] = pad
    output_box = _rasterise(_clip(_map_xyxy([0.0, 0.0, width, height], scale, translation), out_size, out_size))
    input_box = _rasterise(_map_xyxy(output_box, 1.0 / scale, -translation / scale))
    input_box = _clip(input_box, width, height)
    ox0, oy0, ox1, oy1 = (int(v) for v in output_box)
    ix0, iy0, ix1, iy1 = (int(v) for v in input_box)
    if ox0 < ox1 and oy0 < oy1 and ix0 < ix1 and iy0 < iy1:
        region = np.asarray(image[iy0:iy1, ix0:ix1], dtype=np.float32).reshape(iy1 - iy0, ix1 - ix0, channels)
        if exact:  # a channels-last view: the same kernel's result, without a transposed copy
            source = torch.from_numpy(region).permute(2, 0, 1)[None]
            resized = torch.nn.functional.interpolate(source, (oy1 - oy0, ox1 - ox0), mode="bilinear",
                                                      align_corners=False)
            crop[oy0:oy1, ox0:ox1] = resized[0].permute(1, 2, 0).numpy()
        else:
            resized = cv2.resize(region, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR)
            crop[oy0:oy1, ox0:ox1] = resized.reshape(oy1 - oy0, ox1 - ox0, channels)
        # adjusted parameters, in float32 as LoRAT computes them from its integer boxes
        in_box, out_box = input_box.astype(np.float32), output_box.astype(np.float32)
        real_scale = (out_box[2:] - out_box[:2]) / (in_box[2:] - in_box[:2])
        real_translation = out_box[:2] - in_box[:2] * real_scale
        scale, translation = real_scale.astype(np.float64), real_translation.astype(np.float64)
    if flipped:
        crop = np.ascontiguousarray(crop[:, ::-1])
    if image.ndim == 2:
        crop = crop[..., 0]
    transform = CropTransform(float(-translation[0] / scale[0]), float(-translation[1] / scale[1]),
                              float(scale[0]), out_size, flipped, float(scale[1]))
    return crop, transform


def lorat_mask_cells(box_in_crop_xyxy, stride: float, grid: tuple[int, int]) -> np.ndarray:
    """(Gh, Gw) bool: LoRAT's template foreground cells (`get_foreground_bounding_box`): the box
    in crop pixels divided by the patch stride, rasterised (floor, floor(x1 + 1 - 1e-4)) and
    clipped to the grid."""
    b = np.asarray(box_in_crop_xyxy, dtype=np.float64) / stride
    cells = _clip(_rasterise(b), grid[1], grid[0]).astype(int)
    mask = np.zeros(grid, dtype=bool)
    mask[cells[1]:cells[3], cells[0]:cells[2]] = True
    return mask


# --------------------------------------------------------------------------------------
# The `ostrack` rule: integer window, zero padding (see the module docstring)
# --------------------------------------------------------------------------------------


def ostrack_crop(image: np.ndarray, box_xywh, factor: float, out_size: int,
                 flipped: bool = False) -> tuple[np.ndarray, CropTransform, int]:
    """OSTrack's `sample_target`: (crop out_size x out_size, same dtype as the image; the
    `CropTransform` of `map_box_back`, around the box's unrounded centre; the integer window
    side `crop_sz`). `flipped` mirrors the crop and the transform (training only)."""
    x, y, w, h = (float(v) for v in np.asarray(box_xywh, dtype=np.float64).reshape(4))
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise DataError(f"cannot crop around box {[x, y, w, h]}: needs finite values and positive size")
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise DataError(f"cannot crop around box {[x, y, w, h]}: the window ({factor} x sqrt(area)) is under 1 pixel")
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    height, width = image.shape[:2]
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad, y2_pad = max(x2 - width + 1, 0), max(y2 - height + 1, 0)
    region = image[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad]
    if region.size == 0:  # the window misses the frame: all padding
        padded = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    else:
        padded = cv2.copyMakeBorder(region, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
    crop = cv2.resize(padded, (out_size, out_size))
    if flipped:
        crop = np.ascontiguousarray(crop[:, ::-1])
    resize_factor = out_size / side
    transform = CropTransform(x + 0.5 * w - 0.5 * out_size / resize_factor, y + 0.5 * h - 0.5 * out_size / resize_factor,
                              resize_factor, out_size, flipped)
    return crop, transform, side


def ostrack_label_transform(transform: CropTransform) -> CropTransform:
    """The frame -> crop map of OSTrack's training labels (`transform_image_to_crop`): the
    window centre lands on `(out - 1) / 2`, half an output pixel before `map_box_back`'s."""
    shift = 0.5 / transform.scale
    return CropTransform(transform.x0 + shift, transform.y0 + shift, transform.scale, transform.out_size,
                         transform.flipped, transform.scale_y)


PIPELINES = ("lorat", "ostrack", "square")


def resolve_pipeline(pipeline: str | None, design: str) -> str:
    """`track.pipeline`, or the design's reference tracker when it is null."""
    chosen = design if pipeline is None else pipeline
    if chosen not in PIPELINES:
        raise ConfigError(f"track.pipeline: unknown pipeline {chosen!r} (choose from {', '.join(PIPELINES)})")
    return chosen
