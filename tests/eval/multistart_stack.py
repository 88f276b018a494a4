"""A small VOT short-term multistart stack on disk, for the multistart tests: frames,
groundtruth.txt (NaN rows, zero-size rows, boxes partly outside), anchor.value, and
trajectories per anchor with drifts that fail, NaN predictions and boxes off the image."""

from pathlib import Path

import numpy as np

SIZE = (64, 48)


def make_stack(root: Path, rng, n_sequences: int = 4, lengths=(60, 140), frames: bool = True):
    """Write the stack; return {seq: (gt, anchor values)}."""
    import cv2

    truth = {}
    names = []
    for s in range(n_sequences):
        name = f"seq{s}"
        names.append(name)
        n = int(rng.integers(*lengths))
        centre = np.cumsum(rng.normal(0, 1.5, (n, 2)), axis=0) + [32, 24]
        wh = np.clip(10 + np.cumsum(rng.normal(0, 0.4, (n, 2)), axis=0), 3, 30)
        gt = np.round(np.column_stack([centre - wh / 2, wh]), 2)
        gt[rng.random(n) < 0.06] = np.nan  # target absent
        gt[rng.random(n) < 0.03, 2] = 0.0  # zero-size rows
        anchors = np.zeros(n)
        for a in range(0, n, 25):
            if np.isfinite(gt[a]).all() and gt[a, 2] > 0:
                anchors[a] = 1
        for a in range(12, n, 30):
            if np.isfinite(gt[a]).all() and gt[a, 2] > 0 and anchors[a] == 0:
                anchors[a] = -1
        folder = root / name
        (folder / "color").mkdir(parents=True, exist_ok=True)
        (folder / "depth").mkdir(parents=True, exist_ok=True)
        if frames:
            image = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
            depth = np.zeros((SIZE[1], SIZE[0]), np.uint16)
            for i in range(1, n + 1):
                cv2.imwrite(str(folder / "color" / f"{i:08d}.jpg"), image)
                cv2.imwrite(str(folder / "depth" / f"{i:08d}.png"), depth)
        (folder / "groundtruth.txt").write_text(
            "".join(("nan,nan,nan,nan" if not np.isfinite(r).all() else ",".join(f"{v:.2f}" for v in r)) + "\n"
                    for r in gt))
        (folder / "anchor.value").write_text("".join(f"{int(v)}\n" for v in anchors))
        (folder / "sequence").write_text("channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\n"
                                         f"fps=30\nformat=default\nname={name}\n")
        truth[name] = (gt, anchors)
    (root / "list.txt").write_text("".join(n + "\n" for n in names))
    return truth


def make_runs(gt, anchors, rng):
    """{anchor: (L, 4) trajectory in run order, NaN = empty, first row the init code}."""
    n = len(gt)
    runs = {}
    for a in np.flatnonzero(anchors != 0):
        frames = np.arange(a, n) if anchors[a] > 0 else np.arange(a, -1, -1)
        g = gt[frames]
        base = np.where(np.isfinite(g), g, np.nanmean(gt, axis=0))
        traj = base + np.round(rng.normal(0, 1.2, base.shape), 2)
        if rng.random() < 0.6 and len(frames) > 20:  # drift away: a failure
            start = int(rng.integers(2, len(frames) - 12))
            traj[start:, 0] += np.arange(len(frames) - start) * 4.0
        traj[rng.random(len(frames)) < 0.05] = np.nan  # no prediction
        traj[0] = np.nan  # the toolkit's initialisation code
        runs[int(a)] = traj
    return runs
