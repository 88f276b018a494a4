"""DepthTrack (Yan et al., ICCV 2021): long-term RGB-D tracking, in the VOT layout.

Layout: `<root>/list.txt`, `<seq>/color/%08d.jpg`, `<seq>/depth/%08d.png` (16-bit
millimetres), `groundtruth.txt` (NaN lines where the target is absent), `sequence`, per-frame
`<tag>.tag` files; frames start at 1. The train and test sets ship as separate trees:
`split` picks `<root>/train` or `<root>/test` when such a folder exists, else `root` holds
that split itself; split None reads `root` when it lists sequences, else both folders.
One sequence folder is read by `vot_rgbd.read_vot_sequence(..., dataset="depthtrack")`.
Scored by the `vot_lt` protocol (absent frames: `seq.visible` False).

Synthetic data (`tracktune data synth --modality depth`) writes `<root>/{train,test}/` plus
`conditions.json` at the root: condition and severity come back in `attributes` and `meta`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracktune.data.benchmarks.common import checked_root, read_conditions, read_name_list, read_vot_regions
from tracktune.data.benchmarks.vot_rgbd import read_vot_sequence
from tracktune.data.index_cache import TreeReader, cached_scan
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError

NAME = "depthtrack"
SPLITS = ("train", "test")


def load(root: str | Path, split: str | None = None) -> list[Sequence]:
    """The DepthTrack sequences of `split` ("train", "test", None: every sequence)."""
    return cached_scan(__name__, root, split, lambda reader: scan(reader, root, split))


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Sequences with ground truth and tags but no frames (`frames == {}`)."""
    return scan(TreeReader(root), root, split, frames=False)


def read_ground_truth(sequence_dir: str | Path) -> np.ndarray:
    """`groundtruth.txt` of one sequence -> (N, 4) `x, y, w, h` (NaN rows where absent)."""
    sequence_dir = Path(sequence_dir)
    return read_vot_regions(TreeReader(sequence_dir), sequence_dir / "groundtruth.txt")


def _lists_sequences(reader: TreeReader, folder: Path) -> bool:
    return reader.is_file(folder / "list.txt") or any(
        reader.is_file(folder / n / "groundtruth.txt") for n in reader.listdir(folder, dirs_only=True))


def split_folders(reader: TreeReader, root: Path, split: str | None) -> list[Path]:
    """The folders whose sequences make up `split`."""
    if split is not None:
        return [root / split] if reader.is_dir(root / split) else [root]
    if _lists_sequences(reader, root):
        return [root]
    folders = [root / s for s in SPLITS if reader.is_dir(root / s)]
    if not folders:
        raise DataError(f"{NAME}: no list.txt, sequence folders or train/ test/ folders in {root}")
    return folders


def sequence_names(reader: TreeReader, folder: Path) -> list[str]:
    if reader.is_file(folder / "list.txt"):
        return read_name_list(reader, folder / "list.txt")
    return [n for n in reader.listdir(folder, dirs_only=True) if reader.is_file(folder / n / "groundtruth.txt")]


def scan(reader: TreeReader, root: str | Path, split: str | None = None, frames: bool = True,
         on_error=None) -> list[Sequence]:
    """The sequences; `on_error(exc)` gets each sequence's `DataError` and the scan goes on."""
    root = checked_root(reader, root, NAME, split, SPLITS)
    conditions = read_conditions(reader, root)
    sequences = []
    for folder in split_folders(reader, root, split):
        for name in sequence_names(reader, folder):
            try:
                sequence = read_vot_sequence(reader, folder / name, frames, dataset=NAME)
            except DataError as exc:
                if on_error is None:
                    raise
                on_error(exc)
                continue
            if folder != root:
                sequence.meta["split"] = folder.name
            condition = conditions.get(name)
            if condition:
                tags = {"condition": condition.get("condition"), "severity": condition.get("severity")}
                sequence.attributes.update(tags)
                sequence.meta.update(tags, synthetic=True)
            sequences.append(sequence)
    return sequences
