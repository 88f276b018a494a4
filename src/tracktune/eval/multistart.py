"""VOT short-term multistart analysis: EAO curve and score, accuracy, robustness.

The VOT short-term stacks from VOT2020 on (VOT-RGBT2020, VOT-RGBD2022, ...) are scored by
vot-toolkit's *multistart* experiment, not by a long-term F-score. Written after
votchallenge/toolkit `vot/experiment/multistart.py` (`find_anchors`,
`MultiStartExperiment.execute`) and `vot/analysis/multistart.py` (`AccuracyRobustness`,
`AverageAccuracyRobustness`, `EAOCurves`, `compute_eao_partial`, `EAOCurve`, `EAOScore`),
identical in this respect in 0.5.3 and 0.9.0; only the overlap of frames with an empty
region differs between releases (`metrics.overlap_raster`, `version`). Not reproduced:
0.9.0's ignore masks (a `_ignore` object in the sequence; the RGB-D and RGB-T stacks have
none) and polygon / mask regions (VOT-RGBD and VOT-RGBT ground truth are rectangles).

Conventions, in our words:

- **Anchors** come from the sequence's `anchor.value` file (one number per frame, padded
  with 0 to the sequence length): a frame with a value > 0 is a *forward* anchor, one < 0
  a *backward* anchor. Each anchor is one run, stored as `<seq>_<anchor:08d>` (anchor a
  0-based frame index).
- **A run** from forward anchor `i` covers frames `i, i + 1, ..., N - 1`; from backward
  anchor `i` it covers `i, i - 1, ..., 0`. Its trajectory has one region per covered
  frame, in that order; the first is the toolkit's initialisation code `1` (an empty
  region).
- **Overlaps**: vot-toolkit's raster overlap of each trajectory region with the GT of the
  frame it covers, bounded by the frame size when `burnin` is non-zero (the toolkit ties
  the bound to `burnin`, not to `bounded`).
- **Failure**: counting frames in run order, a frame whose overlap is <= `threshold` (0.1)
  while its GT is not empty (not NaN, w > 0 and h > 0, unrounded) decrements a counter
  that starts at `grace` (10) and is reset to `grace` by any other frame; when it reaches
  0 at frame `j`, the run failed, and its *progress* is `j + 1 - grace` (the first frame
  of those `grace`); a run that never fails has progress = its length.
- **Accuracy and robustness** per sequence: A_s = (sum over runs of the overlaps of their
  first `progress` frames, the initialisation frame included) / (sum of progresses);
  R_s = (sum of progresses) / (sum of run lengths). Over the stack: A = sum A_s * P_s /
  sum P_s with P_s the sequence's progress sum; R = sum R_s * N_s / sum N_s with N_s the
  sequence's frame count (not its run lengths).
- **EAO**: a failed run's overlaps from its progress on are set to 0. For curve position
  j = 1 .. high - 1: a run of length L contributes the mean of its overlaps 1..j when
  j < L; when j >= L, a failed run contributes (sum of overlaps 1..L-1) / (j - 1) and a
  successful run nothing. Each sequence's curve is the mean of its runs' contributions at
  j; the stack's curve at j is the average of the sequences' curves weighted by how many
  runs contributed (position 0 is 0). The EAO score is the mean of the curve at positions
  `low .. high - 1` (the toolkit takes `curve[low:high + 1]` of a `high`-long curve).
  VOT-RGBD2022 and VOT-RGBT2020: low 115, high 755.

numpy only, no torch.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracktune.errors import DataError
from tracktune.eval import metrics as M

ANCHOR_VALUE = "anchor"
DEFAULTS = dict(low=115, high=755, grace=10, threshold=0.1, burnin=10)


def find_anchors(values) -> tuple[list[int], list[int]]:
    """Forward (value > 0) and backward (value < 0) anchor frames, 0-based, ascending."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    return [int(i) for i in np.flatnonzero(v > 0)], [int(i) for i in np.flatnonzero(v < 0)]


