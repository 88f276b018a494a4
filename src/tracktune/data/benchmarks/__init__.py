"""One module per benchmark family; each exposes `load(root, split=None) -> list[Sequence]`.

`catalog.BENCHMARKS` is the table of benchmarks (loader, protocol, result layout, splits);
`LOADERS` is its name -> loader-module map that the command line and configs pick from
(module names, imported on use, so one benchmark's optional dependency never blocks
another). A dataset root comes from the config, `--root`, or `TRACKTUNE_<NAME>`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.errors import DataError
from tracktune.suggest import did_you_mean

LOADERS: dict[str, str] = {name: benchmark.loader for name, benchmark in BENCHMARKS.items()}


def resolve_root(name: str, root: str | Path | None) -> Path:
    """The dataset root: the one given, else `$TRACKTUNE_<NAME>`; an error if neither."""
    variable = f"TRACKTUNE_{name.upper()}"
    chosen = root if root is not None else os.environ.get(variable)
    if chosen is None:
        raise DataError(f"no root for dataset '{name}': pass --root or set {variable}")
    path = Path(chosen)
    if not path.is_dir():
        raise DataError(f"dataset root for '{name}' is not a directory: {path}")
    return path


def loader(name: str):
    """The loader module for benchmark `name`."""
    if name not in LOADERS:
        raise DataError(f"unknown dataset '{name}'{did_you_mean(name, LOADERS, cutoff=0.6)}; known: {', '.join(sorted(LOADERS))}")
    try:
        return importlib.import_module(LOADERS[name])
    except ModuleNotFoundError as exc:
        if exc.name != LOADERS[name]:
            raise  # a dependency of the loader is missing: its own message says which
        raise DataError(f"dataset '{name}': loader module {LOADERS[name]} is not installed") from exc


def load(name: str, root: str | Path | None = None, split: str | None = None, modality: str | None = None):
    """`list[Sequence]` of benchmark `name` at `root` (or `$TRACKTUNE_<NAME>`).

    A generated dataset (`synthetic`) takes root None (its default folder) and the
    auxiliary `modality` to generate; real benchmarks have one modality and ignore it.
    """
    module = loader(name)
    if getattr(module, "GENERATES", False):
        return module.load(root, split=split, **({"modality": modality} if modality else {}))
    return module.load(resolve_root(name, root), split=split)
