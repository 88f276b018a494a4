"""GOT-10k (Huang et al., TPAMI 2021): 10,000 RGB sequences in train / val / test.

Layout: `<root>/{train,val,test}/list.txt` (sequence names), `<split>/<seq>/%08d.jpg`,
`groundtruth.txt` (comma-separated `x,y,w,h`; the test split gives the first frame only),
`absence.label` (1 = target absent), `cover.label` (0..8, the visible fraction in eighths),
`cut_by_image.label`, `meta_info.ini` (`key: value` lines under `[METAINFO]`).

`visible` = not absent and cover > 0 (the condition trackers train on); `cover`,
`absence` and `cut_by_image` stay as per-frame attributes (the AO protocol counts frames
with cover > 0), the `meta_info.ini` values as `meta["info"]`, the object class as
`attributes["class"]`. Test sequences carry NaN boxes after the first frame and
`meta["first_frame_only"] = True`. `split` is "train", "val", "test" or None (every split
on disk). Scans are indexed through `index_cache`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import (checked_root, frame_count_error, read_flags, read_key_values,
                                              read_name_list, read_xywh)
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "got10k"
SPLITS = ("train", "val", "test")


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """GOT-10k sequences of `split` (None: every split folder present)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and labels but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence folder -> (N, 4) `x, y, w, h` (test: one row)."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def read_meta_info(reader: TreeReader, path: Path) -> dict[str, str]:
    """`meta_info.ini`: `key: value` lines (the `[METAINFO]` header skipped)."""
    return read_key_values(reader, path, ":", skip="[")


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences of `split`; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    splits = [split] if split is not None else [s for s in SPLITS if reader.is_dir(root / s)]
    if not splits:
        raise DataError(f"{NAME}: none of {', '.join(SPLITS)} under {root}")
    sequences = []
    for name in splits:
        split_dir = root / name
        if not reader.is_dir(split_dir):
            raise DataError(f"{NAME}: split folder not found: {split_dir}")
        listed = split_dir / "list.txt"
        if reader.is_file(listed):
            names = read_name_list(reader, listed)
        else:
            names = [n for n in reader.listdir(split_dir, dirs_only=True)]
            logger.warning("%s: no list.txt; using the %d folders found", split_dir, len(names))
        for sequence_name in names:
            try:
                sequences.append(_sequence(reader, split_dir / sequence_name, frames, name))
            except DataError as exc:
                if on_error is None:
                    raise
                on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, split: str) -> Sequence:
    if not reader.is_dir(sequence_dir):
        raise DataError(f"{NAME}: sequence folder listed in list.txt not found: {sequence_dir}")
    boxes = read_xywh(reader, sequence_dir / "groundtruth.txt")
    frame_lists = {"rgb": reader.frames(sequence_dir)} if frames else {}
    meta = {"dataset": NAME, "split": split, "groundtruth": sequence_dir / "groundtruth.txt"}
    attributes = {}
    info_file = sequence_dir / "meta_info.ini"
    if reader.is_file(info_file):
        meta["info"] = read_meta_info(reader, info_file)
        if "object_class" in meta["info"]:
            attributes["class"] = meta["info"]["object_class"]
    if split == "test":
        count = len(frame_lists["rgb"]) if frames else len(boxes)
        full = np.full((max(count, len(boxes)), 4), np.nan)
        full[: len(boxes)] = boxes
        visible = np.zeros(len(full), dtype=bool)
        visible[: len(boxes)] = np.isfinite(boxes).all(axis=1)
        meta["first_frame_only"] = True
        return Sequence(sequence_dir.name, frame_lists, full, visible=visible, attributes=attributes, meta=meta)
    absence = read_flags(reader, sequence_dir / "absence.label", len(boxes)).astype(bool)
    cover = read_flags(reader, sequence_dir / "cover.label", len(boxes))
    attributes.update({"absence": absence, "cover": cover})
    if reader.is_file(sequence_dir / "cut_by_image.label"):
        attributes["cut_by_image"] = read_flags(reader, sequence_dir / "cut_by_image.label", len(boxes)).astype(bool)
    if frames and len(frame_lists["rgb"]) != len(boxes):
        logger.warning("%s", frame_count_error(sequence_dir, {"frames": len(frame_lists["rgb"]),
                                                              "groundtruth.txt lines": len(boxes)}))
    return Sequence(sequence_dir.name, frame_lists, boxes, visible=~absence & (cover > 0),
                    attributes=attributes, meta=meta)
