"""LasHeR (Li et al., IEEE TIP 2022): a large RGB-thermal tracking benchmark.

Layout: `<root>/<seq>/visible/*.jpg` and `infrared/*.jpg` (names differ across releases:
`v000000.jpg`, `v000018.jpg`, `000001.jpg`; listed and sorted, never formatted),
`visible.txt`, `infrared.txt`, `init.txt` (comma-separated `x,y,w,h`; a `0,0,0,0` row, or
any w, h <= 0, is an absent target), split lists `trainingsetList.txt` (979 sequences) and
`testingsetList.txt` (245) at the root. The split folders of some releases
(`<root>/trainingset/<seq>`, `<root>/testingset/<seq>`) are found too.

`Sequence.boxes` is `visible.txt`: the LasHeR toolkit scores against it (its
`annos/<seq>.txt` equals visible.txt); `modality_boxes` holds both ground truths
(`{"rgb": visible.txt, "thermal": infrared.txt}`). A sequence without `visible.txt` (a
ground-truth-only tree with `init.txt` alone) falls back to `init.txt`.

Synthetic data (`tracktune data synth --modality thermal`) writes this layout plus
`conditions.json` at the root; its per-sequence condition and severity come back in
`attributes` (`{"condition": "night", "severity": 4}`) and `meta`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_conditions, read_name_list, read_xywh
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "lasher"
SPLITS = ("train", "test")
SPLIT_LISTS = BENCHMARKS[NAME].split_lists
SPLIT_DIRS = {"train": "trainingset", "test": "testingset"}
RGB_DIR, THERMAL_DIR = "visible", "infrared"


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """The LasHeR sequences of `split` ("train", "test"; None: every sequence)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and attributes but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`visible.txt` (else `init.txt`) of one sequence folder -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    reader = TreeReader(sequence_dir)
    return read_xywh(reader, _primary_file(reader, sequence_dir))


def read_modality_ground_truth(sequence_dir: str | Path) -> dict[str, np.ndarray]:
    """`{"rgb": visible.txt, "thermal": infrared.txt}` of one sequence folder."""
    sequence_dir = Path(sequence_dir)
    reader = TreeReader(sequence_dir)
    return {"rgb": read_xywh(reader, sequence_dir / "visible.txt"),
            "thermal": read_xywh(reader, sequence_dir / "infrared.txt")}


def _primary_file(reader: TreeReader, sequence_dir: Path) -> Path:
    visible = sequence_dir / "visible.txt"
    if reader.is_file(visible):
        return visible
    init = sequence_dir / "init.txt"
    if reader.is_file(init):
        return init
    raise DataError(f"{NAME}: no visible.txt or init.txt in {sequence_dir}")


def sequence_dirs(reader: TreeReader, root: Path, split: str | None) -> list[Path]:
    """The sequence folders of `split`: from the split list(s) when present, else every
    folder with ground truth (split None only)."""
    splits = SPLITS if split is None else (split,)
    listed = [s for s in splits if reader.is_file(root / SPLIT_LISTS[s])]
    if listed or split is not None:
        dirs = []
        for s in splits:
            list_file = root / SPLIT_LISTS[s]
            if not reader.is_file(list_file):
                raise DataError(f"{NAME}: split list not found: {list_file}")
            for name in read_name_list(reader, list_file):
                nested = root / SPLIT_DIRS[s] / name
                dirs.append(nested if not reader.is_dir(root / name) and reader.is_dir(nested) else root / name)
        return dirs
    return [root / name for name in reader.listdir(root, dirs_only=True)
            if reader.is_file(root / name / "visible.txt") or reader.is_file(root / name / "init.txt")]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences; `on_error(exc)` gets each sequence's `DataError` and the scan goes on
    (`tracktune data check`); without it the first error is raised."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    conditions = read_conditions(reader, root)
    sequences = []
    for sequence_dir in sequence_dirs(reader, root, split):
        try:
            sequences.append(_sequence(reader, sequence_dir, frames, conditions.get(sequence_dir.name), split))
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
    return sequences


def _sequence(reader: TreeReader, sequence_dir: Path, frames: bool, condition: dict | None,
              split: str | None) -> Sequence:
    if not reader.is_dir(sequence_dir):
        raise DataError(f"{NAME}: sequence folder not found: {sequence_dir}")
    primary = _primary_file(reader, sequence_dir)
    boxes = read_xywh(reader, primary)
    modality_boxes = {}
    if reader.is_file(sequence_dir / "infrared.txt") and primary.name == "visible.txt":
        modality_boxes = {"rgb": boxes, "thermal": read_xywh(reader, sequence_dir / "infrared.txt")}
    frame_lists = {}
    if frames:
        frame_lists = {"rgb": reader.frames(sequence_dir / RGB_DIR), "thermal": reader.frames(sequence_dir / THERMAL_DIR)}
        counts = {"visible frames": len(frame_lists["rgb"]), "infrared frames": len(frame_lists["thermal"]),
                  f"{primary.name} lines": len(boxes)}
        if len(set(counts.values())) > 1:  # a few released sequences differ: the shortest wins
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    attributes, meta = {}, {"dataset": NAME, "groundtruth": primary}
    if split is not None:
        meta["split"] = split
    if condition:
        attributes = {"condition": condition.get("condition"), "severity": condition.get("severity")}
        meta.update(attributes)
        meta["synthetic"] = True
    return Sequence(sequence_dir.name, frame_lists, boxes, modality_boxes=modality_boxes, attributes=attributes,
                    meta=meta)
