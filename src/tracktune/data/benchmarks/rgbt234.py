"""RGBT234 (Li et al., Pattern Recognition 2019) and RGBT210 (Li et al., ACM MM 2017).

Layout: `<root>/<seq>/visible/*.jpg` and `infrared/*.jpg` (`00001v.jpg`, `00001i.jpg`;
listed and sorted, never formatted), `init.txt` and, for RGBT234, `visible.txt` and
`infrared.txt`, all comma-separated `x,y,w,h`. The two RGBT234 ground truths differ on most
frames (the cameras are aligned only approximately); the MSR/MPR protocol scores each frame
against the better of the two, so both travel in `Sequence.modality_boxes`
(`{"rgb": visible.txt, "thermal": infrared.txt}`). `Sequence.boxes` is `init.txt`: the
boxes trackers are initialised from, and RGBT210's only ground truth.

Attributes where the toolkit's tables sit beside the sequences: `<root>/attr_txt/
SequencesName.txt` plus one `<ATTR>.txt` of 0/1 per sequence (the RGBT toolkits' layout);
per-frame `<ATTR>.tag` files inside a sequence folder become per-frame bool arrays.
Both are evaluation-only benchmarks: `split` is None or "test" (every sequence).
The ground-truth-only readers (`load_ground_truth`, `read_ground_truth`) also accept the
toolkits' ground-truth folders, which hold the text files without frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_flags, read_name_list, read_xywh
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "rgbt234"
SPLITS = ("test",)
RGB_DIR, THERMAL_DIR = "visible", "infrared"


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Every RGBT234 sequence under `root` (split None or "test")."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and attributes but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`init.txt` of one sequence folder -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / "init.txt")


def read_modality_ground_truth(sequence_dir: str | Path) -> dict[str, np.ndarray]:
    """RGBT234's two ground truths: `{"rgb": visible.txt, "thermal": infrared.txt}`."""
    sequence_dir = Path(sequence_dir)
    reader = TreeReader(sequence_dir)
    return {"rgb": read_xywh(reader, sequence_dir / "visible.txt"),
            "thermal": read_xywh(reader, sequence_dir / "infrared.txt")}


def sequence_names(reader: TreeReader, root: Path) -> list[str]:
    """Folders holding a sequence: `SequencesName.txt` order when present, else sorted."""
    listed = root / "SequencesName.txt"
    if reader.is_file(listed):
        return read_name_list(reader, listed)
    return [name for name in reader.listdir(root, dirs_only=True)
            if reader.is_file(root / name / "init.txt") or reader.is_dir(root / name / RGB_DIR)]


def read_attribute_table(reader: TreeReader, root: Path) -> dict[str, dict[str, bool]]:
    """`attr_txt/SequencesName.txt` + `attr_txt/<ATTR>.txt` -> {sequence: {ATTR: bool}}."""
    table_dir = root / "attr_txt"
    names_file = table_dir / "SequencesName.txt"
    if not reader.is_file(names_file):
        return {}
    names = read_name_list(reader, names_file)
    table: dict[str, dict[str, bool]] = {name: {} for name in names}
    for entry in reader.listdir(table_dir):
        if not entry.endswith(".txt") or entry == "SequencesName.txt" or not entry[:-4].isupper():
            continue
        flags = read_flags(reader, table_dir / entry, count=len(names))
        for name, flag in zip(names, flags):
            table[name][entry[:-4]] = bool(flag)
    return table


def read_frame_tags(reader: TreeReader, sequence_dir: Path, count: int) -> dict[str, np.ndarray]:
    """Per-frame `<ATTR>.tag` files of one sequence -> {ATTR: (N,) bool}."""
    tags = {}
    for entry in reader.listdir(sequence_dir):
        if entry.endswith(".tag"):
            tags[entry[:-4]] = read_flags(reader, sequence_dir / entry, count=count).astype(bool)
    return tags


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         variant: str = NAME, on_error=None) -> list[Sequence]:
    """The sequences of an RGBT234 (`variant="rgbt234"`) or RGBT210 tree.

    `on_error(exc)`, when given, receives each sequence's `DataError` and the scan goes on
    (`tracktune data check` collects them); without it the first error is raised.
    """
    root = checked_root(reader, root, variant, split, SPLITS)
    attributes = read_attribute_table(reader, root)
    sequences = []
    for name in sequence_names(reader, root):
        try:
            sequences.append(_sequence(reader, root / name, frames, variant, attributes.get(name, {})))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, variant: str, attributes: dict) -> Sequence:
    boxes = read_xywh(reader, sequence_dir / "init.txt")
    modality_boxes = {}
    if variant == "rgbt234":
        modality_boxes = {"rgb": read_xywh(reader, sequence_dir / "visible.txt"),
                          "thermal": read_xywh(reader, sequence_dir / "infrared.txt")}
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / RGB_DIR), "thermal": reader.frames(sequence_dir / THERMAL_DIR)}
        counts = {"visible frames": len(frame_lists["rgb"]), "infrared frames": len(frame_lists["thermal"]),
                  "init.txt lines": len(boxes)}
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    attributes = dict(attributes)
    attributes.update(read_frame_tags(reader, sequence_dir, len(boxes)))
    return Sequence(sequence_dir.name, frame_lists, boxes, modality_boxes=modality_boxes, attributes=attributes,
                    meta={"dataset": variant, "groundtruth": sequence_dir / "init.txt"})
