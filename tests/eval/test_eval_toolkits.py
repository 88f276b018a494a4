"""tracktune's protocols against their official toolkits on randomised hard cases.

- `trackingnet`: the evaluation server's `metrics.py` (TrackingNet-devkit) does not install
  (it is a script, and its `DataFrame.append` left pandas in 2.0), so it is checked against
  an independent per-frame, per-threshold re-derivation of its published formulas written
  here in plain Python scalars, and against hand counts.
- `vot_lt`: vot-toolkit 0.9.0's own `calculate_overlap`, `determine_thresholds`,
  `compute_tpr_curves` and `Trajectory.read` (skipped, naming the package, when it is not
  installed); toolkit 0.5.x differences are the documented, selectable ones.
Hard cases: boxes partly outside the image, empty (NaN) and zero- / negative-size rows,
NaN predictions, half-pixel coordinates, result files one frame short or long.
"""

import math

import numpy as np
import pytest

from tracktune.data.sequence import Sequence
from tracktune.eval import evaluate
from tracktune.eval.protocols import Prediction

# ---- TrackingNet -------------------------------------------------------------------


def _server_round(v):
    return float(round(v)) if math.isfinite(v) else v  # Python's round: half to even, as np.round


def _server_sequence(gt_rows, pred_rows):
    """One sequence scored the way the server's formulas read, frame by frame in Python
    floats: the result column is aligned to the GT's frames (missing frames NaN, extra
    ones dropped), everything rounded, frame 1 set to the GT, then per frame IoU /
    distance / normalised distance and per threshold a count."""
    n = len(gt_rows)
    iou, dist, ndist = [], [], []
    for i in range(n):
        ax, ay, aw, ah = (_server_round(float(v)) for v in gt_rows[i])
        if i == 0:
            sx, sy, sw, sh = ax, ay, aw, ah
        elif i < len(pred_rows):
            sx, sy, sw, sh = (_server_round(float(v)) for v in pred_rows[i])
        else:
            sx = sy = sw = sh = math.nan

        def nanmax(a, b):  # pandas' row max skips NaN
            vals = [v for v in (a, b) if not math.isnan(v)]
            return max(vals) if vals else math.nan

        def nanmin(a, b):
            vals = [v for v in (a, b) if not math.isnan(v)]
            return min(vals) if vals else math.nan

        iw = nanmin(ax + aw - 1, sx + sw - 1) - nanmax(ax, sx) + 1
        ih = nanmin(ay + ah - 1, sy + sh - 1) - nanmax(ay, sy) + 1
        iw, ih = (v if math.isnan(v) else max(v, 0.0) for v in (iw, ih))
        inter = iw * ih
        union = aw * ah + sw * sh - inter
        iou.append(math.nan if math.isnan(union) or union == 0 else inter / union)
        dx = (ax + (aw + 1) / 2) - (sx + (sw + 1) / 2)
        dy = (ay + (ah + 1) / 2) - (sy + (sh + 1) / 2)
        dist.append(math.sqrt(dx * dx + dy * dy) if not math.isnan(dx + dy) else math.nan)

        def div(a, b):
            if math.isnan(a) or math.isnan(b):
                return math.nan
            if b == 0:
                return math.nan if a == 0 else math.copysign(math.inf, a)
            return a / b

        q = div(div(dx, aw) * dx, aw)
        r = div(div(dy, ah) * dy, ah)
        total = q + r
        ndist.append(math.sqrt(total) if not math.isnan(total) else math.nan)
    success = [sum(1 for v in iou if not math.isnan(v) and v > t) / n for t in np.linspace(0, 1, 21)]
    precision = [sum(1 for v in dist if not math.isnan(v) and v <= t) / n for t in np.linspace(0, 50, 21)]
    norm = [sum(1 for v in ndist if not math.isnan(v) and v <= t) / n for t in np.linspace(0, 0.5, 21)]
    return success, precision, norm


def _server_scores(gts, preds):
    curves = [np.mean([c[k] for c in (_server_sequence(g, p) for g, p in zip(gts, preds))], axis=0) for k in range(3)]
    x = np.linspace(0, 1, 21)
    area = [sum((x[i + 1] - x[i]) * (c[i + 1] + c[i]) / 2 for i in range(20)) for c in curves]
    return {"AUC": area[0], "P": area[1], "NP": area[2], "P@20px": curves[1][8]}


