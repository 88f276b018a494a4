"""Contact sheets: look at a dataset (or a degradation) before training on it.

`tracktune data show DIR` draws a few sequences (by default the first of each synthetic
condition), each as one row of frames spread over the sequence; every cell shows the RGB
frame and the auxiliary frame side by side with the ground-truth box (magenta with a black
outline, readable on any background) and a label: sequence,
condition, frame index, and "absent" where the target is not visible. The one home of
tile drawing, including `degradation_sheet` (each degradation kind at each severity).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence as SequenceOf

import cv2
import numpy as np

from tracktune.data import degrade as D
from tracktune.data.benchmarks import loader
from tracktune.data.benchmarks.common import CONDITIONS_FILE
from tracktune.data.benchmarks.synthetic import reader_module
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError
from tracktune.files import atomic_write_bytes
from tracktune.suggest import did_you_mean

BOX_COLOUR = (255, 0, 255)  # RGB magenta: no synthetic object or benchmark scene uses it much
TEXT_COLOUR = (255, 255, 0)


def label(cell: np.ndarray, text: str, row: int = 0) -> np.ndarray:
    """Write `text` (outlined, so it reads on any background) on line `row` of `cell`, in place."""
    y = 12 + 12 * row
    cv2.putText(cell, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(cell, text, (3, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, TEXT_COLOUR, 1, cv2.LINE_AA)
    return cell


def draw_box(image: np.ndarray, box_xywh, scale: float = 1.0, colour=BOX_COLOUR) -> np.ndarray:
    """Draw an `x, y, w, h` box (scaled by `scale`) in place; NaN or empty boxes draw nothing."""
    box = np.asarray(box_xywh, dtype=np.float64) * scale
    if not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        return image
    p0 = (int(round(box[0] * 16)), int(round(box[1] * 16)))
    p1 = (int(round((box[0] + box[2]) * 16)), int(round((box[1] + box[3]) * 16)))
    cv2.rectangle(image, p0, p1, (0, 0, 0), 3, cv2.LINE_AA, shift=4)
    cv2.rectangle(image, p0, p1, colour, 1, cv2.LINE_AA, shift=4)
    return image


def fit(image: np.ndarray, width: int) -> np.ndarray:
    """`image` resized to `width` (aspect kept), as a writable HxWx3 uint8 copy."""
    h, w = image.shape[:2]
    height = max(1, int(round(width * h / w)))
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def grid(rows: SequenceOf[SequenceOf[np.ndarray]], gap: int = 2) -> np.ndarray:
    """Cells (HxWx3 uint8) in rows -> one image; short rows and cells are padded grey."""
    widths = [sum(c.shape[1] for c in row) + gap * (len(row) - 1) for row in rows]
    full = max(widths)
    lines = []
    for row in rows:
        height = max(c.shape[0] for c in row)
        line = np.full((height, full, 3), 64, np.uint8)
        x = 0
        for cell in row:
            line[: cell.shape[0], x: x + cell.shape[1]] = cell
            x += cell.shape[1] + gap
        lines.append(line)
    out = [lines[0]]
    for line in lines[1:]:
        out += [np.full((gap, full, 3), 64, np.uint8), line] if gap else [line]
    return np.concatenate(out, axis=0)


def frame_cell(sequence: Sequence, index: int, tile: int, degradation=None, note: str = "") -> np.ndarray:
    """One frame: RGB (optionally degraded) and the auxiliary modality side by side, GT box
    on both, labelled with the frame index (and "absent" where the target is not visible)."""
    rgb = sequence.frame(index)
    if degradation is not None:
        rgb = degradation(rgb, index)
    scale = tile / rgb.shape[1]
    panels = [fit(rgb, tile)]
    aux = sequence.aux_modality
    if aux is not None:
        panels.append(fit(sequence.frame(index, aux), tile))
    box = sequence.boxes[index] if index < len(sequence.boxes) else np.full(4, np.nan)
    shown = bool(sequence.visible[index]) if index < len(sequence.visible) else False
    for panel in panels:
        if shown:
            draw_box(panel, box, scale)
    label(panels[0], f"#{index}" + ("" if shown else " absent") + (f" {note}" if note else ""))
    if aux is not None:
        label(panels[1], aux)
    cell = np.concatenate(panels, axis=1)
    cell[:, tile - 1: tile + 1] = 255 if len(panels) > 1 else cell[:, tile - 1: tile + 1]
    return cell


def condition_of(sequence: Sequence) -> str:
    """"night:4" from a synthetic sequence's attributes (or meta), else ""."""
    tags = {**(sequence.meta or {}), **(sequence.attributes or {})}
    condition = tags.get("condition")
    if condition is None:
        return str(tags.get("degradation", ""))
    severity = tags.get("severity")
    return f"{condition}:{severity}" if severity is not None else str(condition)


