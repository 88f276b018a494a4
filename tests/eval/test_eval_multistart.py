"""The VOT short-term multistart analysis (`vot_multistart`): against vot-toolkit 0.9.0's
own analysis (`vot/analysis/multistart.py`: AccuracyRobustness, AverageAccuracyRobustness,
EAOCurves, EAOCurve, EAOScore) run on its own result files, and against hand counts."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tracktune.data.sequence import Sequence
from tracktune.errors import DataError
from tracktune.eval import commands, evaluate
from tracktune.eval import multistart as MS

sys.path.insert(0, str(Path(__file__).parent))
from multistart_stack import SIZE, make_runs, make_stack  # noqa: E402


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    code = commands.main(parser.parse_args([str(a) for a in argv]))
    return code, capsys.readouterr().out


def _toolkit():
    pytest.importorskip("vot", reason="vot-toolkit not installed (pip install 'tracktune[reference]')")
    import vot.analysis.multistart as VM
    from vot.dataset import load_sequence
    from vot.region import Special
    from vot.region.shapes import Rectangle
    from vot.tracker.results import Results, Trajectory
    from vot.workspace.storage import LocalStorage

    return VM, load_sequence, Special, Rectangle, Results, Trajectory, LocalStorage


def _toolkit_scores(VM, sequences, experiment, version):
    """EAO (115..755), A and R by the toolkit's analysis classes; '0.5' swaps in the 0.5.x
    overlap rule (a frame with an empty region scores 0; a one-row union is not 'identical')."""
    from vot.region import raster
    from vot.region.raster import calculate_overlap

    def overlaps_05(first, second, bounds=None, ignore=None):
        out = []
        for a, b in zip(first, second):
            if not hasattr(a, "_data") or not hasattr(b, "_data"):  # a Special (empty) region
                out.append(0.0)
                continue
            box = [np.round(r._data.ravel()) for r in (a, b)]
            left, right = min(x[0] for x in box), max(x[0] + x[2] - 1 for x in box)
            top, bottom = min(x[1] for x in box), max(x[1] + x[3] - 1 for x in box)
            out.append(0.0 if (left >= right or top >= bottom) else calculate_overlap(a, b, bounds))
        return out

    original = VM.calculate_overlaps
    if version == "0.5":
        VM.calculate_overlaps = overlaps_05
    try:
        ar = [VM.AccuracyRobustness().subcompute(experiment, None, s, []) for s in sequences]
        accuracy, robustness = VM.AverageAccuracyRobustness().aggregate(None, sequences, ar)[:2]
        curves = [VM.EAOCurves(high=755).subcompute(experiment, None, s, []) for s in sequences]
        curve = VM.EAOCurve(high=755).aggregate(None, sequences, curves)[0]
        eao = float(np.mean(curve[115:755 + 1]))
    finally:
        VM.calculate_overlaps = original
    assert raster.calculate_overlaps is original
    return {"EAO": eao, "A": accuracy, "R": robustness}, curve


@pytest.mark.parametrize("version", ["0.9", "0.5"])
def test_evaluate_on_vot_toolkit_result_files_gives_the_toolkits_scores(tmp_path, capsys, version):
    """Binary result files written by the toolkit's `Trajectory.write` in its workspace
    layout (`results/<tracker>/baseline/<seq>/<seq>_<anchor:08d>.bin`), scored by the
    toolkit's analysis and by `tracktune evaluate --protocol vot_multistart`."""
    VM, load_sequence, Special, Rectangle, Results, Trajectory, LocalStorage = _toolkit()
    rng = np.random.default_rng(3)
    truth = make_stack(tmp_path / "stack", rng, n_sequences=4)
    tracker_dir = tmp_path / "results" / "MyTracker"

    class Experiment:
        anchor = "anchor"

        def results(self, tracker, sequence):
            return Results(LocalStorage(str(tracker_dir / "baseline" / sequence.name)))

    failures = 0
    for name, (gt, anchors) in truth.items():
        results = Results(LocalStorage(str(tracker_dir / "baseline" / name)))
        for anchor, traj in make_runs(gt, anchors, rng).items():
            trajectory = Trajectory(len(traj))
            for i, box in enumerate(traj):
                region = Special(1) if i == 0 else Special(0) if not np.isfinite(box).all() else Rectangle(*box)
                trajectory.set(i, region)
            trajectory.write(results, MS.run_name(name, anchor))
    assert any(p.suffix == ".bin" for p in tracker_dir.rglob("*_0000*"))
    sequences = [load_sequence(str(tmp_path / "stack" / n)) for n in truth]
    expected, curve = _toolkit_scores(VM, sequences, Experiment(), version)
    code, out = _run(["--protocol", "vot_multistart", "--gt", tmp_path / "stack", "--results", tracker_dir,
                      "--json", "--toolkit-version", version], capsys)
    ours = json.loads(out)["trackers"]["MyTracker"]
    assert code == 0 and set(ours) == {"EAO", "A", "R"}
    for key in expected:
        assert abs(ours[key] - expected[key]) < 1e-9, (key, ours[key], expected[key])
    # the stack has failures, so EAO's tail (j >= run length) is exercised
    from tracktune.data.benchmarks import vot_rgbd
    from tracktune.eval.protocols import get

    seqs = vot_rgbd.load_ground_truth(tmp_path / "stack")
    for s in seqs:
        s.meta["image_size"] = SIZE
        failures += MS.score_sequence(s.name, s.boxes, MS.sequence_anchors(s),
                                      {p.anchor: p.boxes for p in MS.read_tracker_runs(tracker_dir, [s])[s.name]},
                                      SIZE).failures
    assert failures > 0 and 0 < ours["R"] < 1
    runs = MS.read_tracker_runs(tracker_dir, seqs)
    report = evaluate(get("vot_multistart", version), seqs, {"T": runs})
    assert np.abs(report.trackers["T"].curves["eao"] - np.asarray(curve)).max() < 1e-12
    # the versions differ on this stack (frames where both regions are empty)
    other = evaluate(get("vot_multistart", "0.9" if version == "0.5" else "0.5"), seqs, {"T": runs})
    assert abs(other.trackers["T"].metrics["A"] - ours["A"]) > 1e-6


