"""`tracktune bench accuracy`: each precision's scores under the protocol, the paired
difference, and the score-map agreement on the reference's own inputs, checked against
independent computations (a hand-run tracker per precision, the model's own forward)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "track"))

from track_fixtures import MovingBoxSequence, micro_model, run_dir, write_lasher_tree  # noqa: E402, F401 (run_dir: a fixture)
from tracktune.bench.accuracy import RecordingNet, agreement, run_accuracy  # noqa: E402
from tracktune.cli import main as cli_main  # noqa: E402
from tracktune.eval import evaluate  # noqa: E402
from tracktune.track.tracker import Tracker, lorat_hann_window  # noqa: E402


def sequences():
    return [MovingBoxSequence("alpha", 7, seed=1), MovingBoxSequence("beta", 7, seed=2),
            MovingBoxSequence("gamma", 7, seed=3)]


def hand_tracked(model, config, precision, sequence):
    """One sequence through `Tracker` frame by frame (not the batched runner)."""
    import dataclasses

    tracker = Tracker(model, dataclasses.replace(config.track, precision=precision))
    tracker.init(sequence.frame(0, "rgb"), sequence.boxes[0], sequence.frame(0, "thermal"))
    boxes = [np.asarray(sequence.boxes[0], dtype=np.float64)]
    for t in range(1, len(sequence)):
        boxes.append(tracker.update(sequence.frame(t, "rgb"), sequence.frame(t, "thermal"))[0])
    return np.stack(boxes)


def test_scores_and_differences_match_hand_tracking():
    model, config = micro_model(seed=4)
    seqs = sequences()
    result = run_accuracy(model, config.track, seqs, "lasher", ["fp32", "bf16"], batch=2, agreement_every=1,
                          resamples=300)
    hand = {p: {s.name: hand_tracked(model, config, p, s) for s in seqs} for p in ("fp32", "bf16")}
    report = evaluate("lasher", seqs, hand)
    for p in ("fp32", "bf16"):
        assert result["precisions"][p]["SR"] == pytest.approx(float(report.trackers[p].metrics["SR"]), abs=1e-9)
    per_seq = {p: report.per_sequence(p) for p in ("fp32", "bf16")}
    by_hand = np.mean([per_seq["bf16"][s.name]["SR"] - per_seq["fp32"][s.name]["SR"] for s in seqs])
    diff = result["differences"]["bf16"]["SR"]
    assert diff["mean_diff"] == pytest.approx(by_hand, abs=1e-9)
    assert diff["ci"][0] <= diff["mean_diff"] <= diff["ci"][1]
    assert diff["wins"] + diff["losses"] + diff["ties"] == len(seqs)
    # every forward pass kept (every=1): 6 steps of 3 targets in batches of 2 -> 2 x 6 passes
    a = result["agreement"]["bf16"]
    assert a["steps"] == 12 and a["targets"] == 18
    assert 0.0 <= a["same_peak"] <= 1.0 and a["max_box_diff_px"] >= a["median_box_diff_px"] >= 0.0


def test_agreement_of_a_net_with_itself_is_exact_and_with_a_shifted_one_is_not():
    model, config = micro_model(seed=5)
    generator = torch.Generator().manual_seed(0)
    inputs = {"template_rgb": torch.rand(2, 3, 64, 64, generator=generator) * 255,
              "search_rgb": torch.rand(2, 3, 128, 128, generator=generator) * 255,
              "template_aux": torch.rand(2, 3, 64, 64, generator=generator) * 255,
              "search_aux": torch.rand(2, 3, 128, 128, generator=generator) * 255,
              "template_mask": torch.ones(2, 4, 4, dtype=torch.bool)}
    recorder = RecordingNet(model, every=2)
    with torch.inference_mode():
        for _ in range(5):
            recorder(**inputs)
    assert recorder.calls == 5 and len(recorder.kept) == math.ceil(5 / 2)
    window = lorat_hann_window(*model.search_grid)
    same = agreement(recorder.kept, model, window, 0.45, model.search_size)
    assert same == {"steps": 3, "targets": 6, "same_peak": 1.0, "max_score_diff": 0.0, "max_box_diff_px": 0.0,
                    "median_box_diff_px": 0.0}

    def shifted(**kw):  # boxes moved by 1/128 of the crop: one pixel of a 128-pixel crop
        out = model(**kw)
        return {"score_logits": out["score_logits"], "boxes": out["boxes"] + 1.0 / 128}

    moved = agreement(recorder.kept, shifted, window, 0.45, model.search_size)
    assert moved["same_peak"] == 1.0 and moved["max_box_diff_px"] == pytest.approx(1.0, abs=1e-4)


def test_command_json_and_table(run_dir, tmp_path, capsys):
    root = tmp_path / "lasher"
    write_lasher_tree(root, sequences())
    base = ["bench", "accuracy", "--checkpoint", str(run_dir), "--dataset", "lasher", "--root", str(root),
            "--split", "test", "--precision", "fp32", "--precision", "bf16", "--resamples", "200", "--no-progress"]
    assert cli_main(base + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (entry,) = result["checkpoints"].values()
    assert result["protocol"] == "lasher" and entry["sequences"] == 3 and entry["reference"] == "fp32"
    assert set(entry["precisions"]) == {"fp32", "bf16"} and "bf16" in entry["agreement"]
    assert cli_main(base) == 0
    out = capsys.readouterr().out
    assert "SR - fp32" in out and "same peak cell" in out
