"""Synthetic benchmark generation speed: `synthesise` end to end (render, encode, write).

    python benchmarks/synth_speed.py [--modality thermal] [--sequences 80] [--frames 100]
                                     [--size 320x240] [--workers 2] [--out DIR] [--keep]

Issue 2's target: 80 sequences x 100 frames, 320x240, RGB+thermal in under 60 s on 2 cores;
reported, never asserted. Also prints the single-process render cost per frame (no disk).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tracktune.data import synthetic as S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modality", default="thermal", choices=S.MODALITIES)
    parser.add_argument("--sequences", type=int, default=80)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the output")
    args = parser.parse_args()
    size = S.parse_size(args.size)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth_speed_"))
    if out.exists():
        shutil.rmtree(out)

    spec = S.plan(1, args.frames, args.seed, size, ["night"], (1, 0), args.modality)[0]
    start = time.perf_counter()
    S.render(spec)
    render_ms = (time.perf_counter() - start) / args.frames * 1e3

    start = time.perf_counter()
    S.synthesise(out, modality=args.modality, sequences=args.sequences, frames=args.frames, seed=args.seed,
                 size=size, workers=args.workers, progress=True)
    seconds = time.perf_counter() - start
    total = args.sequences * args.frames
    megabytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"{args.modality}: {args.sequences} x {args.frames} frames at {size[0]}x{size[1]}, {args.workers} workers: "
          f"{seconds:.1f} s ({total / seconds:.0f} frames/s, {megabytes:.0f} MiB); "
          f"rendering a night sequence (low light: the slowest condition) alone {render_ms:.1f} ms/frame")
    if not args.keep:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
