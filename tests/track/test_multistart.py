"""The multistart experiment runner (`tracktune.track.multistart`): every anchor run,
forward and backward, in vot-toolkit's layout; the toolkit's own reader and analysis take
its files, and `tracktune evaluate --protocol vot_multistart` agrees with that analysis."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from multistart_stack import make_stack  # noqa: E402

from tracktune.data.benchmarks import vot_rgbd  # noqa: E402
from tracktune.track.multistart import run_stack  # noqa: E402


class ReplayTracker:
    """A model-free tracker: replays a noisy copy of the GT of the frames it is shown (it
    recognises a frame by a number painted in its first pixel row), losing the target now
    and then; it records what it was given."""

    calls = []

    def __init__(self, truth, rng):
        self.truth, self.rng = truth, rng

    def init(self, frame_rgb, box_xywh, frame_aux=None):
        assert frame_aux is not None and frame_aux.shape[:2] == frame_rgb.shape[:2]
        self.box = np.asarray(box_xywh, float)
        ReplayTracker.calls.append(("init", int(frame_rgb[0, 0, 0])))

    def update(self, frame_rgb, frame_aux=None):
        index = int(frame_rgb[0, 0, 0])
        ReplayTracker.calls.append(("update", index))
        gt = self.truth[index]
        if not np.isfinite(gt).all() or self.rng.random() < 0.1:
            return np.full(4, np.nan), 0.0
        return gt + self.rng.normal(0, 1.5, 4) + (8.0 if self.rng.random() < 0.15 else 0.0), 1.0


def _paint_frame_numbers(root, name, n):
    import cv2

    for i in range(n):
        path = root / name / "color" / f"{i + 1:08d}.jpg"
        path = path.with_suffix(".png")
        image = np.zeros((48, 64, 3), np.uint8)
        image[0, :, :] = i  # frame index in the first row (lossless PNG)
        cv2.imwrite(str(path), image)
        (root / name / "color" / f"{i + 1:08d}.jpg").unlink(missing_ok=True)
    (root / name / "sequence").write_text("channels.color=color/%08d.png\nchannels.depth=depth/%08d.png\n"
                                          f"fps=30\nformat=default\nname={name}\n")


def test_runs_every_anchor_forward_and_backward_in_the_toolkit_layout(tmp_path, capsys):
    rng = np.random.default_rng(4)
    truth = make_stack(tmp_path / "stack", rng, n_sequences=2, lengths=(40, 70))
    for name, (gt, _) in truth.items():
        _paint_frame_numbers(tmp_path / "stack", name, len(gt))
    sequences = vot_rgbd.load(tmp_path / "stack")
    out = tmp_path / "workspace" / "results" / "Replay" / "baseline"
    ReplayTracker.calls = []
    written = []
    for seq in sequences:
        written += run_stack([seq], lambda seq=seq: ReplayTracker(truth[seq.name][0], rng), out)
    gt0, anchors0 = truth[sequences[0].name]
    forward = np.flatnonzero(anchors0 > 0)
    backward = np.flatnonzero(anchors0 < 0)
    assert len(written) == sum(int((a != 0).sum()) for _, a in truth.values())
    # a backward run: initialised on its anchor, then shown the frames before it in reverse
    name = sequences[0].name
    lines = (out / name / f"{name}_{backward[0]:08d}.txt").read_text().splitlines()
    assert len(lines) == backward[0] + 1 and lines[0] == "1"
    first_forward = (out / name / f"{name}_{forward[0]:08d}.txt").read_text().splitlines()
    assert len(first_forward) == len(gt0) - forward[0]
    inits = [i for kind, i in ReplayTracker.calls if kind == "init"]
    assert inits[: len(forward) + len(backward)] == list(forward) + list(backward)
    start = ReplayTracker.calls.index(("init", int(backward[0])))
    shown = [i for _, i in ReplayTracker.calls[start + 1: start + 1 + backward[0]]]
    assert shown == list(range(backward[0] - 1, -1, -1))  # every earlier frame, in reverse
    # a second call keeps what is there (the toolkit's default without --force)
    assert run_stack(sequences, lambda: ReplayTracker(gt0, rng), out) == []

    # vot-toolkit's analysis reads these files; tracktune evaluate gives its numbers
    vot = pytest.importorskip("vot", reason="vot-toolkit not installed (pip install 'tracktune[reference]')")
    del vot
    import vot.analysis.multistart as VM
    from vot.dataset import load_sequence
    from vot.tracker.results import Results
    from vot.workspace.storage import LocalStorage

    class Experiment:
        anchor = "anchor"

        def results(self, tracker, sequence):
            return Results(LocalStorage(str(out / sequence.name)))

    toolkit_sequences = [load_sequence(str(tmp_path / "stack" / s.name)) for s in sequences]
    ar = [VM.AccuracyRobustness().subcompute(Experiment(), None, s, []) for s in toolkit_sequences]
    accuracy, robustness = VM.AverageAccuracyRobustness().aggregate(None, toolkit_sequences, ar)[:2]
    curves = [VM.EAOCurves(high=755).subcompute(Experiment(), None, s, []) for s in toolkit_sequences]
    eao = float(np.mean(VM.EAOCurve(high=755).aggregate(None, toolkit_sequences, curves)[0][115:756]))

    from tracktune.eval import commands

    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    args = parser.parse_args(["--protocol", "vot_rgbd2022", "--gt", str(tmp_path / "stack"), "--results",
                              str(out), "--json", "--toolkit-version", "0.9"])
    assert commands.main(args) == 0
    ours = json.loads(capsys.readouterr().out)["trackers"]["Replay"]  # named by the tracker folder
    assert abs(ours["EAO"] - eao) < 1e-9 and abs(ours["A"] - accuracy) < 1e-9 and abs(ours["R"] - robustness) < 1e-9
