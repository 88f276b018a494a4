"""LasHeR loader: the official layout (hand-made tree) and synthetic data read back."""

import numpy as np
import pytest

from benchmark_trees import box_lines, boxes_for, write_image, write_lines
from tracktune.data import synthetic as S
from tracktune.data.benchmarks import lasher, load
from tracktune.errors import DataError


def make_lasher(root, sequences, names=lambda i: f"v{i * 18:06d}.jpg"):
    truth = {}
    for name, count in sequences.items():
        visible, infrared, init = boxes_for(count), boxes_for(count, 0.5), boxes_for(count, 0.25)
        for i in range(count):
            write_image(root / name / "visible" / names(i), 10 * i)
            write_image(root / name / "infrared" / names(i).replace("v", "i"), 10 * i)
        write_lines(root / name / "visible.txt", box_lines(visible))
        write_lines(root / name / "infrared.txt", box_lines(infrared))
        write_lines(root / name / "init.txt", box_lines(init))
        truth[name] = {"visible": visible, "infrared": infrared, "init": init}
    return truth


def test_lasher_reads_split_lists_and_scores_visible_txt(tmp_path):
    truth = make_lasher(tmp_path, {"2ndblkboy1": 3, "ab_bolstershaking": 2, "boy": 2})
    write_lines(tmp_path / "trainingsetList.txt", ["ab_bolstershaking", "boy"])
    write_lines(tmp_path / "testingsetList.txt", ["2ndblkboy1"])
    (test,) = load("lasher", tmp_path, split="test")
    assert test.name == "2ndblkboy1"
    assert [p.name for p in test.frames["rgb"]] == ["v000000.jpg", "v000018.jpg", "v000036.jpg"]
    assert len(test.frames["thermal"]) == 3 and test.frame(2, "thermal").shape == (24, 32, 3)
    np.testing.assert_array_equal(test.boxes, truth["2ndblkboy1"]["visible"])
    np.testing.assert_array_equal(test.modality_boxes["thermal"], truth["2ndblkboy1"]["infrared"])
    assert str(test.meta["groundtruth"]).endswith("2ndblkboy1/visible.txt")
    assert [s.name for s in lasher.load(tmp_path, "train")] == ["ab_bolstershaking", "boy"]
    assert len(lasher.load(tmp_path)) == 3
    (gt_only,) = lasher.load_ground_truth(tmp_path, "test")
    assert gt_only.frames == {} and len(gt_only) == 3
    np.testing.assert_array_equal(lasher.read_ground_truth(tmp_path / "boy"), truth["boy"]["visible"])


def test_lasher_zero_rows_absent_nested_split_folders_and_errors(tmp_path):
    make_lasher(tmp_path / "testingset", {"car": 3})
    write_lines(tmp_path / "testingsetList.txt", ["car"])
    write_lines(tmp_path / "testingset" / "car" / "visible.txt", ["2,3,10,8", "0,0,0,0", "4,5,10,8"])
    (car,) = lasher.load(tmp_path, "test")
    assert car.visible.tolist() == [True, False, True]
    write_lines(tmp_path / "testingset" / "car" / "visible.txt", ["2,3,10,8", "2,3,10", "4,5,10,8"])
    with pytest.raises(DataError, match=r"car/visible.txt:2:"):
        lasher.load(tmp_path, "test")
    problems = []
    assert lasher.scan(lasher.TreeReader(tmp_path), tmp_path, "test", on_error=problems.append) == []
    assert len(problems) == 1 and "visible.txt:2" in str(problems[0])
    with pytest.raises(DataError, match="unknown split 'val'"):
        lasher.load(tmp_path, "val")
    with pytest.raises(DataError, match="trainingsetList.txt"):
        lasher.load(tmp_path, "train")


def test_synthetic_thermal_reads_back_through_lasher(tmp_path):
    specs = S.plan(4, 6, 5, (64, 48), ["occlusion:5", "out_of_view:5", "night:3", "fog"], (3, 1))
    S.synthesise(tmp_path, sequences=4, frames=6, seed=5, size=(64, 48),
                 conditions=["occlusion:5", "out_of_view:5", "night:3", "fog"], splits=(3, 1), workers=1)
    sequences = {s.name: s for s in lasher.load(tmp_path)}
    assert sorted(sequences) == sorted(s.name for s in specs)
    for spec in specs:
        rendered, seq = S.render(spec), sequences[spec.name]
        assert len(seq.frames["rgb"]) == len(seq.frames["thermal"]) == len(seq) == 6
        assert seq.attributes == {"condition": spec.condition, "severity": spec.severity}
        assert seq.meta["condition"] == spec.condition
        np.testing.assert_array_equal(seq.visible, rendered.visible)
        np.testing.assert_allclose(seq.boxes[seq.visible], rendered.boxes[rendered.visible], atol=0.005)
        assert (seq.boxes[~seq.visible] == 0).all()  # LasHeR's absent row
        assert seq.frame(0).shape == (48, 64, 3) and seq.raw_frame(0, "thermal").ndim == 2
    assert [s.split for s in specs].count("test") == 1
    assert [s.name for s in lasher.load(tmp_path, "test")] == [s.name for s in specs if s.split == "test"]