def sequence_row(sequence: Sequence, frames: int, tile: int, degradation=None) -> list[np.ndarray]:
    """`frames` cells spread evenly over the sequence; the first names it and its condition."""
    count = len(sequence)
    if count == 0:
        raise DataError(f"sequence {sequence.name} has no frames to show")
    indices = np.unique(np.linspace(0, count - 1, max(1, frames)).round().astype(int))
    cells = [frame_cell(sequence, int(i), tile, degradation) for i in indices]
    title = f"{sequence.name} {condition_of(sequence)}".strip()
    if degradation is not None:
        title += f" +{degradation.kind}:{degradation.severity}"
    label(cells[0], title, row=1)
    return cells


def pick_sequences(sequences: list[Sequence], name: str | None, per_condition: int = 1, limit: int = 9) -> list[Sequence]:
    """The named sequence; else all when there are at most `limit`; else the first
    `per_condition` of each condition (synthetic data), else the first `limit`."""
    if name is not None:
        chosen = [s for s in sequences if s.name == name]
        if not chosen:
            raise DataError(f"no sequence '{name}'{did_you_mean(name, [s.name for s in sequences], cutoff=0.6)}")
        return chosen
    if len(sequences) <= limit:
        return list(sequences)
    seen: dict[str, int] = {}
    chosen = []
    for sequence in sequences:
        condition = condition_of(sequence).split(":")[0]
        if not condition:
            return sequences[:limit]
        if seen.get(condition, 0) < per_condition:
            seen[condition] = seen.get(condition, 0) + 1
            chosen.append(sequence)
    return chosen[:limit]


def sequence_sheet(sequences: list[Sequence], frames: int = 6, tile: int = 160, degradations=(None,)) -> np.ndarray:
    """Rows of frames, one per (sequence, degradation)."""
    rows = [sequence_row(s, frames, tile, d) for s in sequences for d in degradations]
    return grid(rows)


def degradation_sheet(
    image: np.ndarray,
    kinds: SequenceOf[str] | None = None,
    severities: SequenceOf[int] = D.SEVERITIES,
    seed: int = 0,
    tile: int = 160,
) -> np.ndarray:
    """One row per degradation kind: the clean image, then each severity, labelled.
    HxWx3 uint8 RGB."""
    kinds = list(D.KINDS) if kinds is None else list(kinds)
    for kind in kinds:
        D.check_kind(kind)
    rows = []
    for kind in kinds:
        cells = [("clean", image)]
        for severity in severities:
            rng = np.random.default_rng([seed, list(D.KINDS).index(kind), int(severity)])
            cells.append((f"{kind}:{severity}", D.degrade(image, kind, severity, rng)))
        rows.append([label(fit(picture, tile), text) for text, picture in cells])
    return grid(rows, gap=0)


def load_any(root: Path, dataset: str | None, split: str | None = None) -> list[Sequence]:
    """A synthetic tree (it has conditions.json) through its layout's loader, else `dataset`."""
    if dataset is None:
        if not (root / CONDITIONS_FILE).is_file():
            raise DataError(f"{root}: no {CONDITIONS_FILE} (not synthetic): name the benchmark with --dataset")
        return reader_module(root).load(root, split=split)
    return loader(dataset).load(root, split=split)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError(f"could not encode {path}")
    return atomic_write_bytes(path, data.tobytes())


def show_command(args: argparse.Namespace) -> int:
    """`tracktune data show`."""
    if args.root is None:
        raise DataError("data show: give a dataset root (e.g. the --out of `tracktune data synth`)")
    sequences = load_any(Path(args.root), args.dataset)
    chosen = pick_sequences(sequences, args.sequence)
    degradations = [None]
    if args.degrade:
        rng = np.random.default_rng(0)
        degradations = [spec.draw(rng) for spec in D.parse_specs(args.degrade, "--degrade")]
    sheet = sequence_sheet(chosen, frames=args.frames, degradations=degradations)
    path = write_png(args.out, sheet)
    print(f"wrote {path} ({len(chosen)} sequences, {sheet.shape[1]}x{sheet.shape[0]})")
    return 0
