"""Tracker result files in each benchmark's official layout: find, read, write.

Layouts (docs/benchmarks.md#result-files):
- `plain`: `<dir>/<seq>.txt`, one `x,y,w,h` per line (LasHeR, RGBT, VisEvent, OTB,
  LaSOT, TrackingNet; pytracking's tab-separated files read the same). Lines of 8
  values are corner polygons (RGBT234 / GTOT trackers write them).
- `got10k`: `<dir>/<seq>/<seq>_001.txt` (runs `_002`, ...), plus `<seq>_time.txt`.
- `vot`: `<dir>/<seq>_001.txt` or `<dir>/<seq>/<seq>_001.txt` (or vot-toolkit's binary
  `<seq>_001.bin`), with `<seq>_001_confidence.value`; a line of one number is a VOT status
  code (1 = init, 0 = lost), read as "no box".

Reading is tolerant (comma / tab / space / semicolon, blank lines, trailing commas, NaN)
and strict about everything else: a line that is not numbers, or has a number of values
other than 4 / 8 (1 in VOT files), is a `DataError` naming the file and line. A blank
line inside a file is an invalid prediction (NaN) - the frame stays in place, so later
frames keep their indices, and each protocol then treats it as its toolkit treats an
invalid box (LasHeR / LaSOT: the previous frame's box) - and trailing blank lines are
dropped; both are said in the notes `read_tracker_results` returns for the report.

A results file with fewer or more lines than the ground truth is the protocol's business
(`Protocol.length_policy`, docs/benchmarks.md#common-definitions): the MATLAB toolkits (lasher, lasot, visevent) ignore extra
lines and cannot score a short file; the `rgbt`-style toolkits (rgbt234, rgbt210, gtot)
score the common prefix; the TrackingNet server cuts a long file and fails a short one's
missing frames; the got10k, OTB and VOT analyses require equal lengths. Every cut is said
in the report's notes.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tracktune.data.annotations import Rows, read_rows, read_text, write_boxes
from tracktune.data.benchmarks.catalog import RESULT_LAYOUTS as LAYOUTS
from tracktune.errors import DataError, at_line
from tracktune.eval.multistart import read_trajectory_binary
from tracktune.eval.protocols import Prediction
from tracktune.files import atomic_write_text, atomic_write_with

_TO_SPACE = str.maketrans({",": " ", "\t": " ", ";": " "})


def read_table(path: str | Path) -> Rows:
    """A numeric text table -> `Rows` (values, blank-line indices, values per line).

    Clean files (the usual case) are parsed by numpy's C reader, 10x faster than the
    line-by-line parser; anything else (a blank line before the end, mixed widths, a word)
    goes through `annotations.read_rows`, which names the file and line at fault.
    """
    path = Path(path)
    text = read_text(path)
    body = text.translate(_TO_SPACE).rstrip()
    if body:
        n_body = body.count("\n") + 1
        try:
            values = np.loadtxt(io.StringIO(body), dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            values = None
        if values is not None and len(values) == n_body:  # no blank line was skipped
            n_lines = len(text.splitlines())
            return Rows(values=values, blank=list(range(n_body, n_lines)), path=path,
                        widths=[values.shape[1]] * n_body)
    return read_rows(path, min_columns=1)



def _rows_to_boxes(path: Path, values: np.ndarray, widths: np.ndarray):
    """(N, k) parsed rows -> (N, 4) xywh boxes, and the 8-value corners where given."""
    n = len(values)
    boxes = np.full((n, 4), np.nan)
    corners = None
    for width in np.unique(widths):
        rows = widths == width
        if width == 4:
            boxes[rows] = values[rows, :4]
        elif width == 8:
            c = values[rows, :8]
            xs, ys = c[:, 0::2], c[:, 1::2]
            boxes[rows] = np.stack([xs.min(1), ys.min(1), xs.max(1) - xs.min(1), ys.max(1) - ys.min(1)], axis=1)
            if corners is None:
                corners = np.full((n, 8), np.nan)
            corners[rows] = c
        elif width in (0, 1):
            pass  # blank line or a VOT status code: no box
        else:
            line = int(np.flatnonzero(rows)[0]) + 1
            raise DataError(at_line(path, line, f"expected 4 (x,y,w,h) or 8 (corners) values, got {width}"))
    return boxes, corners


def read_result_file(path: str | Path) -> tuple[Prediction, list[str]]:
    """One result file -> (`Prediction`, notes about blank lines); a vot-toolkit binary
    trajectory (`.bin`) is read with `multistart.read_trajectory_binary`."""
    path = Path(path)
    if path.suffix == ".bin":
        return Prediction(boxes=read_trajectory_binary(path), source=path), []
    rows = read_table(path)
    if not rows.blank and rows.values.ndim == 2 and rows.values.shape[1] == 4 and len(set(rows.widths)) <= 1:
        return Prediction(boxes=rows.values, source=path), []  # the usual clean file: no per-line work
    n_lines = len(rows.values) + len(rows.blank)
    # trailing blank lines are the editor's, not frames
    blank = sorted(rows.blank)
    while blank and blank[-1] == n_lines - 1:
        blank.pop()
        n_lines -= 1
    values = np.full((n_lines, max(rows.values.shape[1], 1)), np.nan)
    widths = np.zeros(n_lines, dtype=np.int64)
    filled = np.setdiff1d(np.arange(n_lines), blank)
    values[filled, : rows.values.shape[1]] = rows.values
    widths[filled] = rows.widths
    boxes, corners = _rows_to_boxes(path, values, widths)
    notes = [f"{path}: blank line {i + 1} read as no prediction" for i in blank]
    return Prediction(boxes=boxes, corners=corners, source=path), notes


def read_confidence_file(path: str | Path) -> np.ndarray:
    """A VOT `.value` file: one number per line. An empty line (the toolkit writes one for
    the initialisation frame) is confidence 0, as vot-toolkit reads it (`Trajectory.read`
    keeps no value for the frame, and the long-term analysis takes
    `properties(i).get("confidence", 0)`): it joins the threshold pool. A `nan` line is
    NaN (dropped from the pool, passes no threshold), as the toolkit's `float("nan")`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"confidence file not found: {path}")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        text = line.strip().strip(",")
        if not text:
            out.append(0.0)
            continue
        try:
            out.append(float(text))
        except ValueError:
            raise DataError(at_line(path, number, f"expected a number, got {line.strip()!r}")) from None
    return np.asarray(out, dtype=np.float64)


