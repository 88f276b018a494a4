"""The synthetic RGB-X benchmark as a dataset: generated on first use, read like real data.

`load(root=None, split="train", modality="thermal", ...)` generates the benchmark with
`tracktune.data.synthetic.synthesise` into `root` (default `$TRACKTUNE_SYNTHETIC`, else
`~/.cache/tracktune/synthetic/<modality>-<hash of the generation parameters>`) unless it
is already there, then reads it through the real layout's loader (LasHeR for thermal,
DepthTrack for depth, VisEvent for event), so the synthetic data takes exactly the path
real data takes. Generation writes to a temporary folder renamed into place
(`tracktune.files.temporary_dir`, never replacing a tree another process finished first), so
parallel first uses (DataLoader workers, two runs) never read a half-written tree.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from tracktune.cache import cache_home
from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.data.benchmarks.common import CONDITIONS_FILE
from tracktune.data.sequence import Sequence
from tracktune.data.synthetic import LAYOUT_FOR, params_hash, synthesise
from tracktune.errors import DataError
from tracktune.files import temporary_dir

NAME = "synthetic"
SPLITS = ("train", "test")
GENERATES = True  # `benchmarks.load` passes root=None through instead of asking for a root
DEFAULTS = {"sequences": 40, "frames": 100, "seed": 0, "size": (320, 240), "conditions": None,
            "splits": (0.75, 0.25)}
# auxiliary modality -> the real benchmark whose layout (and loader) a synthetic tree takes
READERS = {modality: BENCHMARKS[layout].loader for modality, layout in LAYOUT_FOR.items()}


def cache_root() -> Path:
    return cache_home("synthetic")


def default_root(modality: str, **params) -> Path:
    """`$TRACKTUNE_SYNTHETIC`, else the cache folder named by modality and parameters."""
    configured = os.environ.get("TRACKTUNE_SYNTHETIC")
    if configured:
        return Path(configured)
    return cache_root() / f"{modality}-{params_hash(modality=modality, **params)}"


def ensure(root: str | Path | None = None, modality: str | None = None, workers: int | None = None,
           progress: bool = True, **params) -> Path:
    """The root of the synthetic benchmark, generated there first when absent."""
    wanted = None if modality in (None, "rgb") else modality  # RGB-only training reads any set's RGB
    modality = wanted or "thermal"
    if modality not in READERS:
        raise DataError(f"synthetic: unknown modality '{modality}'; known: {', '.join(READERS)}")
    params = {**DEFAULTS, **{k: v for k, v in params.items() if v is not None}}
    root = Path(root) if root is not None else default_root(modality, **params)
    if (root / CONDITIONS_FILE).is_file():
        recorded = recorded_modality(root)
        if wanted is not None and recorded != wanted:
            raise DataError(f"synthetic: {root} holds {recorded} data, not {wanted} "
                            f"({root / CONDITIONS_FILE}); pick another root or modality")
        return root
    if root.exists() and any(root.iterdir()):
        raise DataError(f"synthetic: {root} is not empty and holds no {CONDITIONS_FILE}: not a synthetic dataset")
    try:
        with temporary_dir(root, replace=False) as staging:  # renamed onto a missing or empty root only
            synthesise(staging, modality=modality, workers=workers, progress=progress, **params)
    except OSError:
        if not (root / CONDITIONS_FILE).is_file():  # not another process's finished copy
            raise
    return root


def load(root: str | Path | None = None, split: str | None = "train", modality: str | None = None,
         sequences: int | None = None, frames: int | None = None, seed: int | None = None, size=None,
         conditions=None, splits=None, workers: int | None = None) -> list[Sequence]:
    """The synthetic sequences of `split` ("train", "test", None: all), generated first
    when `root` (or the default cache folder) holds none. `modality` None (or "rgb") takes
    what `root` holds, else generates thermal; another modality than `root` holds is an error."""
    if split is not None and split not in SPLITS:
        raise DataError(f"synthetic: unknown split '{split}'; known: {', '.join(SPLITS)}")
    root = ensure(root, modality, workers=workers, sequences=sequences, frames=frames, seed=seed, size=size,
                  conditions=conditions, splits=splits)
    return reader_module(root).load(root, split=split)


def load_ground_truth(root: str | Path, split: str | None = None) -> list[Sequence]:
    """Ground truth only (the evaluator's entry), through the layout's loader."""
    return reader_module(Path(root)).load_ground_truth(root, split=split)


def recorded_modality(root: Path) -> str:
    """The auxiliary modality a synthetic tree holds (its conditions.json)."""
    path = Path(root) / CONDITIONS_FILE
    try:
        modality = json.loads(path.read_text())["modality"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"synthetic: cannot read the modality from {path}: {exc!r}") from None
    if modality not in READERS:
        raise DataError(f"{path}: unknown modality '{modality}'")
    return modality


def reader_module(root: Path):
    """The real-layout loader module for a synthetic tree (from its conditions.json)."""
    return importlib.import_module(READERS[recorded_modality(root)])
