"""VOT-RGBD2022 (Kristan et al., ECCV Workshops 2022), in the VOT toolkit's stack layout.

Layout: `<root>/list.txt` (sequence names), `<seq>/sequence` (a `key=value` properties
file: `channels.color=color/%08d.jpg`, `channels.depth=depth/%08d.png`, `fps=...`),
`<seq>/color/*.jpg` and `<seq>/depth/*.png` (16-bit millimetres; frames start at 1),
`groundtruth.txt` (one region per line: `x,y,w,h`, an 8-value polygon, or NaN values where
the target is absent), per-frame `<tag>.tag` files (0/1 per line, e.g.
`full-occlusion.tag`), which become per-frame bool attributes, and per-frame `<name>.value`
files (the multistart stacks' `anchor.value`: > 0 forward anchor, < 0 backward anchor),
which become `meta["values"][name]`. The frame folders are those of the channels the
`sequence` file names (color -> rgb, depth, ir -> thermal, so VOT-RGBT stacks read too;
none named: color/ and depth/), listed and sorted. Evaluation only (`split` None or
"test"); VOT-RGBD2022 is scored by the `vot_multistart` protocol.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import (checked_root, frame_count_error, read_flags, read_key_values,
                                              read_name_list, read_vot_regions)
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError, at_line

logger = logging.getLogger(__name__)

NAME = "vot_rgbd2022"
SPLITS = ("test",)
CHANNELS = {"color": "rgb", "depth": "depth", "ir": "thermal"}  # the toolkit's channel names
DEFAULT_CHANNELS = ("color", "depth")  # when the `sequence` file names none


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Every sequence of `list.txt` (or every folder with a `groundtruth.txt`)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and tags but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence -> (N, 4) `x, y, w, h` (NaN rows where absent;
    polygons as their bounding boxes)."""
    sequence_dir = Path(sequence_dir)
    return read_vot_regions(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def read_properties(reader: TreeReader, path: Path) -> dict[str, str]:
    """A VOT `sequence` file: `key=value` lines -> dict (an error names a line without `=`)."""
    return read_key_values(reader, path, "=", skip="#")


def read_values(reader: TreeReader, path: Path, count: int) -> np.ndarray:
    """A per-frame `.value` file (e.g. the multistart stacks' `anchor.value`): one number
    per line, padded with 0 to `count` frames (extra lines unused), as vot-toolkit's sequence loader does
    (`vot/dataset/common.py`); a line that is not a number names its line."""
    out = []
    for number, line in enumerate(reader.text(path).splitlines(), start=1):
        try:
            out.append(float(line.strip()))
        except ValueError:
            raise DataError(at_line(path, number, f"expected a number, got {line.strip()!r}")) from None
    return np.asarray((out + [0.0] * (count - len(out)))[:count], dtype=np.float64)  # extra lines: unused


def read_vot_sequence(reader: TreeReader, sequence_dir: Path, frames: bool = True, dataset: str = NAME) -> Sequence:
    """One VOT-format RGB-D sequence folder -> Sequence (`rgb` and `depth` frames)."""
    boxes = read_vot_regions(reader, sequence_dir / "groundtruth.txt")
    properties = {}
    if reader.is_file(sequence_dir / "sequence"):
        properties = read_properties(reader, sequence_dir / "sequence")
    frame_lists = {}
    if frames:
        named = {c: properties[f"channels.{c}"] for c in CHANNELS if f"channels.{c}" in properties}
        for channel, pattern in (named or {c: f"{c}/%08d" for c in DEFAULT_CHANNELS}).items():
            folder = sequence_dir / Path(pattern).parent
            frame_lists[CHANNELS[channel]] = reader.frames(folder)
        counts = {f"{m} frames": len(f) for m, f in frame_lists.items()}
        counts["groundtruth.txt lines"] = len(boxes)
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    attributes = {}
    values = {}
    for entry in reader.listdir(sequence_dir):
        if entry.endswith(".tag"):
            attributes[entry[:-4]] = read_flags(reader, sequence_dir / entry, count=len(boxes)).astype(bool)
        elif entry.endswith(".value"):
            values[entry[:-6]] = read_values(reader, sequence_dir / entry, len(boxes))
    meta = {"dataset": dataset, "groundtruth": sequence_dir / "groundtruth.txt"}
    if values:
        meta["values"] = values
    if "fps" in properties:
        meta["fps"] = float(properties["fps"])
    return Sequence(sequence_dir.name, frame_lists, boxes, attributes=attributes, meta=meta)


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    if reader.is_file(root / "list.txt"):
        names = read_name_list(reader, root / "list.txt")
    else:
        names = [n for n in reader.listdir(root, dirs_only=True) if reader.is_file(root / n / "groundtruth.txt")]
    sequences = []
    for name in names:
        try:
            sequences.append(read_vot_sequence(reader, root / name, frames))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences
