"""`tracktune data check NAME --root DIR [--split S] [--json]`: verify a benchmark on disk.

Reads the dataset through its loader (every sequence, even after one fails: a loader with a
`scan(reader, root, split, on_error=...)` hands each sequence's error over and goes on) and
then opens every frame. Problem kinds:

- `load_error`: a sequence the loader could not read (missing folder or file, a flag file
  of the wrong length); `malformed_line`: a ground-truth or flag line that is not what the
  format says (file and line);
- `missing_frame`: a gap in a numbered frame folder (`00000003.jpg` between 2 and 4 absent);
  `unreadable_frame`: an empty, corrupt or truncated image (a JPEG without its end marker);
- `frame_count_mismatch`: modalities with different frame counts, or frames and
  ground-truth lines that differ;
- `box_outside_image`: a visible target box with less than half its area inside the image;
  `invalid_box`: a visible frame whose box is not finite with positive size;
- `absent_flag`: the absent / visibility flags say "present" where the box says "absent";
- `empty_sequence`: a sequence without frames.

Exit status 1 when anything is wrong, 0 when clean. `--json` prints `{"dataset",
"sequences", "frames": {MODALITY: n}, "problems": [{"kind", "path", "line", "message"}]}`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracktune.data.benchmarks import loader, resolve_root
from tracktune.data.index_cache import TreeReader
from tracktune.errors import DataError
from tracktune.progress import progress_bar, progress_mode

_AT_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+): (?P<message>.*)$", re.S)
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")
MAX_GAPS_LISTED = 10  # missing frames named per folder; the rest are counted
PARALLEL_MIN_FRAMES = 2000  # smaller datasets are checked in-process (a pool costs ~1 s to start)


@dataclass
class Problem:
    kind: str
    path: str
    line: int | None
    message: str


@dataclass
class Report:
    dataset: str
    sequences: int = 0
    frames: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, kind: str, path, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(kind, str(path), line, message))

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "sequences": self.sequences, "frames": dict(self.frames),
                "problems": [asdict(p) for p in self.problems]}


def problem_from_error(exc: DataError, fallback_path: str = "") -> Problem:
    """A loader's `DataError` as a Problem: `path:line: message` keeps its file and line."""
    text = str(exc)
    match = _AT_LINE.match(text)
    if match:
        return Problem("malformed_line", match["path"], int(match["line"]), match["message"])
    path = fallback_path
    found = re.search(r"(/[^\s:,]+)", text)
    if found:
        path = found.group(1).rstrip(")")
    return Problem("load_error", path, None, text)


def frame_problem(path: Path) -> str | None:
    """Why frame `path` cannot be used, or None when it decodes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing file"
    except OSError as exc:
        return f"cannot read ({exc})"
    if not data:
        return "empty file"
    if path.suffix.lower() in (".jpg", ".jpeg") and not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return "truncated JPEG (no end-of-image marker)"
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return "not a decodable image"
    return None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a readable frame, else None."""
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    return None if image is None else (image.shape[1], image.shape[0])


def numbering_gaps(paths) -> list[Path]:
    """The frame files missing from a numbered run (names from the folder's own pattern)."""
    if hasattr(paths, "_pattern") and paths._pattern is not None:
        return []  # an exact run by construction
    numbered = []
    for path in paths:
        match = _NUMBERED.match(Path(path).name)
        if match is None:
            return []
        numbered.append((int(match.group(2)), match))
    if len(numbered) < 2:
        return []
    numbers = [n for n, _ in numbered]
    if len(set(numbers)) != len(numbers) or numbers != sorted(numbers):
        return []
    present = set(numbers)
    _, first = numbered[0]
    prefix, digits, suffix = first.group(1), len(first.group(2)), first.group(3)
    directory = Path(paths[0]).parent
    return [directory / f"{prefix}{n:0{digits}d}{suffix}" for n in range(numbers[0], numbers[-1] + 1)
            if n not in present]


def _scan_sequences(name: str, root: Path, split: str | None, report: Report) -> list:
    """The loader's sequences; each sequence's error recorded rather than ending the check."""
    module = loader(name)
    scan = getattr(module, "scan", None)
    try:
        if scan is not None and "on_error" in inspect.signature(scan).parameters:
            return scan(TreeReader(root), root, split, on_error=lambda exc: report.problems.append(
                problem_from_error(exc, str(root))))
        return module.load(root, split=split)
    except DataError as exc:
        report.problems.append(problem_from_error(exc, str(root)))
        return []


def check_sequence(sequence, report: Report, read_frames: bool = True, progress=None) -> None:
    """Every per-sequence check; problems appended to `report`."""
    gt_path = str(sequence.meta.get("groundtruth", sequence.name))
    counts = {m: len(p) for m, p in sequence.frames.items()}
    for modality, count in counts.items():
        report.frames[modality] = report.frames.get(modality, 0) + count
    if not counts or max(counts.values()) == 0:
        report.add("empty_sequence", gt_path, f"sequence {sequence.name}: no frames")
        return
    for modality, paths in sequence.frames.items():
        gaps = numbering_gaps(paths)
        for path in gaps[:MAX_GAPS_LISTED]:
            report.add("missing_frame", path, f"sequence {sequence.name}: {modality} frame {path.name} missing "
                                              "from a numbered run")
        if len(gaps) > MAX_GAPS_LISTED:
            report.add("missing_frame", Path(paths[0]).parent,
                       f"sequence {sequence.name}: {len(gaps) - MAX_GAPS_LISTED} more {modality} frames missing")
    expected = dict(counts)
    if not sequence.meta.get("first_frame_only"):
        expected["ground truth"] = len(sequence.boxes)
    if len(set(expected.values())) > 1:
        what = ", ".join(f"{k}: {v}" for k, v in expected.items())
        report.add("frame_count_mismatch", gt_path, f"sequence {sequence.name}: frame counts differ ({what})")
    sizes: dict[str, tuple[int, int]] = {}
    for modality, paths in sequence.frames.items():
        for path in paths:
            reason = frame_problem(Path(path)) if read_frames else None
            if reason is not None:
                report.add("unreadable_frame", path, f"sequence {sequence.name}: {modality} frame: {reason}")
            elif modality not in sizes:
                size = image_size(Path(path))
                if size is not None:
                    sizes[modality] = size
            if progress is not None:
                progress.update(1)
    _check_boxes(sequence, sizes.get("rgb") or next(iter(sizes.values()), None), gt_path, report)