def test_failure_detection_by_hand():
    o = np.array([0.9, 0.05, 0.1, 0.5, 0.0, 0.0, 0.0, 0.0, 0.2, 0.7])
    empty = np.zeros(10, bool)
    # frames 1, 2 (<= 0.1) are two, then 0.5 resets; frames 4, 5, 6 make three: progress 4
    assert MS.failure_progress(o, empty, grace=3, threshold=0.1) == 4
    empty[5] = True  # an empty GT frame resets the counter: 4 alone, then 6, 7 are two
    assert MS.failure_progress(o, empty, grace=3, threshold=0.1) == 10
    assert MS.failure_progress(o, np.zeros(10, bool), grace=0, threshold=0.1) == 10


def test_eao_accuracy_robustness_by_hand():
    """One sequence of 6 frames, one forward anchor at 0 (a run of 6) and one backward anchor at
    2 (a run of 3), grace 2: closed forms of A, R and the EAO curve."""
    gt = np.tile([10.0, 10, 10, 10], (6, 1))
    anchors = np.array([1, 0, -1, 0, 0, 0], float)
    forward = np.array([[np.nan] * 4, [10, 10, 10, 10], [10, 10, 10, 5], [40, 40, 5, 5], [40, 40, 5, 5], [10, 10, 10, 10]])
    backward = np.array([[np.nan] * 4, [10, 10, 10, 10], [10, 10, 10, 10]])
    score = MS.score_sequence("s", gt, anchors, {0: forward, 2: backward}, size=(64, 48), high=8, grace=2)
    # forward overlaps 0, 1, .5, 0, 0, 1: frames 3, 4 fail -> progress 3; backward 0, 1, 1 never fails
    assert score.progress == 3 + 3 and score.run_frames == 9 and score.failures == 1
    assert score.accuracy == pytest.approx((0 + 1 + 0.5 + 0 + 1 + 1) / 6)
    assert score.robustness == pytest.approx(6 / 9)
    values, curves = MS.summarise([score], low=2, high=8)
    # EAO curve: forward (failed, zeros from frame 3): j<6 mean of o[1..j]; j>=6 sum(o[1:6])/(j-1)
    f = np.array([0, 1, 0.5, 0, 0, 0.0])
    b = np.array([0, 1, 1.0])
    expected = np.zeros(8)
    for j in range(1, 8):
        terms = []
        terms.append(f[1:j + 1].mean() if j < 6 else f[1:6].sum() / (j - 1))
        if j < 3:
            terms.append(b[1:j + 1].mean())
        expected[j] = np.mean(terms)
    assert np.allclose(curves["eao"], expected)
    assert values["EAO"] == pytest.approx(expected[2:8].mean())
    assert values["R"] == pytest.approx(6 / 9) and values["A"] == pytest.approx(score.accuracy)


def test_vot_lt_on_a_multistart_stack_says_what_to_use(tmp_path):
    rng = np.random.default_rng(0)
    make_stack(tmp_path / "stack", rng, n_sequences=1, frames=False)
    from tracktune.data.benchmarks import vot_rgbd
    from tracktune.eval.protocols import Prediction, get

    (seq,) = vot_rgbd.load_ground_truth(tmp_path / "stack")
    run = Prediction(seq.boxes, confidence=np.ones(len(seq.boxes)))
    with pytest.raises(DataError, match="use --protocol vot_multistart"):
        evaluate("vot_lt", [seq], {"T": {seq.name: run}})
    assert get("vot_rgbd2022").name == "vot_multistart"
    assert "vot-toolkit 0.5.3" in get("vot_rgbd2022").describe()


def test_missing_run_and_wrong_length_name_the_file(tmp_path):
    gt = np.tile([10.0, 10, 10, 10], (5, 1))
    seq = Sequence("s", {}, gt, meta={"values": {"anchor": np.array([1, 0, 0, -1, 0.0])}})
    with pytest.raises(DataError, match="anchor frame 3"):
        evaluate("vot_multistart", [seq], {"T": {"s": {0: gt}}})
    with pytest.raises(DataError, match="has 5 regions for the 4 frames"):
        evaluate("vot_multistart", [seq], {"T": {"s": {0: gt, 3: gt}}})
