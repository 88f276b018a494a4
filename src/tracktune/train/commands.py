"""`tracktune train CONFIG [--set k=v ...] [--resume RUN_DIR] [--out RUN_DIR]`.

Runs under `torchrun --nproc_per_node N -m tracktune.cli train ...` unchanged (one process per
rank; rank 0 writes the run directory and shows the progress bar).

The run directory is locked while a run writes it (`tracktune.locks`): a second `train` into
it, or a `--resume` while its owner lives, stops with an error naming the owner. A fresh
`train` into a directory that holds another run's checkpoints or metrics refuses unless
`--overwrite` (which replaces only what a run writes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tracktune.progress import add_progress_arguments, progress_mode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="experiment YAML (optional with --resume: the run's config.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set train.lr=1e-4 (repeatable)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest checkpoint")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default runs/<config name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="train afresh into a run directory holding another run's checkpoints and metrics, "
                             "replacing them (only the files a run writes; default: refuse)")
    add_progress_arguments(parser)


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _differences(va, vb, path + ".")
        elif va != vb:
            out.append(f"{path}: {va!r} in the run, {vb!r} given")
    return out


def main(args: argparse.Namespace) -> int:
    from tracktune.config import load_config, to_dict
    from tracktune.errors import ConfigError
    from tracktune.train.trainer import train

    if args.resume:
        run_dir = Path(args.resume)
        saved = run_dir / "config.yaml"
        if not saved.is_file():
            raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run directory)")
        config = load_config(saved)
        if args.config or args.overrides:
            given = load_config(args.config or saved, args.overrides)
            diff = _differences(to_dict(config), to_dict(given))
            if diff:
                raise ConfigError("--resume continues the run with its own config; these differ: " + "; ".join(diff))
        if args.out and Path(args.out).resolve() != run_dir.resolve():
            raise ConfigError("--resume writes into the run it continues; drop --out")
        if args.overwrite:
            raise ConfigError("--resume continues a run; --overwrite would replace it: drop one")
        result = train(config, run_dir, progress=progress_mode(args), resume=True)
    else:
        if not args.config:
            raise ConfigError("give a CONFIG file (or --resume RUN_DIR)")
        config = load_config(args.config, args.overrides)
        run_dir = Path(args.out) if args.out else Path("runs") / config.name
        if run_dir.exists() and not run_dir.is_dir():
            raise ConfigError(f"--out {run_dir}: is a file; expected a run directory")
        result = train(config, run_dir, progress=progress_mode(args), overwrite=args.overwrite)
    if result.world_size == 1 or _is_main():
        loss = result.metrics.get("loss")
        shown = f", final loss {loss:.4f}" if loss is not None else ""
        print(f"trained {result.steps} steps in {result.seconds:.1f} s{shown}; "
              f"checkpoint {result.final_checkpoint}")
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
