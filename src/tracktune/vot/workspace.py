"""A VOT toolkit workspace for one tracktune checkpoint (`tracktune vot workspace`).

Writes, in DIR (new, or empty):
- `config.yaml`: `registry: [./trackers.ini]`, the `stack` (a local stack written by
  `tracktune vot stack`, by absolute path, with `sequences` pointing at its sequences; or an
  official stack name such as `vot2022/rgbd`, whose data the toolkit downloads into
  `sequences/`);
- `trackers.ini`: one section, the tracker identifier, with `protocol = trax`, the
  `command` that starts tracktune's TraX server for the checkpoint (this Python interpreter,
  `-m tracktune.cli vot serve --checkpoint ABS --channels rgbd`), `timeout` (seconds the
  toolkit waits for any reply; the first one includes loading the model), and
  `env_PYTHONPATH` naming the folder this tracktune is imported from, so the toolkit starts
  the same tracktune whatever environment it runs in.

Formats followed: votchallenge/toolkit `vot/workspace/__init__.py` (`Workspace`: `registry`,
`stack`, `sequences` keys), `vot/tracker/__init__.py` (`Registry`: `trackers.ini` sections,
`env_*` keys become environment variables) and `vot/tracker/trax.py` (`TraxTrackerRuntime`:
`command` split with shlex, `timeout`, `socket`).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import tracktune
from tracktune.errors import ConfigError
from tracktune.files import atomic_write_text
from tracktune.vot.server import channel_set_name
from tracktune.vot.stack import stack_paths

DEFAULT_TIMEOUT = 300  # seconds; a ViT-B checkpoint loads and answers the first frame in well under that on a CPU


def tracker_identifier(name: str) -> str:
    """A toolkit-valid identifier (letters, digits, `-`, `_`) from a run's name."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "run"
    return f"tracktune_{cleaned}"


def write_workspace(directory: str | Path, checkpoint: str | Path, stack: str, channels, backend: str = "pytorch",
                    identifier: str | None = None, timeout: int = DEFAULT_TIMEOUT, device: str | None = None,
                    force: bool = False) -> dict:
    """Write `config.yaml` and `trackers.ini` into `directory`; returns what was written."""
    directory = Path(directory)
    if timeout < 1:
        raise ConfigError(f"--timeout must be at least 1 second, got {timeout}")
    for name in ("config.yaml", "trackers.ini"):
        if (directory / name).exists() and not force:
            raise ConfigError(f"{directory / name} exists; pass --force to replace it")
    checkpoint = Path(checkpoint).resolve()
    identifier = identifier or tracker_identifier(checkpoint.name if checkpoint.suffix != ".onnx" else checkpoint.stem)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", identifier):
        raise ConfigError(f"--name {identifier!r}: the toolkit takes letters, digits, '-' and '_' only")
    local = stack_paths(stack)
    if local is not None:
        stack_file, sequences = local
        config_lines = [f"stack: {stack_file}", f"sequences: {sequences}"]
    else:
        if Path(stack).exists():
            raise ConfigError(f"--stack {stack}: neither a stack file nor a folder holding stack.yaml")
        config_lines = [f"stack: {stack}", "sequences: sequences"]
    command = [sys.executable, "-m", "tracktune.cli", "vot", "serve", "--checkpoint", str(checkpoint),
               "--channels", channel_set_name(channels)]
    if backend != "pytorch":
        command += ["--backend", backend]
    if device:
        command += ["--device", device]
    package_parent = Path(tracktune.__file__).resolve().parent.parent
    ini = (f"[{identifier}]\n"
           f"label = {identifier}\n"
           f"protocol = trax\n"
           f"command = {shlex.join(command)}\n"
           f"timeout = {int(timeout)}\n"
           f"env_PYTHONPATH = {package_parent}\n")
    config = "registry:\n  - ./trackers.ini\n" + "".join(line + "\n" for line in config_lines)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "trackers.ini", ini)
    atomic_write_text(directory / "config.yaml", config)
    return {"identifier": identifier, "config.yaml": config, "trackers.ini": ini}