def _check_boxes(sequence, size, gt_path: str, report: Report) -> None:
    boxes, visible = sequence.boxes, sequence.visible
    valid = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    explicit_flags = "absent_label" in sequence.meta or any(
        k in sequence.attributes for k in ("absence", "full_occlusion", "out_of_view", "absent"))
    for i in np.flatnonzero(visible & ~valid):
        kind = "absent_flag" if explicit_flags else "invalid_box"
        what = "the absent flags say present" if explicit_flags else "frame counted visible"
        report.add(kind, gt_path, f"sequence {sequence.name}: frame {i + 1}: {what} but the box is "
                                  f"{boxes[i].tolist()}", line=int(i) + 1)
    absence, cover = sequence.attributes.get("absence"), sequence.attributes.get("cover")
    if absence is not None and cover is not None and len(absence) == len(cover):
        for i in np.flatnonzero(np.asarray(absence, bool) & (np.asarray(cover) > 0)):
            report.add("absent_flag", gt_path, f"sequence {sequence.name}: frame {i + 1}: absence.label says absent "
                                               f"but cover.label says {int(cover[i])}/8 visible", line=int(i) + 1)
    if size is None:
        return
    width, height = size
    x, y, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    with np.errstate(invalid="ignore"):
        inside_w = np.clip(np.minimum(x + w, width) - np.maximum(x, 0), 0, None)
        inside_h = np.clip(np.minimum(y + h, height) - np.maximum(y, 0), 0, None)
        fraction = inside_w * inside_h / (w * h)
    for i in np.flatnonzero(visible & valid & (fraction < 0.5)):
        report.add("box_outside_image", gt_path, f"sequence {sequence.name}: frame {i + 1}: box {boxes[i].tolist()} "
                                                 f"is {100 * (1 - fraction[i]):.0f}% outside the {width}x{height} "
                                                 "image", line=int(i) + 1)


def _check_one(sequence) -> Report:
    """One sequence's checks in a worker process (its own small report)."""
    report = Report("")
    check_sequence(sequence, report)
    return report


def check_dataset(name: str, root: str | Path | None, split: str | None = None, read_frames: bool = True,
                  show_progress: bool = False, workers: int | None = 1) -> Report:
    """Check benchmark `name` at `root` (or `$TRACKTUNE_<NAME>`).

    `workers` > 1 decodes frames in that many processes (sequences in parallel; problems
    come back in sequence order) once the dataset has `PARALLEL_MIN_FRAMES` frames; None:
    every core.
    """
    loader(name)  # an unknown name fails here, with a suggestion
    root = resolve_root(name, root)
    report = Report(name)
    sequences = _scan_sequences(name, root, split, report)
    report.sequences = len(sequences)
    if not sequences and not report.problems:
        where = f" (split {split})" if split else ""
        raise DataError(f"{root}: no {name} sequences found{where}; is this the {name} root?")
    total = sum(len(p) for s in sequences for p in s.frames.values())
    workers = (os.cpu_count() or 1) if workers is None else workers
    progress = None
    if show_progress and read_frames:
        progress = progress_bar(total, f"checking {name} frames", "frame", show_progress)
    try:
        if workers > 1 and read_frames and len(sequences) > 1 and total >= PARALLEL_MIN_FRAMES:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for sequence, part in zip(sequences, pool.map(_check_one, sequences, chunksize=4)):
                    for modality, count in part.frames.items():
                        report.frames[modality] = report.frames.get(modality, 0) + count
                    report.problems.extend(part.problems)
                    if progress is not None:
                        progress.update(sum(len(p) for p in sequence.frames.values()))
        else:
            for sequence in sequences:
                check_sequence(sequence, report, read_frames=read_frames, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    return report


def format_report(report: Report) -> str:
    frames = ", ".join(f"{m}: {n}" for m, n in report.frames.items()) or "none"
    lines = [f"{report.dataset}: {report.sequences} sequences; frames {frames}"]
    for p in report.problems:
        where = f"{p.path}:{p.line}" if p.line is not None else p.path
        lines.append(f"{where}: [{p.kind}] {p.message}")
    lines.append(f"{len(report.problems)} problems" if report.problems else "clean")
    return "\n".join(lines)


def check_command(args: argparse.Namespace) -> int:
    """The `data check` action: exit 1 when anything is wrong, 0 when clean."""
    workers = getattr(args, "workers", None)  # `--workers` where the command line offers it; else every core
    report = check_dataset(args.name, args.root, args.split,
                           show_progress="off" if args.json else progress_mode(args), workers=workers)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 1 if report.problems else 0