def _run_files(directory: Path, seq: str, binary: bool = False) -> list[Path]:
    """`<seq>_001.txt`, `_002`, ... in `<dir>/<seq>/` or `<dir>/`; with `binary`, also
    vot-toolkit's binary `<seq>_001.bin` (its default since 0.6), a `.txt` of the same run
    taking precedence as in the toolkit's `Trajectory.read`."""
    pattern = re.compile(re.escape(seq) + (r"_(\d{3})\.(txt|bin)$" if binary else r"_(\d{3})\.txt$"))
    found = []
    for folder in (directory / seq, directory):
        if folder.is_dir():
            by_run: dict[str, Path] = {}
            for p in sorted(folder.iterdir()):
                match = pattern.match(p.name)
                if match and (match.group(1) not in by_run or p.suffix == ".txt"):
                    by_run[match.group(1)] = p
            found = [by_run[k] for k in sorted(by_run)]
            if found:
                break
    return found


def find_runs(directory: str | Path, seq: str, layout: str = "plain") -> list[Path]:
    """The result files of sequence `seq` in a tracker's results folder."""
    directory = Path(directory)
    if layout == "plain":
        candidates = [directory / f"{seq}.txt"]
        found = [p for p in candidates if p.is_file()]
        if not found:
            runs = _run_files(directory, seq)  # tolerate a VOT / GOT-10k style folder
            if runs:
                return runs[:1]
            raise DataError(f"no result file for sequence '{seq}' in {directory} (expected {candidates[0].name})")
        return found
    if layout in ("got10k", "vot"):
        runs = _run_files(directory, seq, binary=layout == "vot")
        if not runs:
            raise DataError(f"no result file for sequence '{seq}' in {directory} (expected {seq}_001.txt or {seq}/{seq}_001.txt)")
        return runs
    raise DataError(f"unknown results layout '{layout}' (known: {', '.join(LAYOUTS)})")