def run_frames(anchor: int, backward: bool, length: int) -> np.ndarray:
    """The frames a run covers, in the order it sees them."""
    return np.arange(anchor, -1, -1) if backward else np.arange(anchor, length)


def run_name(sequence: str, anchor: int) -> str:
    """`<seq>_<anchor:08d>`: the toolkit's trajectory name of the run from `anchor`."""
    return f"{sequence}_{anchor:08d}"


def failure_progress(overlaps: np.ndarray, gt_empty: np.ndarray, grace: int, threshold: float) -> int:
    """Frames before the failure (the run length when the run does not fail)."""
    n = len(overlaps)
    if grace <= 0:  # the toolkit's counter starts at 0, goes negative and never hits 0
        return n
    bad = (np.asarray(overlaps) <= threshold) & ~np.asarray(gt_empty, dtype=bool)
    if bad.sum() < grace:
        return n
    # length of the run of consecutive bad frames ending at each frame
    idx = np.arange(n)
    last_good = np.maximum.accumulate(np.where(bad, -1, idx))
    streak = np.where(bad, idx - last_good, 0)
    hits = np.flatnonzero(streak == grace)
    return int(hits[0]) + 1 - grace if len(hits) else n


@dataclass
class MultistartScore:
    """One sequence's raw material: EAO contributions per curve position (summed over
    runs) and how many runs contributed, the accuracy / robustness sums, frame counts."""

    eao_sum: np.ndarray
    eao_active: np.ndarray
    overlap_sum: float  # sum over runs of the overlaps of their first `progress` frames
    progress: int  # sum over runs of their progress
    run_frames: int  # sum over runs of their lengths
    length: int  # frames in the sequence
    failures: int = 0
    runs: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.overlap_sum / self.progress if self.progress > 0 else 0.0

    @property
    def robustness(self) -> float:
        return self.progress / self.run_frames


def gt_is_empty(gt: np.ndarray) -> np.ndarray:
    """The toolkit's `region.is_empty()` for GT rows: NaN (Special), or w <= 0 or h <= 0."""
    g = np.asarray(gt, dtype=np.float64)
    return ~np.isfinite(g).all(axis=1) | ~((g[:, 2] > 0) & (g[:, 3] > 0))


def score_sequence(name: str, gt: np.ndarray, anchors, trajectories: dict[int, np.ndarray], size=None,
                   high: int = 755, grace: int = 10, threshold: float = 0.1, burnin: int = 10,
                   version: str = "0.5", source=None) -> MultistartScore:
    """Score the runs of one sequence. `anchors`: its per-frame anchor values;
    `trajectories`: `{anchor frame: (L, 4) boxes in run order, NaN = empty}`; `size`:
    (width, height) of its frames (overlaps are bounded when `burnin` is non-zero)."""
    gt = np.asarray(gt, dtype=np.float64)
    n = len(gt)
    forward, backward = find_anchors(anchors)
    if not forward and not backward:
        raise DataError(f"sequence {name}: no anchors (anchor.value has no non-zero frame); the multistart "
                        f"protocol needs them")
    empty = gt_is_empty(gt)
    eao_sum = np.zeros(high)
    eao_active = np.zeros(high)
    overlap_sum = 0.0
    progress_sum = frames_sum = failures = 0
    where = source or name
    for anchor, backward_run in [(a, False) for a in forward] + [(a, True) for a in backward]:
        if anchor not in trajectories:
            raise DataError(f"{where}: no result for the run from anchor frame {anchor} "
                            f"(expected {run_name(name, anchor)}.txt or .bin)")
        frames = run_frames(anchor, backward_run, n)
        traj = np.asarray(trajectories[anchor], dtype=np.float64).reshape(-1, 4)
        if len(traj) != len(frames):
            raise DataError(f"{where}: run {run_name(name, anchor)} has {len(traj)} regions for the "
                            f"{len(frames)} frames it covers ({'backward' if backward_run else 'forward'} "
                            f"from frame {anchor}); the toolkit requires equal lengths")
        overlaps = M.overlap_raster(traj, gt[frames], size if burnin else None, version=version)
        progress = failure_progress(overlaps, empty[frames], grace, threshold)
        length = len(frames)
        progress_sum += progress
        frames_sum += length
        overlap_sum += float(overlaps[:progress].sum())
        failed = progress < length
        failures += failed
        if failed:
            overlaps = overlaps.copy()
            overlaps[progress:] = 0.0
        # EAO contributions at j = 1 .. high - 1
        m = min(length, high)
        if m > 1:
            j = np.arange(1, m)
            eao_sum[1:m] += np.cumsum(overlaps[1:m]) / j
            eao_active[1:m] += 1
        if failed and length < high:
            j = np.arange(length, high)
            eao_sum[length:] += overlaps[1:length].sum() / (j - 1)
            eao_active[length:] += 1
    return MultistartScore(eao_sum, eao_active, overlap_sum, progress_sum, frames_sum, n, failures,
                           len(forward) + len(backward))


