"""Box formats and geometry: the one place for them.

Formats: `xywh` (top-left corner, width, height; what datasets store), `xyxy` (corners),
`cxcywh` (centre, size). Every function works on numpy arrays and torch tensors of shape
(..., 4) alike, so data, model, losses and evaluation share one implementation.

This module never imports torch (the benchmark loaders and evaluation use it without torch):
given a tensor, it takes the torch module from `sys.modules`, where it must already be.
"""

from __future__ import annotations

import sys

import numpy as np


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _torch():
    """The torch module, for tensor inputs only (a tensor exists, so torch is imported)."""
    return sys.modules["torch"]


def _stack(parts, like):
    if not _is_torch(like):
        return np.stack(parts, axis=-1)
    return _torch().stack(parts, dim=-1)


def _as_array(boxes):
    if isinstance(boxes, np.ndarray) or _is_torch(boxes):
        return boxes
    return np.asarray(boxes, dtype=np.float64)


def xywh_to_xyxy(boxes):
    b = _as_array(boxes)
    return _stack([b[..., 0], b[..., 1], b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]], b)


def xyxy_to_xywh(boxes):
    b = _as_array(boxes)
    return _stack([b[..., 0], b[..., 1], b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], b)


def xywh_to_cxcywh(boxes):
    b = _as_array(boxes)
    return _stack([b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2, b[..., 2], b[..., 3]], b)


def cxcywh_to_xywh(boxes):
    b = _as_array(boxes)
    return _stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 2], b[..., 3]], b)


def xyxy_to_cxcywh(boxes):
    return xywh_to_cxcywh(xyxy_to_xywh(boxes))


def cxcywh_to_xyxy(boxes):
    return xywh_to_xyxy(cxcywh_to_xywh(boxes))


def _minimum(a, b):
    return np.minimum(a, b) if not _is_torch(a) else a.minimum(b)


def _maximum(a, b):
    return np.maximum(a, b) if not _is_torch(a) else a.maximum(b)


def _clamp_min(a, value):
    return np.maximum(a, value) if not _is_torch(a) else a.clamp(min=value)


def _intersection_union_xyxy(a, b):
    ix0, iy0 = _maximum(a[..., 0], b[..., 0]), _maximum(a[..., 1], b[..., 1])
    ix1, iy1 = _minimum(a[..., 2], b[..., 2]), _minimum(a[..., 3], b[..., 3])
    inter = _clamp_min(ix1 - ix0, 0) * _clamp_min(iy1 - iy0, 0)
    area_a = _clamp_min(a[..., 2] - a[..., 0], 0) * _clamp_min(a[..., 3] - a[..., 1], 0)
    area_b = _clamp_min(b[..., 2] - b[..., 0], 0) * _clamp_min(b[..., 3] - b[..., 1], 0)
    return inter, area_a + area_b - inter


def iou_xyxy(a, b, eps: float = 0.0):
    """Element-wise (broadcast) IoU of corner boxes; 0 where the union is empty."""
    a, b = _as_array(a), _as_array(b)
    inter, union = _intersection_union_xyxy(a, b)
    if not _is_torch(inter):
        with np.errstate(invalid="ignore", divide="ignore"):
            out = inter / (union + eps)
        return np.where(union + eps > 0, out, 0.0)
    torch = _torch()
    u = union + eps
    return torch.where(u > 0, inter / u.clamp(min=1e-12), torch.zeros_like(u))


def iou_xywh(a, b, eps: float = 0.0):
    """Element-wise (broadcast) IoU of `x, y, w, h` boxes."""
    return iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b), eps)


def giou_xyxy(a, b, eps: float = 1e-7):
    """Generalised IoU (Rezatofighi et al. 2019) of corner boxes, in [-1, 1]."""
    a, b = _as_array(a), _as_array(b)
    inter, union = _intersection_union_xyxy(a, b)
    iou = inter / (union + eps)
    ex0, ey0 = _minimum(a[..., 0], b[..., 0]), _minimum(a[..., 1], b[..., 1])
    ex1, ey1 = _maximum(a[..., 2], b[..., 2]), _maximum(a[..., 3], b[..., 3])
    enclosing = _clamp_min(ex1 - ex0, 0) * _clamp_min(ey1 - ey0, 0)
    return iou - (enclosing - union) / (enclosing + eps)


def centers_xywh(boxes):
    b = _as_array(boxes)
    return _stack([b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2], b)


