"""FE108 loader: train/ and test/ folders, APS frames, events.aedat4, comma-separated
groundtruth_rect.txt, split lists in either public form; scored by the fe108 protocol."""

import numpy as np
import pytest

from benchmark_trees import box_lines, boxes_for, write_image, write_lines
from tracktune.data.benchmarks import fe108, load
from tracktune.errors import DataError


def make_fe108(root, splits, aps="img", events="dvs"):
    truth = {}
    for split, sequences in splits.items():
        for name, n in sequences.items():
            seq = root / split / name
            for i in range(1, n + 1):
                write_image(seq / aps / f"{i:04d}.jpg", 10 * i)
                if events:
                    write_image(seq / events / f"{i:04d}.jpg", 255)
            (seq / "events.aedat4").write_bytes(b"#!AER-DAT4.0\r\n")
            boxes = boxes_for(n)
            write_lines(seq / "groundtruth_rect.txt", box_lines(boxes))
            truth[name] = boxes
    return truth


def test_fe108_splits_frames_events_and_classes(tmp_path):
    truth = make_fe108(tmp_path, {"train": {"airplane222": 3, "whale_mul111": 2}, "test": {"bike222": 12}})
    (bike,) = load("fe108", tmp_path, split="test")
    assert bike.modalities == ["rgb", "event"] and len(bike.frames["rgb"]) == 12
    assert [p.name for p in bike.frames["rgb"]][:3] == ["0001.jpg", "0002.jpg", "0003.jpg"]
    np.testing.assert_array_equal(bike.boxes, truth["bike222"])
    assert bike.meta["aedat4"].name == "events.aedat4" and bike.meta["split"] == "test"
    assert bike.frame(0, "rgb").shape == (24, 32, 3)
    train = fe108.load(tmp_path, split="train")
    assert [s.name for s in train] == ["airplane222", "whale_mul111"]
    assert [s.meta["object_class"] for s in train] == ["airplane", "whale"]
    assert len(fe108.load(tmp_path)) == 3


def test_fe108_split_lists_and_aps_folder_variants(tmp_path):
    make_fe108(tmp_path, {"test": {"a1": 2, "b1": 2}}, aps="aps", events=None)
    write_lines(tmp_path / "test" / "list.txt", ["b1"])  # CEUTrack's <split>/list.txt
    (seq,) = fe108.load(tmp_path, split="test")
    assert seq.name == "b1" and seq.modalities == ["rgb"]
    (tmp_path / "test" / "list.txt").unlink()
    write_lines(tmp_path / "test.txt", ["a1"])  # a root-level <split>.txt
    assert [s.name for s in fe108.load_ground_truth(tmp_path, split="test")] == ["a1"]


def test_fe108_errors_name_the_folder(tmp_path):
    make_fe108(tmp_path, {"train": {"cup1": 2}})
    with pytest.raises(DataError, match="split folder not found"):
        fe108.load(tmp_path, split="test")
    with pytest.raises(DataError, match="unknown split"):
        fe108.load(tmp_path, split="val")
    (tmp_path / "train" / "dog1").mkdir()
    write_lines(tmp_path / "train" / "dog1" / "groundtruth_rect.txt", ["1,2,3,4"])
    with pytest.raises(DataError, match="no APS frame folder"):
        fe108.load(tmp_path, split="train")


def test_fe108_protocol_scores_a_dataset_root(tmp_path):
    from tracktune.eval import evaluate
    from tracktune.eval.ground_truth import load_ground_truth
    from tracktune.eval.protocols import PROTOCOLS

    truth = make_fe108(tmp_path, {"train": {"x1": 4}, "test": {"bike222": 6, "cup2": 5}})
    sequences = load_ground_truth(tmp_path, "fe108")  # the test split by default
    assert [s.name for s in sequences] == ["bike222", "cup2"]
    results = {n: truth[n] + np.array([3.0, 0, 0, 0]) for n in ("bike222", "cup2")}
    metrics = evaluate("fe108", sequences, {"T": results}).trackers["T"].metrics
    # 3 px off everywhere but frame 1 (set to GT): every frame within 20 px
    assert metrics["PR"] == 1.0 and 0 < metrics["SR"] < 1
    assert "MATLAB" in PROTOCOLS["fe108"].describe()
