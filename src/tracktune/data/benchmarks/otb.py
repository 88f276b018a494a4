"""OTB-2013 / OTB-2015 (Wu et al., CVPR 2013, TPAMI 2015): RGB sequences.

Layout: `<root>/<seq>/img/%04d.jpg` (`Board` uses five digits: the folder is listed and
sorted, never formatted) and `groundtruth_rect.txt` with tab, comma or space separators.
A root that is itself one sequence folder (`img/` beside `groundtruth_rect.txt`) is read as
that one sequence. Two-target sequences (`Jogging`, `Skating2`) hold
`groundtruth_rect.1.txt` and `.2.txt`: one Sequence each, named `Jogging.1`, `Jogging.2`
(an empty ground-truth file, as `Human4`'s `.1`, is reported in the log, not read).
Five sequences use only part of their frames, as the OTB benchmark's configuration says
(and the got10k toolkit applies): David 300-770, Football1 1-74, Freeman3 1-460,
Freeman4 1-283, Diving 1-215 (1-based, inclusive). Evaluation only (`split` None or "test").
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_xywh
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "otb"
SPLITS = ("test",)
# sequence -> (first, last) frame, 1-based inclusive (OTB's configSeqs)
FRAME_RANGES = {"david": (300, 770), "football1": (1, 74), "freeman3": (1, 460), "freeman4": (1, 283),
                "diving": (1, 215)}


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Every OTB sequence under `root` (or the one sequence `root` is)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(path: str | Path) -> np.ndarray:
    """A `groundtruth_rect*.txt` file (or the folder holding `groundtruth_rect.txt`) ->
    (N, 4) `x, y, w, h`."""
    path = Path(path)
    if path.is_dir():
        path = path / "groundtruth_rect.txt"
    return read_xywh(TreeReader(path.parent), path)


def _gt_files(reader: TreeReader, sequence_dir: Path) -> list[str]:
    return [n for n in reader.listdir(sequence_dir) if n.startswith("groundtruth_rect") and n.endswith(".txt")]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    if _gt_files(reader, root):
        sequence_dirs = [root]
    else:
        sequence_dirs = [root / n for n in reader.listdir(root, dirs_only=True) if _gt_files(reader, root / n)]
    sequences = []
    for sequence_dir in sequence_dirs:
        try:
            sequences.extend(_sequences(reader, sequence_dir, frames))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequences(reader: TreeReader, sequence_dir: Path, frames: bool) -> list[Sequence]:
    gt_files = _gt_files(reader, sequence_dir)
    frame_list = reader.frames(sequence_dir / "img") if frames else None
    first, last = FRAME_RANGES.get(sequence_dir.name.lower(), (1, None))
    sequences = []
    for gt_name in gt_files:
        gt_path = sequence_dir / gt_name
        if reader.text(gt_path).strip() == "":
            logger.warning("%s: empty ground-truth file, no sequence read from it", gt_path)
            continue
        boxes = read_xywh(reader, gt_path)
        target = gt_name[len("groundtruth_rect"):-len(".txt")].strip(".")
        name = f"{sequence_dir.name}.{target}" if target else sequence_dir.name
        frame_lists = {}
        if frames:
            stop = last if last is not None else len(frame_list)
            paths = frame_list[first - 1 : stop] if (first, last) != (1, None) else frame_list
            frame_lists = {"rgb": paths}
            if len(paths) != len(boxes):
                logger.warning("%s", frame_count_error(sequence_dir, {"img frames used": len(paths),
                                                                      f"{gt_name} lines": len(boxes)}))
        sequences.append(Sequence(name, frame_lists, boxes, meta={"dataset": NAME, "first_frame": first,
                                                                        "groundtruth": gt_path}))
    return sequences