def clip_xywh(boxes, width: float, height: float, min_size: float = 0.0):
    """Clip `x, y, w, h` boxes to an image of `width` x `height`.

    With `min_size > 0` the clipped box keeps at least that size, shifted inside the image
    (the tracker's habit: a box squeezed against the border must stay a box).
    """
    b = xywh_to_xyxy(_as_array(boxes))
    if not _is_torch(b):
        clip = lambda v, hi: np.clip(v, 0, hi)  # noqa: E731
    else:
        clip = lambda v, hi: v.clamp(0, hi)  # noqa: E731
    x0, y0 = clip(b[..., 0], width), clip(b[..., 1], height)
    x1, y1 = clip(b[..., 2], width), clip(b[..., 3], height)
    out = _stack([x0, y0, _fit_size(x0, x1 - x0, x1), _fit_size(y0, y1 - y0, y1)], b)
    if min_size > 0:
        w = _clamp_min(out[..., 2], min_size)
        h = _clamp_min(out[..., 3], min_size)
        x = _clamp_min(_minimum(out[..., 0], width - w), 0)
        y = _clamp_min(_minimum(out[..., 1], height - h), 0)
        out = _stack([x, y, _fit_size(x, w, width), _fit_size(y, h, height)], out)
    return out


def _fit_size(start, size, end):
    """`size` lowered by the last units in the last place where `start + size` rounds above
    `end`: the far edge a user computes as x + w must not pass the bound the box was clipped to."""
    if _is_torch(size):
        torch = _torch()
        step_down = lambda v: torch.nextafter(v, torch.zeros_like(v))  # noqa: E731
        where, any_ = torch.where, lambda m: bool(m.any())
    else:
        step_down = lambda v: np.nextafter(v, 0)  # noqa: E731
        where, any_ = np.where, np.any
    for _ in range(4):  # one step is almost always enough
        over = start + size > end
        if not any_(over):
            break
        size = where(over, step_down(size), size)
    return size


def is_valid_xywh(boxes):
    """True where a box is finite with positive width and height."""
    b = _as_array(boxes)
    if not _is_torch(b):
        return np.isfinite(b).all(axis=-1) & (b[..., 2] > 0) & (b[..., 3] > 0)
    return b.isfinite().all(dim=-1) & (b[..., 2] > 0) & (b[..., 3] > 0)


def grid_touch_mask(boxes_xyxy, grid_h: int, grid_w: int):
    """(..., grid_h, grid_w) bool: the cells of a grid over the unit square that a
    normalised `xyxy` box overlaps with positive area (LoRAT's template foreground mask:
    every patch the box touches)."""
    b = _as_array(boxes_xyxy)
    if not _is_torch(b):
        ys = np.arange(grid_h, dtype=np.float64)
        xs = np.arange(grid_w, dtype=np.float64)
        x0, y0, x1, y1 = (b[..., i, None] for i in range(4))
        cols = (xs + 1) / grid_w > x0
        cols = cols & (xs / grid_w < x1)
        rows = ((ys + 1) / grid_h > y0) & (ys / grid_h < y1)
        return rows[..., :, None] & cols[..., None, :]
    torch = _torch()
    ys = torch.arange(grid_h, dtype=b.dtype, device=b.device)
    xs = torch.arange(grid_w, dtype=b.dtype, device=b.device)
    x0, y0, x1, y1 = (b[..., i, None] for i in range(4))
    cols = ((xs + 1) / grid_w > x0) & (xs / grid_w < x1)
    rows = ((ys + 1) / grid_h > y0) & (ys / grid_h < y1)
    return rows[..., :, None] & cols[..., None, :]


def grid_center_mask(boxes_xyxy, grid_h: int, grid_w: int):
    """(..., grid_h, grid_w) bool: the cells whose centre lies inside a normalised `xyxy`
    box (LoRAT's positive cells for the classification target)."""
    b = _as_array(boxes_xyxy)
    if not _is_torch(b):
        cy = (np.arange(grid_h, dtype=np.float64) + 0.5) / grid_h
        cx = (np.arange(grid_w, dtype=np.float64) + 0.5) / grid_w
    else:
        torch = _torch()
        cy = (torch.arange(grid_h, dtype=b.dtype, device=b.device) + 0.5) / grid_h
        cx = (torch.arange(grid_w, dtype=b.dtype, device=b.device) + 0.5) / grid_w
    x0, y0, x1, y1 = (b[..., i, None] for i in range(4))
    cols = (cx >= x0) & (cx <= x1)
    rows = (cy >= y0) & (cy <= y1)
    return rows[..., :, None] & cols[..., None, :]
