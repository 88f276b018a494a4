"""`tracktune run [CONFIG] --checkpoint CKPT --dataset NAME [--root DIR] [--split SPLIT] --out DIR`.

Tracks every sequence of a benchmark split from its first-frame box and writes the results
in the benchmark's official layout (`tracktune.eval.results.write_results`), ready for
`tracktune evaluate`. The model comes from the checkpoint (its recorded config); the
tracking settings from CONFIG's `track` section when given, else the checkpoint's, then
`--set track.k=v`. `--rgb-only` feeds the RGB frame in place of the auxiliary one (issue 8:
how much a tuned tracker still tracks on RGB alone).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tracktune.cli_types import int_range
from tracktune.data.benchmarks import load, loader
from tracktune.data.benchmarks.catalog import BENCHMARKS
from tracktune.errors import DataError
from tracktune.files import atomic_write_text
from tracktune.progress import add_progress_arguments, progress_mode


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
    add_progress_arguments(parser)


def track_config_for(checkpoint_config, config_path, overrides):
    """The TrackConfig: CONFIG's (or the checkpoint's) track section with `--set` applied."""
    # part of the command boundary: yaml loads here, not in `tracktune --help`
    from tracktune.config import config_from_dict, load_config, require_sections, to_dict

    require_sections(overrides, ["track"], "run rebuilds the model from the checkpoint's config; "
                     "only track.* settings can be changed")
    if config_path is not None:
        return load_config(config_path, overrides).track
    return config_from_dict(to_dict(checkpoint_config), "the checkpoint's config", overrides).track


def main(args: argparse.Namespace) -> int:
    # the command boundary: torch and the model load here, so `tracktune --help` stays fast
    import numpy as np
    import torch

    from tracktune.eval.results import write_results
    from tracktune.runs import load_tracker_model
    from tracktune.track.runner import BatchedRunner

    loader(args.dataset)  # an unknown dataset is an error before the model loads
    benchmark = BENCHMARKS[args.dataset]
    if args.split is None:
        args.split = benchmark.default_split
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_tracker_model(args.checkpoint, device=device)
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
    runner = BatchedRunner(model, track_config, batch_size=args.batch, progress=progress_mode(args),
                           rgb_only=args.rgb_only)
    start = time.perf_counter()
    results = runner.run(sequences)
    seconds = time.perf_counter() - start
    layout = benchmark.result_layout
    out = Path(args.out)
    for result in results:
        n = len(result.boxes)
        write_results(out, result.name, result.boxes, layout=layout, confidence=result.scores,
                      times=np.full(n, result.seconds / max(n, 1)))
    frames = sum(len(r.boxes) for r in results)
    summary = {"checkpoint": str(args.checkpoint), "dataset": args.dataset, "split": args.split,
               "sequences": len(results), "frames": frames, "seconds": round(seconds, 3),
               "frames_per_s": round(frames / seconds, 2) if seconds > 0 else None, "rgb_only": args.rgb_only,
               "batch": args.batch, "device": device, "layout": layout}
    atomic_write_text(out / "run.json", json.dumps(summary, indent=2) + "\n")
    print(f"{len(results)} sequences, {frames} frames in {seconds:.1f} s ({summary['frames_per_s']} frames/s) "
          f"-> {out} ({layout} layout)")
    return 0
