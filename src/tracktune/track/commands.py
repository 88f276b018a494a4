"""`tracktune run [CONFIG] --checkpoint CKPT --dataset NAME [--root DIR] [--split SPLIT] --out DIR`.

Tracks every sequence of a benchmark split from its first-frame box and writes the results
in the benchmark's official layout (`tracktune.eval.results.write_results`), ready for
`tracktune evaluate`. The model comes from the checkpoint (its recorded config); the
tracking settings from CONFIG's `track` section when given, else the checkpoint's, then
`--set track.k=v`. `--rgb-only` feeds the RGB frame in place of the auxiliary one (issue 8:
how much a tuned tracker still tracks on RGB alone). `--backend onnxruntime` tracks with a
`tracktune export onnx` file given as `--checkpoint` (its config from the file's metadata),
through the same crops and decoding (`tracktune.export.onnx.OnnxRuntimeModel`).

Nothing is lost to an interruption: each sequence's result files are written (atomically)
as soon as it is tracked, and `OUT/.tracktune-run.json` records the settings (checkpoint,
dataset, split, root, track section, layout) and the sequences written. Run the same command
again and it tracks only the missing sequences; with other settings it refuses (`--overwrite`
tracks everything again). `OUT` is locked (`tracktune.locks`) while a run writes there, and
temporary files a killed run left are removed by the next one. `--out` that is a file and
`--set` of anything but `track.*` are errors before the model loads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from tracktune.cli_types import int_range
from tracktune.data.benchmarks import load, loader
from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.errors import ConfigError, DataError
from tracktune.files import atomic_write_text, is_temporary
from tracktune.locks import LOCK_NAME, DirectoryLock
from tracktune.progress import add_progress_arguments, progress_mode

# in a results folder: the settings and the sequences written so far (updated after each one)
PROGRESS_FILE = ".tracktune-run.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="experiment YAML whose `track` section to use "
                        "(default: the checkpoint's own config)")
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="run directory or checkpoint directory")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="benchmark name (tracktune.data.benchmarks)")
    parser.add_argument("--root", metavar="DIR", help="dataset root (default $TRACKTUNE_<NAME>)")
    parser.add_argument("--split", default=None,
                        help="dataset split (default: the benchmark's default_split in tracktune.data.benchmarks.catalog, test)")
    parser.add_argument("--out", required=True, metavar="DIR", help="results folder (one file per sequence)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set track.window_influence=0.3 (repeatable)")
    parser.add_argument("--rgb-only", action="store_true", help="feed the RGB frame as the auxiliary frame")
    parser.add_argument("--batch", type=int_range(1), default=8, metavar="N", help="sequences tracked in lockstep (default 8)")
    parser.add_argument("--sequences", nargs="+", metavar="SEQ", help="only these sequences")
    parser.add_argument("--device", default=None, help="cpu / cuda (default cuda if available)")
    parser.add_argument("--overwrite", action="store_true",
                        help="track every sequence again, over the results already in --out (default: keep the "
                             "sequences a run with the same settings completed, track the rest)")
    add_progress_arguments(parser)
    parser.add_argument("--backend", default="pytorch", choices=("pytorch", "onnxruntime"),
                        help="onnxruntime: --checkpoint is a `tracktune export onnx` file (CPU)")


def track_config_for(checkpoint_config, config_path, overrides):
    """The TrackConfig: CONFIG's (or the checkpoint's) track section with `--set` applied."""
    # part of the command boundary: yaml loads here, not in `tracktune --help`
    from tracktune.config import config_from_dict, load_config, require_sections, to_dict

    require_sections(overrides, ["track"], "run rebuilds the model from the checkpoint's config; "
                     "only track.* settings can be changed")
    if config_path is not None:
        return load_config(config_path, overrides).track
    return config_from_dict(to_dict(checkpoint_config), "the checkpoint's config", overrides).track


def _result_settings(args, checkpoint: Path, track_config, layout: str) -> dict:
    """What a results folder's files depend on: a restart continues only with the same."""
    from tracktune.config import to_dict

    return {"checkpoint": str(checkpoint.resolve()), "dataset": args.dataset, "split": args.split,
            "root": str(Path(args.root).resolve()) if args.root else None, "rgb_only": bool(args.rgb_only),
            "layout": layout, "backend": args.backend, "track": to_dict(track_config)}


def _differences(recorded: dict, now: dict) -> list[str]:
    return [f"{key}: {recorded.get(key)!r} there, {now.get(key)!r} now" for key in now if recorded.get(key) != now.get(key)]


