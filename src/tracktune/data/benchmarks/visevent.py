"""VisEvent (Wang et al., IEEE T-CYB 2023): RGB + event-camera tracking.

Layout: `<root>/<seq>/vis_imgs/frame%04d.bmp` (RGB), `event_imgs/frame%04d.bmp` (event
frames: white, ON events red, OFF blue; listed and sorted), raw `<seq>.aedat4` (not read
here: `modalities.aedat4_event_frames`), `groundtruth.txt` (comma-separated `x,y,w,h`),
`absent_label.txt` (one 0/1 per frame, **1 = present**; the evaluation toolkit's own
annotation files use 1 = absent), split lists `trainlist.txt` / `testlist.txt` at the root.

`seq.visible` is the absent label (present frames); `attributes["absent"]` the per-frame
absent flags and `meta["absent_label"]` their file, so `data check` reports boxes that
disagree with the flags. Without `absent_label.txt`, visibility comes from the boxes.
Synthetic data (`tracktune data synth --modality event`) adds `conditions.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.data.benchmarks.common import (checked_root, frame_count_error, read_conditions,
                                               read_flags, read_name_list, read_xywh)
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError, at_line

logger = logging.getLogger(__name__)

NAME = "visevent"
SPLITS = ("train", "test")
SPLIT_LISTS = BENCHMARKS[NAME].split_lists
RGB_DIR, EVENT_DIR = "vis_imgs", "event_imgs"


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """The VisEvent sequences of `split` ("train", "test", None: every sequence)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and absent flags but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def read_present(reader: TreeReader, path: Path, count: int) -> np.ndarray:
    """`absent_label.txt` -> (N,) bool present (1 = present); other values name their line."""
    flags = read_flags(reader, path, count=count)
    bad = np.flatnonzero((flags != 0) & (flags != 1))
    if bad.size:
        raise DataError(at_line(path, int(bad[0]) + 1, f"expected 0 or 1, got {int(flags[bad[0]])}"))
    return flags.astype(bool)


def sequence_names(reader: TreeReader, root: Path, split: str | None) -> list[str]:
    splits = SPLITS if split is None else (split,)
    listed = [s for s in splits if reader.is_file(root / SPLIT_LISTS[s])]
    if listed or split is not None:
        names = []
        for s in splits:
            if not reader.is_file(root / SPLIT_LISTS[s]):
                raise DataError(f"{NAME}: split list not found: {root / SPLIT_LISTS[s]}")
            names += read_name_list(reader, root / SPLIT_LISTS[s])
        return names
    return [n for n in reader.listdir(root, dirs_only=True) if reader.is_file(root / n / "groundtruth.txt")]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences; `on_error(exc)` gets each sequence's `DataError` and the scan goes on."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    conditions = read_conditions(reader, root)
    sequences = []
    for name in sequence_names(reader, root, split):
        try:
            sequences.append(_sequence(reader, root / name, frames, conditions.get(name), split))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, condition: dict | None,
              split: str | None) -> Sequence:
    if not reader.is_dir(sequence_dir):
        raise DataError(f"{NAME}: sequence folder not found: {sequence_dir}")
    groundtruth = sequence_dir / "groundtruth.txt"
    boxes = read_xywh(reader, groundtruth)
    meta = {"dataset": NAME, "groundtruth": groundtruth}
    attributes = {}
    visible = None
    label_file = sequence_dir / "absent_label.txt"
    if reader.is_file(label_file):
        visible = read_present(reader, label_file, len(boxes))
        attributes["absent"] = ~visible
        meta["absent_label"] = label_file
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / RGB_DIR), "event": reader.frames(sequence_dir / EVENT_DIR)}
        counts = {"vis_imgs frames": len(frame_lists["rgb"]), "event_imgs frames": len(frame_lists["event"]),
                  "groundtruth.txt lines": len(boxes)}
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    if split is not None:
        meta["split"] = split
    if condition:
        tags = {"condition": condition.get("condition"), "severity": condition.get("severity")}
        attributes.update(tags)
        meta.update(tags, synthetic=True)
    return Sequence(sequence_dir.name, frame_lists, boxes, visible, attributes=attributes, meta=meta)
