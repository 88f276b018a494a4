"""Writing files so that a reader never sees half of one.

Every output tracktune writes goes through here: the content goes to a temporary name in the
same directory (unique per process and call, so two writers never share one), is flushed and
fsync'd, renamed over the final name, and the directory is fsync'd so the rename itself
survives a power cut. A crash leaves either the old file or the new one, plus at most a
temporary file whose name starts with `.` and ends with `.tmp` (`is_temporary`), which the
next owner of the directory may delete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

# outputs are world-readable like any file the user writes (mkstemp would create 0600)
FILE_MODE = 0o644
DIR_MODE = 0o755
TEMP_SUFFIX = ".tmp"


def is_temporary(path: str | Path) -> bool:
    """True for the names `temporary_path` / `temporary_dir` create."""
    name = Path(path).name
    return name.startswith(".") and TEMP_SUFFIX in name


def fsync_dir(directory: str | Path) -> None:
    """fsync a directory so a rename inside it is durable (a no-op where the OS cannot)."""
    try:
        fd = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextmanager
def temporary_path(final: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A fresh temporary file name beside `final`; on success the file written there is
    fsync'd, given `FILE_MODE` and renamed onto `final`; on an exception it is removed.
    `keep_suffix=True` ends the temporary name with `final`'s suffix too, for writers that
    pick the format by it (OpenCV's video writer)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = TEMP_SUFFIX + (final.suffix if keep_suffix else "")
    handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        fsync_file(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    with temporary_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | Path, writer: Callable[[Path], None]) -> Path:
    """`writer(tmp_path)` writes the file (e.g. `safetensors.torch.save_file`); then rename."""
    path = Path(path)
    with temporary_path(path) as tmp:
        writer(tmp)
    return path


@contextmanager
def temporary_dir(final: str | Path, replace: bool = True) -> Iterator[Path]:
    """A fresh temporary directory beside `final`; on success its files are fsync'd and it
    replaces `final` (an existing `final` is removed first); on an exception it is removed.
    `replace=False` never removes `final`: the rename then succeeds only onto a missing or
    empty `final` and raises OSError otherwise (another writer got there first)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=TEMP_SUFFIX, dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, DIR_MODE)
        for child in tmp.rglob("*"):
            if child.is_file():
                os.chmod(child, FILE_MODE)
                fsync_file(child)
        fsync_dir(tmp)
        if replace and final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
