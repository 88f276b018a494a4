"""Training-pair throughput: pairs/s through `pair_loader` (DataLoader with workers).

Default setting is the issue's target: RGB+thermal, template 112 / search 224, patch 14,
2 workers, every augmentation on at its default probability, frames 320x240. The data is
the synthetic benchmark (`tracktune.data.synthetic`) when that module is installed, else
simple JPEG frames written here (a textured background and a moving rectangle, thermal as a
grey JPEG: the decode cost is what matters). After `--warmup` batches, `--batches` batches
are timed; the figure is samples / wall time. A per-stage profile of one process
(decode, crop, augmentation, labels) is printed with `--profile`.

    .venv/bin/python benchmarks/pairs_throughput.py
    .venv/bin/python benchmarks/pairs_throughput.py --workers 0 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def simple_dataset(root: Path, sequences: int, frames: int, width: int, height: int, seed: int):
    """JPEG RGB + grey thermal frames in a plain layout, as `Sequence`s."""
    import cv2
    import numpy as np

    from tracktune.data.sequence import Sequence

    rng = np.random.default_rng(seed)
    out = []
    for s in range(sequences):
        texture = cv2.resize(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), (width, height))
        w, h = rng.uniform(20, 60, 2)
        start, end = rng.uniform([0, 0], [width - w, height - h], (2, 2))
        boxes = np.linspace(start, end, frames)
        boxes = np.concatenate([boxes, np.tile([w, h], (frames, 1))], 1)
        visible = rng.random(frames) > 0.1
        paths = {"rgb": [], "thermal": []}
        for i in range(frames):
            rgb = np.roll(texture, i, axis=1).copy()
            x, y = int(boxes[i, 0]), int(boxes[i, 1])
            if visible[i]:
                rgb[y : y + int(h), x : x + int(w)] = (200, 60, 40)
            thermal = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (0, 0), 2)
            for modality, image in (("rgb", rgb[:, :, ::-1]), ("thermal", thermal)):
                path = root / f"seq{s:03d}" / modality / f"{i:05d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), image)
                paths[modality].append(path)
        out.append(Sequence(f"seq{s:03d}", paths, boxes, visible=visible))
    return out


def synthetic_dataset(root: Path, sequences: int, frames: int, width: int, height: int, seed: int):
    """The synthetic RGB-T benchmark (LasHeR layout) read back through its loader."""
    from tracktune.data import synthetic
    from tracktune.data.benchmarks import lasher

    synthetic.synthesise(root, modality="thermal", sequences=sequences, frames=frames, seed=seed,
                         size=(width, height), splits=(sequences, 0))
    return lasher.load(root, split="train")


def profile(dataset, samples: int) -> dict:
    """Seconds per sample spent in each stage, measured in this process."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(samples):
        dataset[i]
    profiler.disable()
    stats = pstats.Stats(profiler)
    wanted = {"read_image": "decode (imdecode + BGR->RGB)", "to_three_channel": "aux to 3 channels",
              "warp_crop": "warpAffine crops", "_photometric": "augmentation",
              "grid_touch_mask": "template mask", "grid_center_mask": "search positives",
              "_make_pair": "crops + augmentation + labels (total)", "sample": "whole sample"}
    out = {}
    for (_file, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        if name in wanted:
            out[wanted[name]] = out.get(wanted[name], 0.0) + cumulative / samples * 1e3
    return {k: round(v, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--modality", default="thermal", choices=["rgb", "thermal"])
    parser.add_argument("--data", default=None, help="write the frames here (kept) instead of a temporary directory")
    parser.add_argument("--simple", action="store_true", help="use the simple frames even if synthetic exists")
    parser.add_argument("--profile", action="store_true", help="also profile 200 samples in this process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from tracktune.config import DataConfig
    from tracktune.data.pairs import PairDataset, PairSource, pair_loader

    torch.set_num_threads(2)
    width, height = (int(v) for v in args.size.split("x"))
    tmp = None
    root = Path(args.data) if args.data else Path(tmp := tempfile.mkdtemp(prefix="tracktune_pairs_"))
    t0 = time.perf_counter()
    sequences = None if args.simple else synthetic_dataset(root / "synthetic", args.sequences, args.frames, width, height, 0)
    kind = "synthetic"
    if sequences is None:
        kind = "simple"
        sequences = simple_dataset(root / "simple", args.sequences, args.frames, width, height, 0)
    generate_s = time.perf_counter() - t0

    total = (args.warmup + args.batches) * args.batch_size
    data = DataConfig(modality=args.modality, samples_per_epoch=total, num_workers=args.workers)
    dataset = PairDataset([PairSource(kind, sequences)], data, template_size=112, search_size=224, patch_size=14)
    loader = pair_loader(dataset, batch_size=args.batch_size, num_workers=args.workers)

    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    timed_from, count = start, 0
    for step, batch in enumerate(loader):
        if step < args.warmup:
            timed_from = time.perf_counter()  # the clock starts when the last warm-up batch is in
        else:
            count += batch["search_rgb"].shape[0]
    end = time.perf_counter()
    del loader  # workers are joined when the iterator ends; their CPU time is then counted
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu_s = (children_after.ru_utime + children_after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    in_process = time.perf_counter()
    for i in range(200):
        dataset[i]
    in_process_ms = (time.perf_counter() - in_process) / 200 * 1e3
    pairs_per_s = count / (end - timed_from)
    result = {
        "pairs_per_s": round(pairs_per_s, 1),
        "workers": args.workers,
        "batch_size": args.batch_size,
        "timed_pairs": count,
        "startup_and_warmup_s": round(timed_from - start, 2),
        # CPU the workers used per pair (warm-up included): with W free cores the rate
        # would approach W * 1000 / this; the gap to pairs_per_s is the machine's other load
        "worker_cpu_ms_per_pair": round(worker_cpu_s / total * 1e3, 2) if args.workers else None,
        "in_process_ms_per_pair": round(in_process_ms, 2),
        "data": kind,
        "frames": f"{args.sequences}x{args.frames} at {args.size}",
        "modality": args.modality,
        "dataset_write_s": round(generate_s, 1),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "skipped_frames": dataset.skipped_frames,
    }
    if args.profile:
        result["profile_ms_per_sample"] = profile(dataset, 200)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