def summarise(scores: list[MultistartScore], low: int = 115, high: int = 755) -> tuple[dict[str, float], dict]:
    """`{"EAO", "A", "R"}` and `{"eao": curve}` over the sequences' scores."""
    if not scores:
        return {"EAO": float("nan"), "A": float("nan"), "R": float("nan")}, {}
    eao_sum = np.sum([s.eao_sum for s in scores], axis=0)
    active = np.sum([s.eao_active for s in scores], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(active > 0, eao_sum / np.where(active > 0, active, 1), 0.0)
    progress = sum(s.progress for s in scores)
    length = sum(s.length for s in scores)
    accuracy = sum(s.accuracy * s.progress for s in scores) / progress if progress > 0 else float("nan")
    robustness = sum(s.robustness * s.length for s in scores) / length
    eao = float(np.mean(curve[low:high + 1]))
    return {"EAO": eao, "A": float(accuracy), "R": float(robustness)}, {"eao": curve}


# ---- result files -------------------------------------------------------------------


def read_trajectory_binary(path: str | Path) -> np.ndarray:
    """vot-toolkit's binary trajectory (`.bin`, its default since 0.6;
    `vot/region/io.py`, `read_trajectory_binary`): a `<hI` header (1, count), then per
    region a type byte: 0 special (`<I` code, read as NaN: empty), 1 rectangle (`<ffff`
    x, y, w, h). Polygons, masks and points are not rectangles: an error."""
    path = Path(path)
    data = path.read_bytes()
    try:
        version, count = struct.unpack_from("<hI", data, 0)
    except struct.error:
        raise DataError(f"{path}: not a vot-toolkit binary trajectory (too short)") from None
    if version != 1:
        raise DataError(f"{path}: not a vot-toolkit binary trajectory (header {version}, expected 1)")
    out = np.full((count, 4), np.nan)
    offset = 6
    for i in range(count):
        try:
            (kind,) = struct.unpack_from("<B", data, offset)
            offset += 1
            if kind == 0:
                offset += 4
            elif kind == 1:
                out[i] = struct.unpack_from("<ffff", data, offset)
                offset += 16
            else:
                names = {2: "polygon", 3: "mask", 4: "point"}
                raise DataError(f"{path}: region {i + 1} is a {names.get(kind, f'type {kind}')}; the multistart "
                                f"protocol scores rectangles")
        except struct.error:
            raise DataError(f"{path}: binary trajectory ends at region {i + 1} of {count}") from None
    return out


def results_folder(directory: str | Path, sequence: str) -> Path:
    """The folder holding `sequence`'s runs: `<dir>/<seq>` (an experiment folder), or
    `<dir>/baseline/<seq>` (a tracker folder of a toolkit workspace's `results/`)."""
    directory = Path(directory)
    for folder in (directory / sequence, directory / "baseline" / sequence):
        if folder.is_dir():
            return folder
    raise DataError(f"no results for sequence '{sequence}' in {directory} (expected {directory / sequence}/ "
                    f"or {directory / 'baseline' / sequence}/, as vot-toolkit lays them out)")


def _read_text_fast(data: bytes) -> np.ndarray | None:
    """A clean toolkit text trajectory (`x,y,w,h` lines and one-number status lines) ->
    (N, 4), status lines NaN, parsed by numpy's C reader (the status lines, usually just
    the first, are cut out by byte offsets); None for anything else (the careful reader
    then names the line at fault)."""
    body = data.replace(b"\r\n", b"\n").strip(b"\n")
    if not body:
        return None
    raw = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)  # "\n"
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(body)]])
    commas = np.flatnonzero(raw == 44)  # ","
    per_line = np.searchsorted(commas, stops) - np.searchsorted(commas, starts)
    status = np.flatnonzero(per_line == 0)
    if ((per_line != 3) & (per_line != 0)).any():
        return None
    pieces, position = [], 0
    for i in status:
        try:
            float(body[starts[i]:stops[i]])
        except ValueError:
            return None
        pieces.append(body[position:starts[i]])
        position = stops[i] + 1
    pieces.append(body[position:])
    rect_text = b"".join(pieces).replace(b"\n", b",").strip(b",")
    n = len(starts)
    out = np.full((n, 4), np.nan)
    if len(status) < n:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                values = np.fromstring(rect_text.decode("ascii"), dtype=np.float64, sep=",")
            except (ValueError, UnicodeDecodeError):
                return None
        if len(values) != 4 * (n - len(status)):
            return None
        keep = np.ones(n, dtype=bool)
        keep[status] = False
        out[keep] = values.reshape(-1, 4)
    return out


