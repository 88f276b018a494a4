"""GTOT (Li et al., IEEE TIP 2016): 50 grey-thermal sequences.

Layout: `<root>/<seq>/v/*.png` (visible) and `i/*.png` (thermal), listed and sorted.
Ground truth: `groundTruth_v.txt` and `groundTruth_i.txt` hold space-separated corners
`x1 y1 x2 y2`, converted as the GTOT toolkit does, without +1 (`w = x2 - x1`); `init.txt`
holds tab-separated `x y w h` (equal to the converted visible corners). `Sequence.boxes` is
`init.txt` (what trackers are initialised from) or, where it is missing, the converted
visible corners; `modality_boxes` holds both converted ground truths for the max-over-v/i
protocol. Evaluation only: `split` is None or "test".
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.boxes import xyxy_to_xywh
from tracktune.data.benchmarks.common import (checked_root, frame_count_error, inner_blank_line, read_name_list,
                                              read_xywh)
from tracktune.data.benchmarks.rgbt234 import read_attribute_table
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError, at_line

logger = logging.getLogger(__name__)

NAME = "gtot"
SPLITS = ("test",)
GT_FILES = {"rgb": "groundTruth_v.txt", "thermal": "groundTruth_i.txt"}


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Every GTOT sequence under `root` (split None or "test")."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_corners(path: str | Path, reader: TreeReader | None = None) -> np.ndarray:
    """A GTOT corner file (`x1 y1 x2 y2` per line) -> (N, 4) `x, y, w, h`, no +1."""
    path = Path(path)
    reader = reader if reader is not None else TreeReader(path.parent)
    rows = reader.rows(path, columns=4)
    blank = inner_blank_line(rows)
    if blank is not None:
        raise DataError(at_line(path, blank + 1, "blank line inside a ground-truth file"))
    return np.asarray(xyxy_to_xywh(rows.values), dtype=np.float64)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """The primary ground truth of one sequence folder: `init.txt`, else converted v corners."""
    sequence_dir = Path(sequence_dir)
    return _primary(TreeReader(sequence_dir), sequence_dir)


def read_modality_ground_truth(sequence_dir: str | Path) -> dict[str, np.ndarray]:
    """`{"rgb": groundTruth_v.txt, "thermal": groundTruth_i.txt}` converted to `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    reader = TreeReader(sequence_dir)
    return {m: read_corners(sequence_dir / f, reader) for m, f in GT_FILES.items()}


def _primary_path(reader: TreeReader, sequence_dir: Path) -> Path:
    init = sequence_dir / "init.txt"
    return init if reader.is_file(init) else sequence_dir / GT_FILES["rgb"]


def _primary(reader: TreeReader, sequence_dir: Path) -> np.ndarray:
    init = sequence_dir / "init.txt"
    if reader.is_file(init):
        return read_xywh(reader, init)
    return read_corners(sequence_dir / GT_FILES["rgb"], reader)


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The GTOT sequences; `on_error` as in `rgbt234.scan`."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    listed = root / "SequencesName.txt"
    if reader.is_file(listed):
        names = read_name_list(reader, listed)
    else:
        names = [n for n in reader.listdir(root, dirs_only=True) if reader.is_file(root / n / GT_FILES["rgb"])]
    attributes = read_attribute_table(reader, root)
    sequences = []
    for name in names:
        try:
            sequences.append(_sequence(reader, root / name, frames, attributes.get(name, {})))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, attributes: dict) -> Sequence:
    modality_boxes = {m: read_corners(sequence_dir / f, reader) for m, f in GT_FILES.items()}
    boxes = _primary(reader, sequence_dir)
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / "v"), "thermal": reader.frames(sequence_dir / "i")}
        counts = {"v frames": len(frame_lists["rgb"]), "i frames": len(frame_lists["thermal"]),
                  "ground-truth lines": len(boxes)}
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    return Sequence(sequence_dir.name, frame_lists, boxes, modality_boxes=modality_boxes,
                    attributes=dict(attributes), meta={"dataset": NAME, "groundtruth": _primary_path(reader, sequence_dir)})
