"""One live owner per output directory: an advisory lock file with the owner's host and pid.

`DirectoryLock(directory, command).acquire()` is taken before anything is written into a run
directory (`train`), a results folder (`run`) or the demo's folder, and released on exit.
The lock is a POSIX record lock (`fcntl.lockf`) on `DIR/.tracktune.lock`, which

- the kernel drops when the owner dies, however it dies (kill -9 included), so a lock file
  whose lock nobody holds is stale: the next owner takes it over and says whose it was;
- fork'd children (data-loader workers) do not inherit, so a dead trainer's workers cannot
  keep its directory locked;
- holds `host`, `pid`, `command` and `started` (JSON) for the error a second writer gets:
  `RUN is in use by tracktune train (pid 4242 on host gpu1, since 2026-12-02T08:00:00Z)`.

Within one process the lock is also kept in a registry, so a second owner in the same process
(POSIX locks are per process) is refused too. Where `fcntl` does not exist the file is
created exclusively and a lock of a pid that no longer runs on this host is stale.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

from tracktune.errors import TracktuneError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".tracktune.lock"
_HELD: dict[str, "DirectoryLock"] = {}


class LockError(TracktuneError):
    """The directory is owned by another live process."""


def _owner_text(info: dict) -> str:
    parts = [f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"]
    if info.get("started"):
        parts.append(f"since {info['started']}")
    command = info.get("command")
    return (f"{command} " if command else "") + f"({', '.join(parts)})"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one another user owns counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_owner(directory: str | Path) -> Optional[dict]:
    """The owner record of `directory`'s lock file, or None (no file, or unreadable)."""
    try:
        text = (Path(directory) / LOCK_NAME).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return None


class DirectoryLock:
    """See the module docstring. Use as a context manager or `acquire()` / `release()`.

    `stale` is the record of a previous owner that died holding the directory (None if none);
    `acquire` also writes a one-line note about it to `note_stream` (stderr)."""

    def __init__(self, directory: str | Path, command: str = "tracktune", note_stream=None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.command = command
        self.note_stream = note_stream
        self.fd: Optional[int] = None
        self.stale: Optional[dict] = None

    @property
    def key(self) -> str:
        return str(self.directory.resolve())

    def _record(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "command": self.command,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def _busy(self, info: Optional[dict]) -> LockError:
        owner = _owner_text(info) if info else "another process"
        return LockError(f"{self.directory} is in use by {owner}; wait for it to finish or stop it "
                         f"(lock file {self.path})")

    def acquire(self) -> "DirectoryLock":
        if self.fd is not None:
            return self
        held = _HELD.get(self.key)
        if held is not None:
            raise LockError(f"{self.directory} is in use by {held.command} in this process")
        if self.directory.exists() and not self.directory.is_dir():
            raise TracktuneError(f"{self.directory}: is a file; expected a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            self._acquire_exclusive()
        else:
            self._acquire_posix()
        _HELD[self.key] = self
        if self.stale is not None:
            stream = self.note_stream or sys.stderr
            print(f"note: {self.directory}: the previous owner, {_owner_text(self.stale)}, ended without "
                  "releasing it (not running any more); taking over", file=stream)
        return self

    def _acquire_posix(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                info = read_owner(self.directory)
                os.close(fd)
                raise self._busy(info) from None
            # the file may have been unlinked by its releasing owner between our open and lock
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            break
        previous = os.read(fd, 65536)
        if previous.strip():
            try:
                self.stale = json.loads(previous.decode("utf-8"))
            except ValueError:
                self.stale = {}
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(self._record()) + "\n").encode("utf-8"))
        os.fsync(fd)
        self.fd = fd

    def _acquire_exclusive(self) -> None:  # pragma: no cover - no fcntl
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = read_owner(self.directory) or {}
                same_host = info.get("host") == socket.gethostname()
                if same_host and isinstance(info.get("pid"), int) and not pid_alive(info["pid"]):
                    self.stale = info
                    self.path.unlink(missing_ok=True)
                    continue
                raise self._busy(info) from None
            os.write(fd, (json.dumps(self._record()) + "\n").encode("utf-8"))
            self.fd = fd
            return
        raise self._busy(read_owner(self.directory))

    def release(self) -> None:
        if self.fd is None:
            return
        _HELD.pop(self.key, None)
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # drops the lock
            self.fd = None

    def __enter__(self) -> "DirectoryLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def held(directory: str | Path) -> bool:
    """True when this process owns `directory`'s lock."""
    return str(Path(directory).resolve()) in _HELD
