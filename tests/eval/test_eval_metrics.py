"""Per-frame measures and curves: hand values, brute force, and hypothesis properties."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tracktune.eval import metrics as M


def test_matlab_colon_counts_the_upper_half_down_from_the_end():
    t = M.matlab_colon(0, 0.05, 1)
    assert len(t) == 21 and t[0] == 0 and t[-1] == 1
    # lower half a + k*d, upper half b - (n-k)*d: 0.65 is 1 - 7*0.05, not 13*0.05
    assert t[3] == 3 * 0.05 and t[13] == 1 - 7 * 0.05 and t[10] == 0.5
    # the last-bit difference that decides ties: an IoU of exactly 13/20 passes MATLAB's
    # "> 0.65" (0.6499999999999999) but not np.linspace's (0.65)
    assert t[13] < 13 / 20 == np.linspace(0, 1, 21)[13]


def test_pixel_overlap_hand_values():
    gt = np.array([[10, 10, 10, 10]] * 4, dtype=float)
    pred = np.array([[10, 10, 10, 10], [15, 10, 10, 10], [30, 30, 5, 5], [10, 10, 5, 10]], dtype=float)
    np.testing.assert_allclose(M.overlap_pixel(pred, gt), [1.0, 50 / 150, 0.0, 0.5])
    # centre error and its normalised form: a 5 px shift of a 10 px box
    np.testing.assert_allclose(M.center_error(pred[:2], gt[:2]), [0, 5])
    np.testing.assert_allclose(M.normalized_center_error(pred[:2], gt[:2]), [0, 0.5])


def test_count_curve_matches_brute_force_on_ties():
    rng = np.random.default_rng(0)
    values = np.round(rng.random(500) * 20) / 20  # many values exactly on thresholds
    values[:5] = np.nan
    t = M.IOU_THRESHOLDS_MATLAB
    for op, f in {">": np.greater, ">=": np.greater_equal, "<=": np.less_equal, "<": np.less}.items():
        with np.errstate(invalid="ignore"):
            brute = f(values[:, None], t[None, :]).sum(0)
        np.testing.assert_array_equal(M.count_curve(values, t, op), brute)


def _raster_brute(p, g, size):
    """Pixel masks drawn one by one, as the VOT toolkit rasterises (integer boxes)."""
    w, h = size
    masks = []
    for b in (p, g):
        if not np.isfinite(b).all():
            return 0.0
        m = np.zeros((h, w), bool)
        x0, y0, x1, y1 = int(b[0]), int(b[1]), int(b[0] + b[2] - 1), int(b[1] + b[3] - 1)
        m[max(y0, 0): max(y1 + 1, 0), max(x0, 0): max(x1 + 1, 0)] = True
        masks.append(m)
    # the toolkit's quirk: a union raster one pixel wide (or tall) scores 0
    ul, ut = max(0, min(p[0], g[0])), max(0, min(p[1], g[1]))
    ur, ub = min(w - 1, max(p[0] + p[2] - 1, g[0] + g[2] - 1)), min(h - 1, max(p[1] + p[3] - 1, g[1] + g[3] - 1))
    if ul >= ur or ut >= ub:
        return 0.0
    union = (masks[0] | masks[1]).sum()
    return (masks[0] & masks[1]).sum() / union if union else 0.0


def test_raster_overlap_matches_pixel_masks():
    rng = np.random.default_rng(1)
    size = (40, 30)
    p = np.column_stack([rng.integers(-10, 45, 300), rng.integers(-10, 35, 300), rng.integers(1, 20, 300), rng.integers(1, 20, 300)]).astype(float)
    g = np.column_stack([rng.integers(-5, 40, 300), rng.integers(-5, 30, 300), rng.integers(1, 20, 300), rng.integers(1, 20, 300)]).astype(float)
    p[::17] = np.nan  # no prediction
    g[::23] = np.nan  # absent target
    ours = M.overlap_raster(p, g, size)
    brute = [_raster_brute(a, b, size) for a, b in zip(p, g)]
    np.testing.assert_allclose(ours, brute, atol=1e-12)


boxes = st.tuples(
    st.floats(-50, 200), st.floats(-50, 200), st.floats(0.5, 150), st.floats(0.5, 150)
).map(lambda b: np.array(b, dtype=float))


@settings(max_examples=200, deadline=None)
@given(boxes, boxes)
def test_iou_is_in_unit_interval_and_symmetric(a, b):
    for overlap in (M.overlap_pixel, M.overlap_continuous):
        v = overlap(a[None], b[None])[0]
        assert -1e-12 <= v <= 1 + 1e-12
        assert abs(v - overlap(b[None], a[None])[0]) < 1e-12


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=1, max_size=60))
def test_success_curve_is_non_increasing(values):
    for t in (M.IOU_THRESHOLDS_MATLAB, M.IOU_THRESHOLDS_NUMPY):
        for op in (">", ">="):
            curve = M.success_curve(np.array(values), t, op)
            assert np.all(np.diff(curve) <= 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(boxes, min_size=2, max_size=20))
def test_perfect_results_score_one(gt_list):
    from tracktune.data.sequence import Sequence
    from tracktune.eval import evaluate

    # integer boxes, as the MATLAB-era files hold: with fractional ones the toolkits'
    # `x + w - 1` arithmetic can round an identical box's IoU a hair above 1
    gt = np.round(np.stack(gt_list))
    gt[:, 2:] = np.maximum(gt[:, 2:], 2)  # a positive box; lasher counts x, y <= 0 as no target
    gt[:, :2] = np.abs(gt[:, :2]) + 1
    seq = Sequence("s", {}, gt, modality_boxes={"rgb": gt, "thermal": gt})
    # perfect means every frame passes every threshold but IoU > 1, so the mean-of-21
    # success summaries top out at 20/21 (as the toolkits' do) and everything else at 1
    for name in ("otb", "lasher", "lasot", "rgbt234", "gtot", "trackingnet"):
        report = evaluate(name, [seq], {"T": {"s": gt.copy()}})
        for metric, value in report.trackers["T"].metrics.items():
            # the success curve's last sample is IoU > 1, which no frame passes: mean 20/21
            expected = 20 / 21 if metric in ("AUC", "SR", "MSR") and name != "gtot" else 1.0
            if name == "gtot" and metric == "MSR":
                expected = 0.975  # trapezoid: the last interval is a half
            if name == "trackingnet":
                # the server's IoU > t: the last sample fails, and its areas are trapezoids
                expected = 0.975 if metric == "AUC" else 1.0
            assert abs(value - expected) < 1e-9, (name, metric, value)


@settings(max_examples=100, deadline=None)
@given(boxes, st.floats(0.1, 60), st.floats(0, 6.2832))
def test_a_growing_shift_lowers_precision_monotonically(gt, step, angle):
    gt = gt.copy()
    direction = np.array([np.cos(angle), np.sin(angle)])
    previous = None
    for k in range(6):
        pred = gt.copy()
        pred[:2] += k * step * direction
        curve = M.precision_curve(M.center_error(pred[None], gt[None]))
        if previous is not None:
            assert np.all(curve <= previous)
        previous = curve


def test_longterm_pr_re_matches_brute_force():
    rng = np.random.default_rng(2)
    o = rng.random(200)
    c = np.round(rng.random(200), 2)  # ties in confidence
    c[::13] = np.nan
    thresholds = M.longterm_thresholds(c, resolution=20)
    pr, re = M.longterm_pr_re(o, c, 150, thresholds)
    for i, t in enumerate(thresholds):
        with np.errstate(invalid="ignore"):
            subset = c >= t
        assert abs(pr[i] - (o[subset].mean() if subset.any() else 1.0)) < 1e-12
        assert abs(re[i] - (o[subset].sum() / 150 if subset.any() else 0.0)) < 1e-12
