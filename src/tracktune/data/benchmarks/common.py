"""Pieces the benchmark loaders share: split checks, ground-truth and list files.

Every function takes the loader's `TreeReader` (so an index cache knows what was read) or
None (a plain read, for the ground-truth-only functions the evaluator calls).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tracktune.data.index_cache import TreeReader
from tracktune.errors import DataError, at_line

# the synthetic benchmark's per-sequence conditions, beside any layout's files
CONDITIONS_FILE = "conditions.json"


def check_split(dataset: str, split: str | None, known: tuple[str, ...]) -> str | None:
    """`split` unchanged when it is one of `known` (or None: every sequence); else an error."""
    if split is not None and split not in known:
        raise DataError(f"{dataset}: unknown split '{split}'; known: {', '.join(known)}")
    return split


def checked_root(reader: TreeReader, root: str | Path, dataset: str, split: str | None,
                 known: tuple[str, ...]) -> Path:
    """`root` as a Path once `split` is known and the root is a directory; else an error."""
    check_split(dataset, split, known)
    root = Path(root)
    if not reader.is_dir(root):
        raise DataError(f"{dataset}: dataset root not found: {root}")
    return root


def inner_blank_line(rows) -> int | None:
    """The 0-based index of the first blank line that is not trailing, else None (trailing
    blank lines end many files, and every toolkit's reader ignores them)."""
    total = len(rows.values) + len(rows.blank)
    trailing = 0
    for index in reversed(rows.blank):
        if index != total - 1 - trailing:
            break
        trailing += 1
    inner = rows.blank[: len(rows.blank) - trailing]
    return inner[0] if inner else None


def read_xywh(reader: TreeReader, path: Path) -> np.ndarray:
    """An `x,y,w,h`-per-line file (any of , tab ; space) -> (N, 4); NaN lines kept as NaN
    rows; blank lines between boxes and lines of the wrong width are errors naming file:line."""
    rows = reader.rows(path, columns=4)
    blank = inner_blank_line(rows)
    if blank is not None:
        raise DataError(at_line(path, blank + 1, "blank line inside a ground-truth file"))
    return rows.values


def read_vot_regions(reader: TreeReader, path: Path) -> np.ndarray:
    """A VOT `groundtruth.txt`: 4-value boxes or 8-value polygons (their axis-aligned
    bounding box, as the VOT toolkit's `region.convert(Rectangle)`), NaN lines absent."""
    rows = reader.rows(path, min_columns=1)
    blank = inner_blank_line(rows)
    if blank is not None:
        raise DataError(at_line(path, blank + 1, "blank line inside a ground-truth file"))
    boxes = np.full((len(rows.values), 4), np.nan)
    for i, (values, width) in enumerate(zip(rows.values, rows.widths)):
        if width == 4:
            boxes[i] = values[:4]
        elif width == 1 and (not np.isfinite(values[0]) or values[0] == 0):  # "nan" or VOT's empty "0"
            continue
        elif width >= 6 and width % 2 == 0:
            xs, ys = values[0:width:2], values[1:width:2]
            if np.isfinite(xs).all() and np.isfinite(ys).all():
                boxes[i] = [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
        else:
            raise DataError(at_line(path, i + 1, f"expected 4 box values or an even polygon, got {width} values"))
    return boxes


def read_flags(reader: TreeReader, path: Path, count: int | None = None) -> np.ndarray:
    """A per-frame 0/1 file (one value per line, or one comma-separated line) -> int array."""
    text = reader.text(path)
    tokens: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in line.replace(",", " ").replace("\t", " ").split():
            tokens.append((number, token))
    values = np.empty(len(tokens), dtype=np.int64)
    for i, (number, token) in enumerate(tokens):
        try:
            values[i] = int(float(token))
        except ValueError:
            raise DataError(at_line(path, number, f"expected a number, got {token!r}")) from None
    if count is not None and len(values) != count:
        raise DataError(f"{path}: {len(values)} values for {count} frames")
    return values


def read_name_list(reader: TreeReader, path: Path) -> list[str]:
    """A list file of sequence names, one per line (blank lines ignored: they name nothing)."""
    return [line.strip() for line in reader.text(path).splitlines() if line.strip()]


def frame_count_error(sequence_dir: Path, what: dict[str, int]) -> DataError:
    counts = ", ".join(f"{k}: {v}" for k, v in what.items())
    return DataError(f"{sequence_dir}: frame counts differ ({counts})")


def read_conditions(reader: TreeReader, root: Path) -> dict[str, dict]:
    """`conditions.json` of a synthetic tree -> {sequence: {"condition", "severity", ...}}."""
    path = root / CONDITIONS_FILE
    if not reader.is_file(path):
        return {}
    try:
        record = json.loads(reader.text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    sequences = record.get("sequences") if isinstance(record, dict) else None
    if not isinstance(sequences, dict):
        raise DataError(f"{path}: expected an object with a 'sequences' object")
    return sequences


def read_key_values(reader: TreeReader, path: Path, separator: str, skip: str) -> dict[str, str]:
    """`key<separator>value` lines -> {key: value} (both stripped; the first separator splits).
    Blank lines and lines starting with `skip` (a comment or section mark) are passed over; any
    other line without the separator is an error naming it."""
    pairs = {}
    for number, line in enumerate(reader.text(path).splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(skip):
            continue
        if separator not in stripped:
            raise DataError(at_line(path, number, f"expected key{separator}value, got {stripped!r}"))
        key, value = stripped.split(separator, 1)
        pairs[key.strip()] = value.strip()
    return pairs