def read_run(folder: Path, sequence: str, anchor: int) -> tuple[np.ndarray, Path]:
    """One run's trajectory (NaN rows where empty) and its file: `.txt` first, then
    `.bin`, as the toolkit's `Trajectory.read` looks for them."""
    from tracktune.eval.results import read_result_file

    stem = run_name(sequence, anchor)
    text, binary = folder / f"{stem}.txt", folder / f"{stem}.bin"
    if text.is_file():
        data = text.read_bytes()
        if data[:2] == b"\x01\x00":  # the toolkit sniffs binary content too
            return read_trajectory_binary(text), text
        boxes = _read_text_fast(data)
        if boxes is None:  # anything unusual: the careful reader, which names the line at fault
            boxes = read_result_file(text)[0].boxes
        return boxes, text
    if binary.is_file():
        return read_trajectory_binary(binary), binary
    raise DataError(f"{folder}: no result for the run from anchor frame {anchor} (expected {stem}.txt or {stem}.bin)")


def read_tracker_runs(directory: str | Path, sequences) -> dict[str, list]:
    """`{seq: [Prediction(boxes, anchor=a, source=file), ...]}` for every anchor of every
    sequence (`Sequence.meta["values"]["anchor"]`), from a toolkit-layout results folder."""
    from tracktune.eval.protocols import Prediction

    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"results folder not found: {directory}")
    out = {}
    for seq in sequences:
        forward, backward = find_anchors(sequence_anchors(seq))
        folder = results_folder(directory, seq.name)
        runs = []
        for anchor in forward + backward:
            boxes, path = read_run(folder, seq.name, anchor)
            runs.append(Prediction(boxes=boxes, anchor=anchor, source=path))
        out[seq.name] = runs
    return out


def sequence_anchors(seq) -> np.ndarray:
    """The sequence's `anchor.value` values (a `DataError` naming it when it has none)."""
    values = (seq.meta or {}).get("values", {})
    if ANCHOR_VALUE not in values:
        raise DataError(f"sequence {seq.name}: no anchor.value file; the multistart protocol needs the VOT "
                        f"short-term stack's anchors")
    return np.asarray(values[ANCHOR_VALUE], dtype=np.float64)
