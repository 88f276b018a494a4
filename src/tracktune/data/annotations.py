"""Reading annotation and result text files: one tolerant parser for every benchmark.

Accepts comma, tab, semicolon or space separators (mixed too), trailing separators,
`NaN` values, CRLF line ends. A line that is not numbers is an error naming file and
line. Blank lines are reported back (their indices) so callers decide what the official
toolkit would do with them; they are never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracktune.errors import DataError, at_line
from tracktune.files import atomic_write_text

_SEPARATORS = re.compile(r"[,\t; ]+")


@dataclass
class Rows:
    """Parsed numeric rows. `values` is (N, columns); `blank` lists the 0-based indices of
    blank lines in the file (absent from `values`)."""

    values: np.ndarray
    blank: list[int]
    path: Path
    widths: list[int] = field(default_factory=list)  # values on each non-blank line (NaN counts)


def read_rows(path: str | Path, columns: int | None = None, min_columns: int | None = None) -> Rows:
    """Parse a numeric text table.

    Args:
        columns: exact column count expected on every line (error otherwise).
        min_columns: at least this many columns; extra columns are kept (rows padded with
            NaN to the widest line) - e.g. VOT files mixing 4-value boxes and 8-value polygons.
    """
    path = Path(path)
    text = read_text(path, "annotation file")
    rows: list[list[float]] = []
    blank: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().strip(",;")
        if not stripped:
            blank.append(number - 1)
            continue
        fields = [f for f in _SEPARATORS.split(stripped) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise DataError(at_line(path, number, f"expected numbers, got {line.strip()!r}")) from None
        if columns is not None and len(values) != columns:
            raise DataError(at_line(path, number, f"expected {columns} values, got {len(values)}: {line.strip()!r}"))
        if min_columns is not None and len(values) < min_columns:
            raise DataError(
                at_line(path, number, f"expected at least {min_columns} values, got {len(values)}: {line.strip()!r}")
            )
        rows.append(values)
    width = columns or max((len(r) for r in rows), default=min_columns or 0)
    table = np.full((len(rows), width), np.nan, dtype=np.float64)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return Rows(values=table, blank=blank, path=path, widths=[len(r) for r in rows])


def read_text(path: Path, what: str = "file") -> str:
    """The text of a UTF-8 file (a byte-order mark dropped); a DataError naming `path` when
    it is missing or not text."""
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a text file ({exc})") from exc


def read_boxes(path: str | Path) -> np.ndarray:
    """An `x, y, w, h` per line file -> (N, 4) float64. Blank lines are errors here."""
    rows = read_rows(path, columns=4)
    if rows.blank:
        raise DataError(at_line(path, rows.blank[0] + 1, "blank line inside a box file"))
    return rows.values


def write_boxes(path: str | Path, boxes: np.ndarray, separator: str = ",", decimals: int | None = None) -> Path:
    """Write (N, 4) boxes one per line (NaN as `nan`); atomically."""
    fmt = (lambda v: f"{v:.{decimals}f}") if decimals is not None else (lambda v: format(v, ".10g") if np.isfinite(v) else "nan")
    lines = [separator.join(fmt(float(v)) for v in row) for row in np.asarray(boxes, dtype=np.float64)]
    return atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