def _hard_trackingnet_case(rng, n_seq=12):
    gts, preds = [], []
    for s in range(n_seq):
        n = int(rng.integers(8, 40))
        gt = np.column_stack([rng.uniform(-20, 300, n), rng.uniform(-20, 200, n),
                              rng.uniform(1, 80, n), rng.uniform(1, 80, n)])
        gt = np.round(gt, 1)
        gt[rng.random(n) < 0.08, 2] = 0  # zero-size rows
        gt[rng.random(n) < 0.05, 3] = -3  # negative size
        gt[rng.random(n) < 0.1, :2] += 0.5  # exact halves: rounding half to even
        pred = gt + np.round(rng.normal(0, 6, gt.shape), 2)
        shift = rng.random(n) < 0.3  # integer shifts land exactly on thresholds
        pred[shift] = np.round(gt[shift]) + rng.integers(-10, 11, (shift.sum(), 4))
        pred[rng.random(n) < 0.1] = np.nan  # no prediction
        pred[rng.random(n) < 0.05, 2] = 0.0
        if s % 4 == 1:
            pred = pred[:-1]  # one frame short
        elif s % 4 == 2:
            pred = np.vstack([pred, pred[-1:] + 1])  # one frame long
        gts.append(gt)
        preds.append(pred)
    return gts, preds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trackingnet_matches_the_server_formulas_on_hard_cases(seed):
    rng = np.random.default_rng(seed)
    gts, preds = _hard_trackingnet_case(rng)
    sequences = [Sequence(f"s{i}", {}, g) for i, g in enumerate(gts)]
    runs = {f"s{i}": p for i, p in enumerate(preds)}
    ours = evaluate("trackingnet", sequences, {"T": runs}).trackers["T"].metrics
    expected = _server_scores(gts, preds)
    assert set(ours) == set(expected)
    for key in expected:
        assert abs(ours[key] - expected[key]) < 1e-9, (key, ours[key], expected[key])


def test_trackingnet_conventions_by_hand():
    gt = np.array([[10, 10, 20, 20]] * 4, float)
    pred = np.array([[200, 200, 5, 5],        # frame 1: overwritten by the GT
                     [10.5, 10.5, 20, 20],    # rounds half to even: 10, 10 -> perfect
                     [np.nan] * 4])           # NaN: a failure; frame 4 missing: a failure
    report = evaluate("trackingnet", [Sequence("s", {}, gt)], {"T": {"s": pred}})
    tracker = report.trackers["T"]
    # two of four frames perfect: every success sample below IoU 1 is 1/2, the last (IoU > 1) 0
    success = tracker.curves["success"]
    assert np.allclose(success[:-1], 0.5) and success[-1] == 0
    assert abs(tracker.metrics["AUC"] - (0.5 - 0.5 * 0.05 / 2)) < 1e-12
    # precision: error 0 for two frames at every threshold incl. 0 px: area 1/2, P@20px 1/2
    assert abs(tracker.metrics["P"] - 0.5) < 1e-12 and tracker.metrics["P@20px"] == 0.5
    assert "1 missing frame(s) score as failures" in " ".join(tracker.notes)


def test_trackingnet_precision_is_an_area_not_the_20px_sample():
    gt = np.array([[100, 100, 40, 40]] * 11, float)
    pred = gt.copy()
    pred[1:, 0] += np.arange(10) * 5  # errors 0, 5, .., 45 px
    metrics = evaluate("trackingnet", [Sequence("s", {}, gt)], {"T": {"s": pred}}).trackers["T"].metrics
    errors = np.concatenate([[0.0], np.arange(10) * 5.0])
    curve = [(errors <= t).mean() for t in np.linspace(0, 50, 21)]
    x = np.linspace(0, 1, 21)
    area = sum((x[i + 1] - x[i]) * (curve[i + 1] + curve[i]) / 2 for i in range(20))
    assert metrics["P@20px"] == pytest.approx(6 / 11)  # 0, 0, 5, 10, 15, 20 px
    assert metrics["P"] == pytest.approx(area) and abs(metrics["P"] - metrics["P@20px"]) > 0.01


# ---- VOT long-term: vot-toolkit ----------------------------------------------------


