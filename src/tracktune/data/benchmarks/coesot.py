"""COESOT (Tang et al., 2022): colour-event sequences from a DAVIS346 camera.

Layout: `<seq>/<seq>_aps/frame%04d.bmp` (colour APS frames),
`<seq>/<seq>_dvs/frame%04d.bmp` (event frames as stored), `groundtruth.txt`
(comma-separated `x,y,w,h`), and the raw `<seq>.aedat4` stream where shipped
(`meta["aedat4"]`). Sequences sit under `<root>/train/` and `<root>/test/` (`split`
"train" / "test"; None: both), or directly under `<root>` with optional `trainlist.txt` /
`testlist.txt`. Absent frames are those whose box is not finite and positive.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_name_list, read_xywh
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "coesot"
SPLITS = ("train", "test")


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """COESOT sequences of `split` ("train", "test" or None)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence folder -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def _sequence_folders(reader: TreeReader, root: Path, split: str | None) -> list[tuple[Path, str | None]]:
    if any(reader.is_dir(root / s) for s in SPLITS):
        chosen = [split] if split is not None else [s for s in SPLITS if reader.is_dir(root / s)]
        folders = []
        for s in chosen:
            if not reader.is_dir(root / s):
                raise DataError(f"{NAME}: split folder not found: {root / s}")
            folders += [(root / s / n, s) for n in reader.listdir(root / s, dirs_only=True)]
        return folders
    if split is None:
        return [(root / n, None) for n in reader.listdir(root, dirs_only=True)
                if reader.is_file(root / n / "groundtruth.txt")]
    listed = root / f"{split}list.txt"
    if not reader.is_file(listed):
        raise DataError(f"{NAME}: split '{split}' needs {root / split}/ or {listed}")
    return [(root / n, split) for n in read_name_list(reader, listed)]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences of `split`; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    sequences = []
    for sequence_dir, sequence_split in _sequence_folders(reader, root, split):
        try:
            sequences.append(_sequence(reader, sequence_dir, frames, sequence_split))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, split: str | None) -> Sequence:
    name = sequence_dir.name
    boxes = read_xywh(reader, sequence_dir / "groundtruth.txt")
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / f"{name}_aps"),
                       "event": reader.frames(sequence_dir / f"{name}_dvs")}
        counts = {"aps frames": len(frame_lists["rgb"]), "dvs frames": len(frame_lists["event"]),
                  "groundtruth.txt lines": len(boxes)}
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    meta = {"dataset": NAME, "groundtruth": sequence_dir / "groundtruth.txt"}
    if split is not None:
        meta["split"] = split
    if reader.is_file(sequence_dir / f"{name}.aedat4"):
        meta["aedat4"] = sequence_dir / f"{name}.aedat4"
    return Sequence(name, frame_lists, boxes, meta=meta)
