"""Where tracktune keeps what it can rebuild: `$XDG_CACHE_HOME/tracktune`, else
`~/.cache/tracktune` (index caches, the synthetic benchmark, the demo's RGB tracker)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home(*parts: str) -> Path:
    """`<user cache>/tracktune/<parts...>` (not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "tracktune", *parts)
