"""FE108 (Zhang et al., ICCV 2021): 108 RGB-event sequences from a DAVIS346 camera
(grey APS frames at 20/40 fps, events, Vicon ground truth), 76 for training, 32 for testing.

Layout of the release: `<root>/train/<seq>/` and `<root>/test/<seq>/`, each sequence holding
its APS frames, the raw event stream `events.aedat4` and `groundtruth_rect.txt`
(comma-separated `x, y, w, h`, one line per APS frame), plus split lists. Sequence names
carry the target class, a repeat index and `_mul` for multi-object scenes (`airplane`,
`airplane222`, `airplane_mul222`, `whale_mul111`); `meta["object_class"]` is the part
before the digits and any `_` (as public loaders derive it).

What public loaders of the dataset read (checked, not copied), and what is accepted here:
- APS frames: `img/0001.jpg` onward (1-based, 4 digits) in pytracking-style FE108 loaders
  (e.g. `ltr/dataset/fe108.py` of the FE108 authors' training code); `aps/*.png|bmp` in the
  CEUTrack / COESOT evaluation code (`lib/test/evaluation/fe108dataset.py`), which sorts by
  the 4 digits before the suffix. The first of `img/`, `aps/` that exists is the `rgb`
  modality, listed and sorted by frame number.
- Event frames are not in the release: loaders read frames converted from `events.aedat4`
  beforehand, under names of their own (`dvs/`, `evimg/`, `event_imgs/`, or 3-bin stacks
  `inter3_stack/0001_{1,2,3}.jpg`). The first of `dvs/`, `evimg/`, `event_imgs/` that exists
  is the `event` modality; `events.aedat4` is recorded as `meta["aedat4"]` (accumulate it
  with `modalities.aedat4_event_frames`, optional `aedat` package).
- Split lists: either `<root>/<split>/list.txt` (CEUTrack's test reader) or
  `<root>/<split>.txt` at the root (pytracking-style readers; their `train.txt`/`val.txt`
  subsets of the training folder are not part of the release). Without a list, every
  folder of `<root>/<split>/` with a `groundtruth_rect.txt` is a sequence (sorted).
- `groundtruth_rect.txt` is read as comma-separated, as every loader reads it (pandas
  `read_csv(delimiter=",")`); frames whose box is not finite and positive are absent.

Scored by the `fe108` protocol (`tracktune.eval.protocols`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, frame_count_error, read_name_list, read_xywh
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

logger = logging.getLogger(__name__)

NAME = "fe108"
SPLITS = ("train", "test")
GROUNDTRUTH = "groundtruth_rect.txt"
APS_DIRS = ("img", "aps")
EVENT_DIRS = ("dvs", "evimg", "event_imgs")
EVENTS_FILE = "events.aedat4"


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """FE108 sequences of `split` ("train", "test"; None: both)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth_rect.txt` of one sequence folder -> (N, 4) `x, y, w, h`."""
    sequence_dir = Path(sequence_dir)
    return read_xywh(TreeReader(sequence_dir), sequence_dir / GROUNDTRUTH)


def object_class(name: str) -> str:
    """`airplane_mul222` -> `airplane`; `bike222` -> `bike`."""
    return re.split(r"[_\d]", name, maxsplit=1)[0] or name


def sequence_names(reader: TreeReader, root: Path, split: str) -> list[str]:
    """The names of `split`: its list file, else its folders holding a ground truth."""
    for listed in (root / split / "list.txt", root / f"{split}.txt"):
        if reader.is_file(listed):
            return read_name_list(reader, listed)
    if not reader.is_dir(root / split):
        raise DataError(f"{NAME}: split folder not found: {root / split} (expected <root>/train/ and <root>/test/)")
    return [n for n in reader.listdir(root / split, dirs_only=True) if reader.is_file(root / split / n / GROUNDTRUTH)]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences of `split`; `on_error(exc)` gets each sequence's `DataError` and the scan goes on."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    splits = [split] if split is not None else [s for s in SPLITS if reader.is_dir(root / s)]
    if not splits:
        raise DataError(f"{NAME}: no train/ or test/ folder under {root}")
    sequences = []
    for s in splits:
        for name in sequence_names(reader, root, s):
            try:
                sequences.append(_sequence(reader, root / s / name, s, frames))
            except DataError as exc:
                if on_error is None:
                    raise
                on_error(exc)
    return sequences


def _first_dir(reader: TreeReader, sequence_dir: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if reader.is_dir(sequence_dir / name):
            return sequence_dir / name
    return None


def _sequence(reader: TreeReader, sequence_dir: Path, split: str, frames: bool) -> Sequence:
    if not reader.is_dir(sequence_dir):
        raise DataError(f"{NAME}: sequence folder not found: {sequence_dir}")
    groundtruth = sequence_dir / GROUNDTRUTH
    boxes = read_xywh(reader, groundtruth)
    meta = {"dataset": NAME, "groundtruth": groundtruth, "split": split,
            "object_class": object_class(sequence_dir.name)}
    if reader.is_file(sequence_dir / EVENTS_FILE):
        meta["aedat4"] = sequence_dir / EVENTS_FILE
    frame_lists = {}
    if frames:
        aps = _first_dir(reader, sequence_dir, APS_DIRS)
        if aps is None:
            raise DataError(f"{NAME}: no APS frame folder in {sequence_dir} (looked for {', '.join(APS_DIRS)})")
        frame_lists["rgb"] = reader.frames(aps)
        counts = {f"{aps.name} frames": len(frame_lists["rgb"])}
        events = _first_dir(reader, sequence_dir, EVENT_DIRS)
        if events is not None:
            frame_lists["event"] = reader.frames(events)
            counts[f"{events.name} frames"] = len(frame_lists["event"])
        counts[f"{GROUNDTRUTH} lines"] = len(boxes)
        if len(set(counts.values())) > 1:
            logger.warning("%s", frame_count_error(sequence_dir, counts))
    return Sequence(sequence_dir.name, frame_lists, boxes, meta=meta)