def _vot():
    """vot-toolkit's modules, or a skip naming the package (the `reference` extra)."""
    pytest.importorskip("vot", reason="vot-toolkit not installed (pip install 'tracktune[reference]')")
    from vot.region import Special
    from vot.region.raster import calculate_overlap
    from vot.region.shapes import Rectangle

    return calculate_overlap, Rectangle, Special


def _random_region(rng):
    """A hard-case box: fractional and half-pixel coordinates, partly or wholly outside a
    small image, zero / negative / one-pixel sizes, or empty (NaN)."""
    b = np.round(np.concatenate([rng.uniform(-30, 60, 2), rng.uniform(-5, 40, 2)]), 2)
    r = rng.random()
    if r < 0.1:
        b[:] = np.nan
    elif r < 0.18:
        b[2] = 0
    elif r < 0.25:
        b[2:] = rng.integers(0, 3, 2)
    elif r < 0.4:
        b = np.round(b * 2) / 2  # halves: rounding half to even decides
    return b


def _toolkit_region(b, Rectangle, Special):
    return Special(0) if not np.isfinite(b).all() else Rectangle(*b)


def test_vot_overlap_matches_vot_toolkit_raster_on_hard_cases():
    calculate_overlap, Rectangle, Special = _vot()
    from tracktune.eval import metrics as M

    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(1500):
        g = _random_region(rng)
        p = _random_region(rng) if rng.random() < 0.3 or np.isnan(g).any() else g + np.round(rng.normal(0, 2, 4), 2)
        pairs.append((p, g))
    pred, gt = np.array([p for p, _ in pairs]), np.array([g for _, g in pairs])
    for size in ((47, 31), None):
        expected = np.array([calculate_overlap(_toolkit_region(p, Rectangle, Special),
                                               _toolkit_region(g, Rectangle, Special), size) for p, g in pairs])
        ours = M.overlap_raster(pred, gt, size, version="0.9")
        assert np.abs(ours - expected).max() < 1e-12
        # 0.5.x (vot/region/raster.py at 0.5.3): a frame with an empty region scores 0, and a
        # union one row / column wide is not "identical" but falls to the raster test (0)
        empty = ~np.isfinite(pred).all(1) | ~np.isfinite(gt).all(1)
        r = np.round(np.where(np.isfinite(pred), pred, 0)), np.round(np.where(np.isfinite(gt), gt, 0))
        ul = np.minimum(r[0][:, 0], r[1][:, 0])
        ur = np.maximum(r[0][:, 0] + r[0][:, 2] - 1, r[1][:, 0] + r[1][:, 2] - 1)
        ut = np.minimum(r[0][:, 1], r[1][:, 1])
        ub = np.maximum(r[0][:, 1] + r[0][:, 3] - 1, r[1][:, 1] + r[1][:, 3] - 1)
        line = (ul >= ur) | (ut >= ub)
        expected_05 = np.where(empty | line, 0.0, expected)
        assert np.abs(M.overlap_raster(pred, gt, size, version="0.5") - expected_05).max() < 1e-12
    assert (expected > 0).mean() > 0.2 and (expected == 1).sum() > 0


def _longterm_case(rng, n_seq=6, size=(64, 48)):
    sequences, runs = [], {}
    for i in range(n_seq):
        n = int(rng.integers(25, 50))
        gt = np.column_stack([rng.uniform(-10, 50, n), rng.uniform(-10, 40, n),
                              rng.uniform(4, 30, n), rng.uniform(4, 30, n)]).round(2)
        gt[rng.random(n) < 0.2] = np.nan  # absent target
        gt[rng.random(n) < 0.05, 2] = 0  # zero-size rows: in the recall denominator
        gt[0] = [10.5, 12.5, 15.25, 9.75]
        seq = Sequence(f"v{i}", {}, gt, meta={"image_size": size})
        sequences.append(seq)
        seq_runs = []
        for _ in range(1 + i % 2):
            pred = np.where(np.isnan(gt), rng.uniform(0, 40, gt.shape), gt) + np.round(rng.normal(0, 3, gt.shape), 2)
            pred[rng.random(n) < 0.15] = np.nan  # the tracker reports no target
            pred[0] = np.nan  # the toolkit's initialisation line
            conf = np.round(rng.random(n), 3)
            conf[rng.random(n) < 0.05] = np.nan
            seq_runs.append((pred, conf))
        runs[seq.name] = seq_runs
    return sequences, runs


