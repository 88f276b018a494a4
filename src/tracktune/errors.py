"""The errors a user can cause. Each names the file, line, frame or key at fault."""

from __future__ import annotations


class TracktuneError(Exception):
    """Base of every error tracktune raises for a problem the user can fix."""


class ConfigError(TracktuneError):
    """A bad configuration: unknown key, wrong type, impossible combination.

    `keys` are the dotted config keys at fault (`model.patch_size`, `data.train.0.root`), so
    the loader can name where each came from (a YAML line or a `--set` override)."""

    def __init__(self, message: str, keys: tuple[str, ...] | list[str] | str = ()) -> None:
        super().__init__(message)
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)


class DataError(TracktuneError):
    """Bad data on disk: missing or unreadable file, malformed annotation line."""


class CheckpointError(TracktuneError):
    """A checkpoint that does not fit the model: unused keys, unfilled parameters."""


def at_line(path, line: int, message: str) -> str:
    """Format `path:line: message` (1-based line), the form editors jump to."""
    return f"{path}:{line}: {message}"