def read_tracker_results(directory: str | Path, sequences: list[str], layout: str = "plain",
                         confidences: bool = False) -> tuple[dict[str, list[Prediction]], list[str]]:
    """All runs of one tracker: `{seq: [Prediction, ...]}` and notes for the report.
    `directory` may be a `.zip` of `<seq>.txt` files (TrackingNet's submission form).
    A sequence with no result file is an error (every official toolkit stops there)."""
    directory = Path(directory)
    if directory.suffix.lower() == ".zip" and directory.is_file():
        try:
            archive = zipfile.ZipFile(directory)
        except zipfile.BadZipFile as exc:
            raise DataError(f"{directory}: not a readable zip file ({exc})") from None
        with tempfile.TemporaryDirectory() as tmp, archive:
            try:
                archive.extractall(tmp)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise DataError(f"{directory}: corrupt zip file ({exc})") from None
            try:
                runs, notes = read_tracker_results(tmp, sequences, layout, confidences)
            except DataError as exc:  # name the zip, not the temporary folder
                raise DataError(str(exc).replace(str(tmp), f"{directory}:")) from exc
            for seq_runs in runs.values():
                for run in seq_runs:
                    run.source = f"{directory}:{Path(run.source).relative_to(tmp)}"
            notes = [n.replace(str(tmp), str(directory) + ":") for n in notes]
            return runs, notes
    if not directory.is_dir():
        raise DataError(f"results folder not found: {directory}")
    out: dict[str, list[Prediction]] = {}
    notes: list[str] = []
    for seq in sequences:
        runs = []
        for path in find_runs(directory, seq, layout):
            if path.suffix == ".bin":
                pred, run_notes = Prediction(boxes=read_trajectory_binary(path), source=path), []
            else:
                pred, run_notes = read_result_file(path)
            notes.extend(run_notes)
            if confidences:
                conf_path = path.with_name(path.stem + "_confidence.value")
                pred.confidence = read_confidence_file(conf_path)
            runs.append(pred)
        out[seq] = runs
    return out, notes


def pack_zip(directory: str | Path, zip_path: str | Path) -> Path:
    """The `<seq>.txt` files of `directory` in one zip, at its top level (TrackingNet's
    evaluation server takes results this way)."""
    directory, zip_path = Path(directory), Path(zip_path)
    files = sorted(directory.glob("*.txt"))
    if not files:
        raise DataError(f"no <seq>.txt result files in {directory}")
    def pack(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.name)

    return atomic_write_with(zip_path, pack)


def _write_vot_boxes(path: Path, boxes: np.ndarray) -> Path:
    """VOT trajectory lines: `x,y,w,h`, or `0` (the toolkit's code for no region) where NaN."""
    lines = ["0" if not np.isfinite(row).all() else ",".join(format(float(v), ".10g") for v in row)
             for row in np.asarray(boxes, dtype=np.float64)]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def write_results(directory: str | Path, seq: str, boxes: np.ndarray, layout: str = "plain",
                  confidence: np.ndarray | None = None, times: np.ndarray | None = None, run: int = 1,
                  separator: str = ",") -> Path:
    """Write one sequence's results in `layout`; returns the box file's path.
    `plain`: `<seq>.txt` (`separator="\t"` for pytracking's files); `got10k`:
    `<seq>/<seq>_001.txt` and `<seq>_time.txt`; `vot`: `<seq>/<seq>_001.txt` (NaN rows as
    `0`) and `<seq>_001_confidence.value` (NaN as an empty line)."""
    directory = Path(directory)
    if layout == "plain":
        return write_boxes(directory / f"{seq}.txt", boxes, separator=separator)
    if layout not in ("got10k", "vot"):
        raise DataError(f"unknown results layout '{layout}' (known: {', '.join(LAYOUTS)})")
    folder = directory / seq
    if layout == "vot":
        path = _write_vot_boxes(folder / f"{seq}_{run:03d}.txt", boxes)
    else:
        path = write_boxes(folder / f"{seq}_{run:03d}.txt", boxes, separator=separator)
    if times is not None and layout == "got10k":
        atomic_write_text(folder / f"{seq}_time.txt", "".join(f"{t:.8f}\n" for t in times))
    if confidence is not None:
        lines = ["" if not np.isfinite(c) else format(float(c), ".10g") for c in confidence]
        atomic_write_text(folder / f"{seq}_{run:03d}_confidence.value", "\n".join(lines) + "\n")
    return path