class _ToolkitSequence:
    def __init__(self, regions, size):
        self._regions, self.size = regions, size

    def groundtruth(self, index=None):
        return self._regions if index is None else self._regions[index]


@pytest.mark.parametrize("version", ["0.9", "0.5"])
def test_vot_lt_matches_vot_toolkit_on_result_files(tmp_path, version):
    """Result files written in the toolkit's layout, read by the toolkit's `Trajectory.read`
    and scored by its `determine_thresholds` / `compute_tpr_curves` (0.9.0), against
    `tracktune evaluate`'s reading and scoring of the same files."""
    _, Rectangle, Special = _vot()
    import vot.analysis.longterm as LT
    from vot.region import raster
    from vot.tracker.results import Results, Trajectory
    from vot.workspace.storage import LocalStorage

    from tracktune.eval.protocols import get
    from tracktune.eval.results import read_tracker_results, write_results

    rng = np.random.default_rng(5)
    size = (64, 48)
    sequences, runs = _longterm_case(rng, size=size)
    for name, seq_runs in runs.items():
        for k, (pred, conf) in enumerate(seq_runs, start=1):
            conf = conf.copy()
            conf[0] = np.nan  # written as an empty line (the toolkit's initialisation frame)
            path = write_results(tmp_path, name, pred, layout="vot", confidence=conf, run=k)
            lines = path.read_text().splitlines()
            path.write_text("\n".join(["1"] + lines[1:]) + "\n")  # the toolkit's init code
    # the toolkit's side: 0.5 differs from 0.9 only in the overlap of frames with an empty region
    overlap_09 = raster.calculate_overlap

    def overlap_05(a, b, bounds=None):
        if isinstance(a, Special) or isinstance(b, Special):
            return 0.0
        value = overlap_09(a, b, bounds)
        box = [np.round(r._data.ravel()) for r in (a, b)]
        left, right = min(x[0] for x in box), max(x[0] + x[2] - 1 for x in box)
        top, bottom = min(x[1] for x in box), max(x[1] + x[3] - 1 for x in box)
        return 0.0 if (left >= right or top >= bottom) else value

    trajectories, scores = {}, []
    for seq in sequences:
        results = Results(LocalStorage(str(tmp_path / seq.name)))
        trajectories[seq.name] = [Trajectory.read(results, f"{seq.name}_{k:03d}") for k in range(1, len(runs[seq.name]) + 1)]
        for t in trajectories[seq.name]:
            scores.extend(t.properties(i).get("confidence", 0) for i in range(len(t)))
    thresholds = LT.determine_thresholds(scores, 100)
    precision, recall = np.zeros(len(thresholds)), np.zeros(len(thresholds))
    original = raster.calculate_overlap
    try:
        if version == "0.5":
            raster.calculate_overlap = overlap_05
        for seq in sequences:
            regions = [_toolkit_region(b, Rectangle, Special) for b in seq.boxes]
            toolkit_seq = _ToolkitSequence(regions, size)
            pr_seq, re_seq = np.zeros(len(thresholds)), np.zeros(len(thresholds))
            for t in trajectories[seq.name]:
                confidence = [t.properties(i).get("confidence", 0) for i in range(len(t))]
                overlaps = [raster.calculate_overlap(a, b, size) for a, b in zip(t.regions(), regions)]
                LT.calculate_overlaps = lambda first, second, bounds=None, ignore=None, o=overlaps: o
                pr, re = LT.compute_tpr_curves(t.regions(), confidence, toolkit_seq, thresholds)
                pr_seq += pr
                re_seq += re
            precision += pr_seq / len(trajectories[seq.name])
            recall += re_seq / len(trajectories[seq.name])
    finally:
        raster.calculate_overlap = original
        LT.calculate_overlaps = raster.calculate_overlaps
    precision, recall = precision / len(sequences), recall / len(sequences)
    with np.errstate(invalid="ignore"):
        f = 2 * precision * recall / (precision + recall)
    best = int(np.nanargmax(f))
    read, _ = read_tracker_results(tmp_path, [s.name for s in sequences], layout="vot", confidences=True)
    ours = evaluate(get("vot_lt", version), sequences, {"T": read}).trackers["T"].metrics
    assert abs(ours["F"] - f[best]) < 1e-9
    assert abs(ours["Pr"] - precision[best]) < 1e-9 and abs(ours["Re"] - recall[best]) < 1e-9
    # the empty confidence line is a 0 in the pool (the toolkit's default), not dropped
    assert 0.0 in scores