def completed_sequences(out: Path, settings: dict, overwrite: bool) -> set[str]:
    """The sequences already tracked into `out` by a run with the same `settings` (from its
    progress record); a folder with another run's results, or result files and no record,
    is refused unless `overwrite` (then everything is tracked again, over them)."""
    record_path = out / PROGRESS_FILE
    if overwrite:
        return set()
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            recorded, done = record["settings"], set(record["done"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{record_path}: unreadable progress record ({exc}); pass --overwrite to track "
                            "every sequence again") from None
        diff = _differences(recorded, settings)
        if diff:
            raise ConfigError(f"--out {out} holds results of another run ({'; '.join(diff)}); pass --overwrite "
                              "to replace them or choose another --out")
        return done
    others = [p.name for p in sorted(out.iterdir()) if p.name not in (LOCK_NAME, PROGRESS_FILE)
              and not is_temporary(p)] if out.is_dir() else []
    if others:
        raise ConfigError(f"--out {out} already holds files this command did not write ({', '.join(others[:3])}"
                          f"{', ...' if len(others) > 3 else ''}); pass --overwrite to write over them or choose "
                          "another --out")
    return set()


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files / folders (`tracktune.files.is_temporary`) a killed writer
    left in `folder` and its sub-folders; call only while owning `folder` (its lock)."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.rglob(".*")):
        if is_temporary(path) and path.exists():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def main(args: argparse.Namespace) -> int:
    # the command boundary: torch and the model load here, so `tracktune --help` stays fast
    import numpy as np
    import torch

    from tracktune.config import require_sections
    from tracktune.eval.results import write_results
    from tracktune.export.onnx import load_tracking_model
    from tracktune.runs import resolve_checkpoint
    from tracktune.track.runner import BatchedRunner

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a results folder")
    require_sections(args.overrides, ["track"], "run rebuilds the model from the checkpoint's config; "
                     "only track.* settings can be changed")
    loader(args.dataset)  # an unknown dataset is an error before the model loads
    benchmark = BENCHMARKS[args.dataset]
    if args.split is None:
        args.split = benchmark.default_split
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = "cpu" if args.backend == "onnxruntime" else device  # onnxruntime's CPU provider
    # the checkpoint that verifies (a run's newest good one), so the results record names it
    checkpoint = resolve_checkpoint(args.checkpoint) if args.backend == "pytorch" else Path(args.checkpoint)
    model = load_tracking_model(checkpoint, args.backend, device=device)
    track_config = track_config_for(model.config, args.config, args.overrides)
    sequences = load(args.dataset, args.root, args.split, modality=model.config.data.modality)
    if args.sequences:
        by_name = {s.name: s for s in sequences}
        missing = [n for n in args.sequences if n not in by_name]
        if missing:
            raise DataError(f"--sequences: not in {args.dataset} {args.split}: {', '.join(missing)}")
        sequences = [by_name[n] for n in args.sequences]
    if not sequences:
        raise DataError(f"dataset {args.dataset} split {args.split}: no sequences")
    from tracktune.track import multistart

    if multistart.has_anchors(sequences):  # a VOT short-term stack: one run per anchor
        with DirectoryLock(out, "tracktune run"):
            return multistart.run_command(args, model, track_config, sequences, device)
    layout = benchmark.result_layout
    settings = _result_settings(args, checkpoint, track_config, layout)
    with DirectoryLock(out, "tracktune run"):
        done = completed_sequences(out, settings, args.overwrite)
        remove_stale_temporaries(out)
        todo = [s for s in sequences if s.name not in done]
        if len(todo) < len(sequences):
            print(f"{len(sequences) - len(todo)} of {len(sequences)} sequences already complete in {out}; "
                  f"tracking the other {len(todo)}", file=sys.stderr)
        written = sorted(done)

        def write(result) -> None:  # each sequence as soon as it is tracked, then the record
            n = len(result.boxes)
            write_results(out, result.name, result.boxes, layout=layout, confidence=result.scores,
                          times=np.full(n, result.seconds / max(n, 1)))
            written.append(result.name)
            atomic_write_text(out / PROGRESS_FILE, json.dumps({"settings": settings, "done": sorted(written)},
                                                              indent=1) + "\n")

        runner = BatchedRunner(model, track_config, batch_size=args.batch, progress=progress_mode(args),
                               rgb_only=args.rgb_only)
        start = time.perf_counter()
        try:
            results = runner.run(todo, on_done=write) if todo else []
        except KeyboardInterrupt:
            print(f"tracktune run: interrupted; {len(written)} of {len(sequences)} sequences are written to {out}; "
                  "the same command again tracks the rest", file=sys.stderr)
            raise
        seconds = time.perf_counter() - start
        frames = sum(len(r.boxes) for r in results)
        summary = {"checkpoint": str(args.checkpoint), "dataset": args.dataset, "split": args.split,
                   "sequences": len(sequences), "tracked_now": len(results), "frames": frames,
                   "seconds": round(seconds, 3),
                   "frames_per_s": round(frames / seconds, 2) if seconds > 0 else None, "rgb_only": args.rgb_only,
                   "batch": args.batch, "device": device, "backend": args.backend,
                   "precision": runner.core.precision, "layout": layout}
        atomic_write_text(out / "run.json", json.dumps(summary, indent=2) + "\n")
    print(f"{len(results)} sequences, {frames} frames in {seconds:.1f} s ({summary['frames_per_s']} frames/s, "
          f"{runner.core.precision}) "
          f"-> {out} ({layout} layout)")
    return 0
