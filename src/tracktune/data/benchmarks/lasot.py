"""LaSOT (Fan et al., CVPR 2019): 1,400 RGB sequences of 70 classes.

Layout: `<root>/<class>/<class>-N/img/%08d.jpg` (a flat `<root>/<class>-N/` also works),
`groundtruth.txt` (comma-separated `x,y,w,h`), `full_occlusion.txt` and `out_of_view.txt`
(one comma-separated line of 0/1 each), `nlp.txt` (a sentence). `visible` = neither fully
occluded nor out of view; both flags stay as per-frame attributes, the class as
`attributes["class"]`, the sentence as `meta["language"]`.

Splits (Protocol II): "test" is the 280 sequences of `lasot_splits.TESTING_SET` (or of
`<root>/testing_set.txt` when present), every one of which must be on disk; "train" is every
other sequence found. Scans are indexed through `index_cache` (a LaSOT-size tree is listed
once).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_flags, read_name_list, read_xywh
from tracktune.data.benchmarks.lasot_splits import TESTING_SET
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "lasot"
SPLITS = ("train", "test")
_SEQUENCE = re.compile(r"^(.+)-(\d+)$")


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """LaSOT sequences of `split` ("train", "test", or None for every one found)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and flags but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence folder -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def read_visibility(sequence_dir: str | Path) -> np.ndarray:
    """(N,) bool: not in `full_occlusion.txt` and not in `out_of_view.txt`."""
    sequence_dir = Path(sequence_dir)
    reader = TreeReader(sequence_dir)
    count = len(read_xywh(reader, sequence_dir / "groundtruth.txt"))
    occluded = read_flags(reader, sequence_dir / "full_occlusion.txt", count).astype(bool)
    out_of_view = read_flags(reader, sequence_dir / "out_of_view.txt", count).astype(bool)
    return ~occluded & ~out_of_view


def sequence_dirs(reader: TreeReader, root: Path) -> dict[str, Path]:
    """Sequence name -> folder, for the class-folder layout and the flat one."""
    found: dict[str, Path] = {}
    for entry in reader.listdir(root, dirs_only=True):
        match = _SEQUENCE.match(entry)
        if match and reader.is_file(root / entry / "groundtruth.txt"):
            found[entry] = root / entry
            continue
        for child in reader.listdir(root / entry, dirs_only=True):
            if _SEQUENCE.match(child) and child.startswith(entry + "-"):
                found[child] = root / entry / child
    return found


def split_names(reader: TreeReader, root: Path, split: str | None, found: dict[str, Path]) -> list[str]:
    if split is None:
        return sorted(found, key=_order)
    listed = root / "testing_set.txt"
    test = set(read_name_list(reader, listed)) if reader.is_file(listed) else set(TESTING_SET)
    if split == "test":
        missing = sorted(test - set(found))
        if missing:
            raise DataError(f"{NAME}: {len(missing)} test sequences are not under {root}: "
                            f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
        return sorted(test, key=_order)
    return sorted((n for n in found if n not in test), key=_order)


def _order(name: str):
    match = _SEQUENCE.match(name)
    return (match.group(1), int(match.group(2))) if match else (name, 0)


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences of `split`; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    found = sequence_dirs(reader, root)
    sequences = []
    for name in split_names(reader, root, split, found):
        try:
            sequences.append(_sequence(reader, found[name], frames, split))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, split: str | None) -> Sequence:
    boxes = read_xywh(reader, sequence_dir / "groundtruth.txt")
    occluded = read_flags(reader, sequence_dir / "full_occlusion.txt", len(boxes)).astype(bool)
    out_of_view = read_flags(reader, sequence_dir / "out_of_view.txt", len(boxes)).astype(bool)
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / "img")}
        if len(frame_lists["rgb"]) != len(boxes):
            logger.warning("%s", frame_count_error(sequence_dir, {"img frames": len(frame_lists["rgb"]),
                                                                  "groundtruth.txt lines": len(boxes)}))
    meta = {"dataset": NAME, "groundtruth": sequence_dir / "groundtruth.txt"}
    if split is not None:
        meta["split"] = split
    if reader.is_file(sequence_dir / "nlp.txt"):
        meta["language"] = reader.text(sequence_dir / "nlp.txt").strip()
    attributes = {"class": _SEQUENCE.match(sequence_dir.name).group(1), "full_occlusion": occluded,
                  "out_of_view": out_of_view}
    return Sequence(sequence_dir.name, frame_lists, boxes, visible=~occluded & ~out_of_view,
                    attributes=attributes, meta=meta)