def test_vot_lt_versions_differ_where_both_regions_are_empty():
    gt = np.array([[10, 10, 20, 20], [np.nan] * 4, [10, 10, 20, 20]], float)
    pred = np.array([[np.nan] * 4, [np.nan] * 4, [10, 10, 20, 20]])
    from tracktune.eval import metrics as M

    assert list(M.overlap_raster(pred, gt, (64, 48), version="0.5")) == [0.0, 0.0, 1.0]
    assert list(M.overlap_raster(pred, gt, (64, 48), version="0.9")) == [0.0, 1.0, 1.0]
    # x, y, w, h each rounded (half to even): 10.5 -> 10, 20.5 -> 20; the far edge 30 - 1
    half = np.array([[10.5, 10.5, 20.5, 20.5]])
    assert M.overlap_raster(half, gt[:1], (64, 48))[0] == 1.0


def test_vot_lt_refuses_a_result_one_frame_short_or_long_as_the_toolkit_does(tmp_path):
    """vot-toolkit's `calculate_overlaps` raises on lists of different lengths; so does vot_lt,
    naming the file."""
    calculate_overlap, Rectangle, Special = _vot()
    from vot.region import RegionException
    from vot.region.raster import calculate_overlaps

    from tracktune.errors import DataError

    gt = np.tile([10.0, 10, 20, 20], (6, 1))
    seq = Sequence("s", {}, gt, meta={"image_size": (64, 48)})
    for n in (5, 7):
        pred = np.tile([11.0, 10, 20, 20], (n, 1))
        with pytest.raises(RegionException):
            calculate_overlaps([Rectangle(*b) for b in pred], [Rectangle(*b) for b in gt], (64, 48))
        run = Prediction(pred, confidence=np.ones(n), source="T/s/s_001.txt")
        with pytest.raises(DataError, match="T/s/s_001.txt"):
            evaluate("vot_lt", [seq], {"T": {"s": run}})


def test_vot_lt_reads_vot_toolkit_binary_trajectories(tmp_path):
    """vot-toolkit 0.9.0 writes trajectories as `.bin` by default; `Trajectory.write` with a
    confidence property (None on the initialisation frame: an empty line), read back by
    tracktune, scores as the same boxes given in memory with that frame's confidence 0."""
    _, Rectangle, Special = _vot()
    from vot.tracker.results import Results, Trajectory
    from vot.workspace.storage import LocalStorage

    from tracktune.eval.results import read_tracker_results

    rng = np.random.default_rng(9)
    sequences, runs = _longterm_case(rng, n_seq=3)
    expected = {}
    for seq in sequences:
        results = Results(LocalStorage(str(tmp_path / seq.name)))
        expected[seq.name] = []
        for k, (pred, conf) in enumerate(runs[seq.name], start=1):
            trajectory = Trajectory(len(pred))
            for i, box in enumerate(pred):
                region = Special(1) if i == 0 else _toolkit_region(box, Rectangle, Special)
                trajectory.set(i, region, {"confidence": None if i == 0 else float(conf[i])})
            trajectory.write(results, f"{seq.name}_{k:03d}")
            # float32 boxes on disk; NaN confidences stay NaN, the first frame's is 0
            boxes = np.where(np.isfinite(pred), pred.astype(np.float32), np.nan).astype(np.float64)
            expected[seq.name].append(Prediction(boxes, confidence=np.concatenate([[0.0], conf[1:]])))
    assert list((tmp_path / sequences[0].name).glob("*_001.bin"))
    read, _ = read_tracker_results(tmp_path, [s.name for s in sequences], layout="vot", confidences=True)
    for name, predictions in expected.items():
        for ours, theirs in zip(read[name], predictions):
            np.testing.assert_array_equal(ours.boxes, theirs.boxes)
            np.testing.assert_array_equal(ours.confidence, theirs.confidence)
    assert (evaluate("vot_lt", sequences, {"T": read}).trackers["T"].metrics
            == evaluate("vot_lt", sequences, {"T": expected}).trackers["T"].metrics)
