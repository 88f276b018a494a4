"""Time the multistart analysis (`tracktune evaluate --protocol vot_multistart`) on a
synthetic stack the size of VOT-RGBD2022: 127 sequences of 300-2500 frames, an anchor every
50 frames (forward in the first half of a sequence, backward in the second, so every run
covers at least half of it), one tracker's runs in vot-toolkit's text layout.

Usage: .venv/bin/python benchmarks/multistart_speed.py [--sequences 127] [--frames 300 2500]
       [--repeats 3] [--keep DIR]
Reports the stack's size, reading + scoring in memory, and the whole command in a fresh
process (imports included), each as wall time and as CPU time (user + system: what the
work costs when the machine is shared); target: under 10 s. The stack is written to a temporary folder
(or DIR, reused when it is already there); only the first colour frame of each sequence is
written (the frame size is all the analysis reads).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_stack(root: Path, n_sequences: int, lengths: tuple[int, int], seed: int = 0) -> int:
    """Write the stack and one tracker's runs under `root`; return the number of run frames."""
    import cv2

    rng = np.random.default_rng(seed)
    results = root / "results" / "Synthetic" / "baseline"
    run_frames = 0
    names = []
    for s in range(n_sequences):
        name = f"seq{s:03d}"
        names.append(name)
        n = int(rng.integers(*lengths))
        folder = root / "stack" / name
        (folder / "color").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "color" / "00000001.jpg"), np.zeros((480, 640, 3), np.uint8))
        centre = np.cumsum(rng.normal(0, 2, (n, 2)), axis=0) + [320, 240]
        wh = np.clip(60 + np.cumsum(rng.normal(0, 0.5, (n, 2)), axis=0), 10, 200)
        gt = np.round(np.column_stack([centre - wh / 2, wh]), 2)
        gt[rng.random(n) < 0.05] = np.nan
        anchors = np.zeros(n)
        at = np.arange(0, n, 50)
        anchors[at] = np.where(at < n / 2, 1, -1)  # each run covers at least half the sequence
        anchors[~np.isfinite(gt).all(axis=1)] = 0
        np.savetxt(folder / "groundtruth.txt", gt, fmt="%.2f", delimiter=",")
        (folder / "anchor.value").write_text("".join(f"{int(v)}\n" for v in anchors))
        (folder / "sequence").write_text("channels.color=color/%08d.jpg\nfps=30\nformat=default\n")
        out = results / name
        out.mkdir(parents=True, exist_ok=True)
        for a in np.flatnonzero(anchors != 0):
            frames = np.arange(a, n) if anchors[a] > 0 else np.arange(a, -1, -1)
            base = np.where(np.isfinite(gt[frames]), gt[frames], 300.0)
            traj = base + rng.normal(0, 3, base.shape)
            if rng.random() < 0.5 and len(frames) > 40:
                start = int(rng.integers(1, len(frames) - 20))
                traj[start:, 0] += np.arange(len(frames) - start) * 3.0
            lines = ["1"] + [",".join(f"{v:.2f}" for v in row) for row in traj[1:]]
            (out / f"{name}_{a:08d}.txt").write_text("\n".join(lines) + "\n")
            run_frames += len(frames)
    (root / "stack" / "list.txt").write_text("".join(n + "\n" for n in names))
    (root / "run_frames.txt").write_text(str(run_frames))
    return run_frames


def _timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a child process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=127)
    parser.add_argument("--frames", type=int, nargs=2, default=(300, 2500), metavar=("MIN", "MAX"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR", help="write (or reuse) the stack here")
    args = parser.parse_args()
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
    else:
        root = args.keep
    if not (root / "run_frames.txt").is_file():
        t0 = time.perf_counter()
        make_stack(root, args.sequences, tuple(args.frames))
        print(f"wrote the stack in {time.perf_counter() - t0:.1f} s")
    run_frames = int((root / "run_frames.txt").read_text())
    from tracktune.eval import evaluate
    from tracktune.eval.commands import load_ground_truth
    from tracktune.eval.multistart import read_tracker_runs

    tracker = root / "results" / "Synthetic"
    import logging

    logging.disable(logging.WARNING)  # only the first frame is on disk: frame-count warnings
    times = []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sequences = load_ground_truth(root / "stack", "vot_multistart")
        runs = read_tracker_runs(tracker, sequences)
        t1, c1 = time.perf_counter(), time.process_time()
        report = evaluate("vot_multistart", sequences, {"Synthetic": runs})
        times.append((t1 - t0, time.perf_counter() - t1, c1 - c0, time.process_time() - c1))
    frames = sum(len(s.boxes) for s in sequences)
    n_runs = sum(len(r) for r in runs.values())
    m = report.trackers["Synthetic"].metrics
    print(f"{len(sequences)} sequences, {frames} frames, {n_runs} runs, {run_frames} run frames; "
          f"EAO {m['EAO']:.4f} A {m['A']:.4f} R {m['R']:.4f}")
    best = min(times, key=lambda t: t[0] + t[1])
    print(f"read GT + runs: {best[0]:.3f} s wall, {best[2]:.3f} s CPU; score: {best[1]:.3f} s wall, "
          f"{best[3]:.3f} s CPU (best of {args.repeats})")
    command = [str(Path(sys.executable).parent / "tracktune"), "evaluate", "--protocol", "vot_multistart",
               "--gt", str(root / "stack"), "--results", str(tracker), "--json"]
    cli = []
    for _ in range(args.repeats):
        cli.append(_timed(command))
    wall, cpu = min(cli)
    print(f"tracktune evaluate --protocol vot_multistart (new process): best {wall:.3f} s wall, {cpu:.3f} s CPU")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
