"""The VOT short-term multistart experiment: one run per anchor, forward or backward, written
in vot-toolkit's results layout for `tracktune evaluate --protocol vot_multistart` and for
the toolkit's own analysis.

Written after votchallenge/toolkit `vot/experiment/multistart.py`
(`MultiStartExperiment.execute`) and `vot/tracker/results.py` (`Trajectory.write`), in our
own words:

- anchors come from the sequence's `anchor.value` (`Sequence.meta["values"]["anchor"]`, as
  the `vot_rgbd2022` loader reads it): > 0 a forward anchor, < 0 a backward one;
- the run from anchor `i` sees frames `i, i + 1, ..., N - 1` (forward) or `i, i - 1, ..., 0`
  (backward); the tracker is initialised on the first of them with its ground-truth box
  and updated on every following one, never re-initialised (a failure is the analysis'
  business, not the experiment's);
- the trajectory has one line per frame it saw: `1` (the toolkit's initialisation code)
  for the first, then `x,y,w,h`, or `0` where the tracker reported no box (non-finite);
  it is written to `<out>/<seq>/<seq>_<anchor:08d>.txt`, with the per-frame seconds in
  `<seq>_<anchor:08d>_time.value` (the toolkit's `time` property). `<out>` is the
  experiment folder, e.g. a toolkit workspace's `results/<tracker>/baseline`.

The tracker is any object made by `make_tracker()` with `init(frame_rgb, box_xywh,
frame_aux=None)` and `update(frame_rgb, frame_aux=None) -> (box_xywh, score)`, e.g.
`lambda: tracktune.track.Tracker(model, track_config)`; this module needs neither torch nor
the model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from tracktune.data.sequence import AUX_MODALITIES, RGB
from tracktune.errors import DataError
from tracktune.eval.multistart import find_anchors, run_frames, run_name, sequence_anchors
from tracktune.files import atomic_write_text


def _format_box(box) -> str:
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all():
        return "0"
    return ",".join(format(float(v), ".10g") for v in box)


def write_trajectory(folder: Path, name: str, boxes, seconds=None) -> Path:
    """One run's trajectory in the toolkit's text form: `1` on the first line, then boxes
    (`0` where a box is not finite); `seconds` as `<name>_time.value`."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["1"] + [_format_box(b) for b in list(boxes)[1:]]
    path = folder / f"{name}.txt"
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    if seconds is not None:
        atomic_write_text(folder / f"{name}_time.value", "".join(f"{float(s):.6f}\n" for s in seconds))
    return path


def run_sequence(sequence, make_tracker: Callable[[], object], out: str | Path, modality: str | None = "auto",
                 skip_existing: bool = True, progress: Callable[[float], None] | None = None) -> list[Path]:
    """Run a fresh tracker from every anchor of `sequence` and write each trajectory under
    `<out>/<seq>/`. `modality`: the auxiliary frames fed as `frame_aux` ("auto": the
    sequence's thermal / depth / event frames if any; None: none). Existing trajectories are
    kept unless `skip_existing` is False (the toolkit's `force`). Returns the files."""
    anchors = sequence_anchors(sequence)
    forward, backward = find_anchors(anchors)
    if not forward and not backward:
        raise DataError(f"sequence {sequence.name}: anchor.value has no anchor frames")
    n = len(sequence)
    if modality == "auto":
        present = [m for m in AUX_MODALITIES if m in sequence.frames]
        modality = present[0] if present else None
    if RGB not in sequence.frames:
        raise DataError(f"sequence {sequence.name}: no rgb frames to track on (frames: {sorted(sequence.frames)})")
    folder = Path(out) / sequence.name
    written = []
    runs = [(a, False) for a in forward] + [(a, True) for a in backward]
    for k, (anchor, backward_run) in enumerate(runs):
        name = run_name(sequence.name, anchor)
        if skip_existing and ((folder / f"{name}.txt").is_file() or (folder / f"{name}.bin").is_file()):
            continue
        init_box = np.asarray(sequence.boxes[anchor], dtype=np.float64)
        if not np.isfinite(init_box).all() or (init_box[2:] <= 0).any():
            raise DataError(f"sequence {sequence.name}: anchor frame {anchor} has no ground-truth box to "
                            f"initialise on ({init_box.tolist()})")
        tracker = make_tracker()
        boxes, seconds = [init_box], []
        for step, frame in enumerate(run_frames(anchor, backward_run, n)):
            rgb = sequence.frame(int(frame), RGB)
            aux = sequence.frame(int(frame), modality) if modality else None
            start = time.perf_counter()
            if step == 0:
                tracker.init(rgb, init_box.copy(), aux)
            else:
                box, _score = tracker.update(rgb, aux)
                boxes.append(np.asarray(box, dtype=np.float64))
            seconds.append(time.perf_counter() - start)
        written.append(write_trajectory(folder, name, boxes, seconds))
        if progress is not None:
            progress((k + 1) / len(runs))
    return written


def run_stack(sequences, make_tracker: Callable[[], object], out: str | Path, **kwargs) -> list[Path]:
    """`run_sequence` over every sequence; the files written."""
    written = []
    for sequence in sequences:
        written += run_sequence(sequence, make_tracker, out, **kwargs)
    return written


def has_anchors(sequences) -> bool:
    """Whether the sequences come from a multistart stack (an `anchor.value` per sequence)."""
    return bool(sequences) and all("anchor" in (s.meta or {}).get("values", {}) for s in sequences)


def run_command(args, model, track_config, sequences, device: str) -> int:
    """`tracktune run` on a multistart stack: every anchor run of every sequence, written to
    `<out>/baseline/<seq>/` (the toolkit workspace's `results/<tracker>/baseline/`), so
    `tracktune evaluate --protocol vot_multistart --results <out>` names the tracker by
    `<out>`; a `run.json` summary beside it."""
    import json

    from tracktune.track.tracker import Tracker

    out = Path(args.out)
    start = time.perf_counter()
    written = run_stack(sequences, lambda: Tracker(model, track_config), out / "baseline",
                        modality=RGB if args.rgb_only else "auto", skip_existing=False)
    seconds = time.perf_counter() - start
    summary = {"checkpoint": str(args.checkpoint), "dataset": args.dataset, "split": args.split,
               "sequences": len(sequences), "runs": len(written), "seconds": round(seconds, 3),
               "rgb_only": args.rgb_only, "device": device, "layout": "vot multistart (<out>/baseline/<seq>/)"}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "run.json", json.dumps(summary, indent=2) + "\n")
    print(f"{len(sequences)} sequences, {len(written)} anchor runs in {seconds:.1f} s -> {out / 'baseline'} "
          f"(vot-toolkit multistart layout)")
    return 0
