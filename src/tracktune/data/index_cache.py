"""Dataset index: recorded directory scans, lazy frame lists, and a cache file of both.

Listing a LaSOT-size tree (1,400 sequences x 2,500 frames) and parsing its ground truth
takes tens of seconds; building 3.5 million `Path` objects alone takes longer than the 2 s a
start-up may spend. So a loader reads the tree through a `TreeReader`, which records the
modification stamp (`mtime_ns`, size) of every directory it listed and every file it read
or looked for, and returns frames as a `FrameList` (a directory plus names or a numbered
pattern, paths built on access). `cached_scan` stores the loader's result with those stamps
in one `.npz` file (JSON + arrays, no pickle); a later start-up re-stats the recorded paths
(a few thousand stats) and, when every stamp is unchanged, rebuilds the sequences from the
file without listing a single frame directory. Adding, removing or renaming a frame changes
its directory's mtime; editing a ground-truth file changes the file's mtime or size; either
invalidates the cache.

Cache files live in `$TRACKTUNE_CACHE_DIR` (default `~/.cache/tracktune/index`), one per
(loader, root, split). `TRACKTUNE_INDEX_CACHE=0` turns the cache off. Scans smaller than
`CACHE_MIN_FRAMES` frames are not cached (they are fast; tests stay free of cache files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import zipfile
import zlib
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tracktune.cache import cache_home
from tracktune.data.annotations import Rows, read_rows
from tracktune.data.sequence import Sequence
from tracktune.errors import DataError
from tracktune.files import atomic_write_with

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
CACHE_FORMAT = 1  # bump when the stored layout or any loader's output changes meaning
CACHE_MIN_FRAMES = 20_000  # smaller scans are not worth a cache file

_BLANK_LINE = re.compile(r"\n[ \t]*(\n|$)")
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")  # prefix, the last number, the rest ("v.jpg")


# --------------------------------------------------------------------------------------
# Lazy frame lists
# --------------------------------------------------------------------------------------


class FrameList(SequenceABC):
    """The frame paths of one modality: `directory / name` built on access.

    Either explicit `names` (any naming, in the order given) or a numbered pattern
    `prefix + zero-padded number + suffix` for `count` numbers from `start` (the compact
    form a cache stores). Compares equal to a list of the same paths.
    """

    __slots__ = ("directory", "_names", "_pattern")

    def __init__(self, directory: str | Path, names: list[str] | None = None,
                 pattern: tuple[str, int, str, int, int] | None = None) -> None:
        if (names is None) == (pattern is None):
            raise ValueError("FrameList needs exactly one of names or pattern")
        self.directory = Path(directory)
        self._names = names
        self._pattern = pattern  # (prefix, digits, suffix, start, count); digits 0: no padding

    @classmethod
    def from_names(cls, directory: str | Path, names: list[str]) -> "FrameList":
        """Names as given; stored as a pattern when they are exactly a numbered run."""
        pattern = numbered_pattern(names)
        return cls(directory, pattern=pattern) if pattern is not None else cls(directory, names=list(names))

    def name(self, index: int) -> str:
        if self._names is not None:
            return self._names[index]
        prefix, digits, suffix, start, count = self._pattern
        return f"{prefix}{start + index:0{digits}d}{suffix}"

    @property
    def names(self) -> list[str]:
        return [self.name(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self._names) if self._names is not None else self._pattern[4]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range 0..{n - 1}")
        return self.directory / self.name(index)

    def __eq__(self, other) -> bool:
        if isinstance(other, (FrameList, list, tuple)):
            return len(self) == len(other) and all(Path(a) == Path(b) for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        first = self.name(0) if len(self) else ""
        return f"FrameList({str(self.directory)!r}, {len(self)} frames, first {first!r})"

    def to_json(self, root: Path) -> dict:
        directory = _relative(self.directory, root)
        if self._pattern is not None:
            return {"dir": directory, "pattern": list(self._pattern)}
        return {"dir": directory, "names": self._names}

    @classmethod
    def from_json(cls, data: dict, root: Path) -> "FrameList":
        directory = root / data["dir"]
        if "pattern" in data:
            prefix, digits, suffix, start, count = data["pattern"]
            return cls(directory, pattern=(prefix, int(digits), suffix, int(start), int(count)))
        return cls(directory, names=list(data["names"]))


def numbered_pattern(names: list[str]) -> tuple[str, int, str, int, int] | None:
    """`(prefix, digits, suffix, start, count)` when `names` are exactly consecutive numbers
    with one prefix, suffix and padding (`00000001.jpg`...), else None."""
    if not names:
        return None
    match = _NUMBERED.match(names[0])
    if match is None:
        return None
    prefix, number, suffix = match.groups()
    digits = len(number) if (number.startswith("0") and len(number) > 1) or len(names) == 1 else 0
    start = int(number)
    if digits == 0 and len(str(start)) != len(number):
        return None
    candidate = (prefix, digits, suffix, start, len(names))
    probe = FrameList(".", pattern=candidate)
    # check the ends first (cheap rejection), then every name
    if probe.name(len(names) - 1) != names[-1]:
        return None
    if any(probe.name(i) != name for i, name in enumerate(names)):
        return None
    return candidate


def sort_frame_names(names: list[str]) -> list[str]:
    """Frame names in frame order: by the number they end in where every name has one
    (`9.jpg` before `10.jpg`; TrackingNet does not pad), else plainly sorted."""
    keyed = []
    for name in names:
        match = _NUMBERED.match(name)
        if match is None:
            return sorted(names)
        keyed.append((int(match.group(2)), name))
    return [name for _, name in sorted(keyed)]


# --------------------------------------------------------------------------------------
# Recorded reads
# --------------------------------------------------------------------------------------


def _stamp(path: str | Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(Path(path).resolve())


class TreeReader:
    """The filesystem reads of one loader run, each recorded with its stamp.

    Loaders call these instead of `os` / `Path` so a cache knows what to re-check.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.stamps: dict[str, list[int] | None] = {}
        self.frame_count = 0

    def _record(self, path: Path) -> list[int] | None:
        stamp = _stamp(path)
        self.stamps[_relative(path, self.root)] = stamp
        return stamp

    def exists(self, path: str | Path) -> bool:
        return self._record(Path(path)) is not None

    def is_file(self, path: str | Path) -> bool:
        path = Path(path)
        return self._record(path) is not None and path.is_file()

    def is_dir(self, path: str | Path) -> bool:
        path = Path(path)
        return self._record(path) is not None and path.is_dir()

    def listdir(self, path: str | Path, dirs_only: bool = False) -> list[str]:
        """Sorted entry names of directory `path` (an error naming it when absent)."""
        path = Path(path)
        if self._record(path) is None or not path.is_dir():
            raise DataError(f"directory not found: {path}")
        with os.scandir(path) as entries:
            if dirs_only:
                return sorted(e.name for e in entries if e.is_dir())
            return sorted(e.name for e in entries)

    def frames(self, directory: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> FrameList:
        """The image files of `directory` in frame order (sorted listing; never formatted names).
        Hidden files (`._0001.jpg`, macOS metadata beside copied frames) are not frames."""
        directory = Path(directory)
        names = [n for n in self.listdir(directory) if n.lower().endswith(suffixes) and not n.startswith(".")]
        frames = FrameList.from_names(directory, sort_frame_names(names))
        self.frame_count += len(frames)
        return frames

    def text(self, path: str | Path) -> str:
        path = Path(path)
        if self._record(path) is None:
            raise DataError(f"file not found: {path}")
        try:
            return path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not a text file ({exc})") from exc

    def rows(self, path: str | Path, columns: int | None = None, min_columns: int | None = None) -> Rows:
        """`annotations.read_rows`, recorded; a C-speed path for clean comma/space files."""
        path = Path(path)
        if self._record(path) is None:
            raise DataError(f"annotation file not found: {path}")
        fast = _fast_rows(path, columns)
        return fast if fast is not None else read_rows(path, columns=columns, min_columns=min_columns)


def _fast_rows(path: Path, columns: int | None) -> Rows | None:
    """Parse a clean numeric table with numpy's C reader; None (use `read_rows`, which
    names the bad line) for anything unusual: blank lines, trailing or mixed separators."""
    if columns is None:
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return None
    body = text[:-1] if text.endswith("\n") else text
    if not body.strip() or "\r" in body or _BLANK_LINE.search(body) or not body.split("\n", 1)[0].strip():
        return None
    first = body.split("\n", 1)[0]
    delimiter = "," if "," in first else ("\t" if "\t" in first else None)
    if delimiter is None and "  " in body:
        return None
    try:
        values = np.loadtxt(body.splitlines(), delimiter=delimiter, dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    if values.shape[1] != columns:
        return None
    return Rows(values=values, blank=[], path=path, widths=[columns] * len(values))


# --------------------------------------------------------------------------------------
# The cache file
# --------------------------------------------------------------------------------------


def cache_enabled() -> bool:
    return os.environ.get("TRACKTUNE_INDEX_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    configured = os.environ.get("TRACKTUNE_CACHE_DIR")
    if configured:
        return Path(configured)
    return cache_home("index")


def cache_path(loader: str, root: str | Path, split: str | None) -> Path:
    key = json.dumps([CACHE_FORMAT, loader, str(Path(root).resolve()), split])
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir() / f"{loader.rsplit('.', 1)[-1]}-{digest}.npz"


def cached_scan(loader: str, root: str | Path, split: str | None, scan: Callable[[TreeReader], list],
                use_cache: bool | None = None, min_frames: int | None = None) -> list:
    """`scan(TreeReader(root))`, or its stored result when every recorded stamp still holds.

    Args:
        loader: the loader's module name (part of the cache key).
        use_cache: None follows `TRACKTUNE_INDEX_CACHE`.
        min_frames: scans listing fewer frames are not stored (default `CACHE_MIN_FRAMES`).
    """
    root = Path(root)
    use_cache = cache_enabled() if use_cache is None else use_cache
    path = cache_path(loader, root, split)
    if use_cache and path.is_file():
        sequences = read_cache(path, root)
        if sequences is not None:
            return sequences
    reader = TreeReader(root)
    sequences = scan(reader)
    reader.stamps.update(code_stamps())
    threshold = CACHE_MIN_FRAMES if min_frames is None else min_frames
    if use_cache and reader.frame_count >= threshold:
        try:
            write_cache(path, root, reader.stamps, sequences)
        except OSError as exc:  # an unwritable cache directory costs speed, not correctness
            logger.warning("could not write the index cache %s: %s", path, exc)
    return sequences


def code_stamps() -> dict[str, list[int] | None]:
    """Stamps of the loader code itself (the benchmark modules, this file, the parsers and
    `Sequence`): a cache written by other code is stale even when the tree is not."""
    data_dir = Path(__file__).resolve().parent
    files = sorted((data_dir / "benchmarks").glob("*.py")) + [data_dir / n for n in
                                                              ("index_cache.py", "annotations.py", "sequence.py")]
    return {str(f): _stamp(f) for f in files}


def write_cache(path: Path, root: Path, stamps: dict, sequences: list) -> Path:
    arrays: dict[str, np.ndarray] = {}

    def encode(value: Any):
        if isinstance(value, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = value
            return {"__array__": key}
        if isinstance(value, Path):
            return {"__path__": str(value)}
        if isinstance(value, dict):
            return {"__dict__": [[k, encode(v)] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    records = []
    for sequence in sequences:
        frames = {}
        for modality, paths in sequence.frames.items():
            frame_list = paths if isinstance(paths, FrameList) else FrameList(root, names=[_relative(p, root) for p in paths])
            frames[modality] = frame_list.to_json(root)
        records.append({
            "name": sequence.name,
            "frames": frames,
            "boxes": encode(sequence.boxes),
            "visible": encode(sequence.visible),
            "modality_boxes": encode(dict(sequence.modality_boxes)),
            "attributes": encode(dict(sequence.attributes)),
            "meta": encode(dict(sequence.meta)),
        })
    header = {"format": CACHE_FORMAT, "root": str(root.resolve()), "stamps": stamps, "sequences": records}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file object: np.savez adds no `.npz` to the name
            np.savez(handle, **arrays)

    return atomic_write_with(path, save)


# what a cut or garbled cache file raises while it is read (np.load of a broken zip)
CORRUPT_CACHE_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)


def read_cache(path: Path, root: Path) -> list | None:
    """The cached sequences, or None when the cache is stale or unreadable (logged)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(stored["header"].tobytes().decode())
            if header.get("format") != CACHE_FORMAT or header.get("root") != str(root.resolve()):
                return None
            for relative, stamp in header["stamps"].items():
                if _stamp(root / relative) != stamp:
                    logger.info("index cache %s is stale (%s changed); rescanning", path, relative)
                    return None
            arrays = {key: stored[key] for key in stored.files if key != "header"}
    except CORRUPT_CACHE_ERRORS as exc:
        logger.warning("ignoring unreadable index cache %s (%s); rescanning", path, exc)
        return None

    def decode(value: Any):
        if isinstance(value, dict):
            if "__array__" in value:
                return arrays[value["__array__"]]
            if "__path__" in value:
                return Path(value["__path__"])
            if "__dict__" in value:
                return {k: decode(v) for k, v in value["__dict__"]}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    sequences = []
    try:
        for record in header["sequences"]:
            frames = {m: FrameList.from_json(spec, root) for m, spec in record["frames"].items()}
            sequences.append(Sequence(
                record["name"], frames, decode(record["boxes"]), visible=decode(record["visible"]),
                modality_boxes=decode(record["modality_boxes"]), attributes=decode(record["attributes"]),
                meta=decode(record["meta"]),
            ))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("ignoring malformed index cache %s (%s); rescanning", path, exc)
        return None
    return sequences
