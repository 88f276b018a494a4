"""DepthTrack loader: VOT layout with train/test folders; synthetic depth reads back."""

import numpy as np
import pytest

from benchmark_trees import make_vot_rgbd, write_lines
from tracktune.data import synthetic as S
from tracktune.data.benchmarks import depthtrack, load
from tracktune.errors import DataError


def test_depthtrack_split_folders_and_plain_root(tmp_path):
    truth = make_vot_rgbd(tmp_path / "test", {"adapter01_indoor": 3}, absent=1)
    make_vot_rgbd(tmp_path / "train", {"bag01": 2, "bag02": 2})
    (seq,) = load("depthtrack", tmp_path, split="test")
    np.testing.assert_array_equal(np.isnan(seq.boxes), np.isnan(truth["adapter01_indoor"]))
    assert seq.visible.tolist() == [True, False, True] and seq.meta["dataset"] == "depthtrack"
    assert seq.raw_frame(0, "depth").dtype == np.uint16
    assert [s.name for s in depthtrack.load(tmp_path)] == ["bag01", "bag02", "adapter01_indoor"]
    assert [s.name for s in depthtrack.load(tmp_path / "test", "test")] == ["adapter01_indoor"]  # a test-set root
    write_lines(tmp_path / "test" / "adapter01_indoor" / "groundtruth.txt", ["1,2,3,4", "1,2,3", "1,2,3,4"])
    with pytest.raises(DataError, match=r"adapter01_indoor/groundtruth.txt:2:"):
        depthtrack.load_ground_truth(tmp_path, "test")


def test_synthetic_depth_reads_back(tmp_path):
    conditions = ["occlusion:5", "clean:1", "distractors:4"]
    specs = S.plan(3, 6, 2, (64, 48), conditions, (2, 1), "depth")
    S.synthesise(tmp_path, modality="depth", sequences=3, frames=6, seed=2, size=(64, 48), conditions=conditions,
                 splits=(2, 1), workers=1)
    sequences = {s.name: s for s in depthtrack.load(tmp_path)}
    assert sorted(sequences) == sorted(s.name for s in specs)
    for spec in specs:
        rendered, seq = S.render(spec), sequences[spec.name]
        assert len(seq.frames["rgb"]) == len(seq.frames["depth"]) == 6
        assert seq.attributes["condition"] == spec.condition and seq.attributes["severity"] == spec.severity
        assert seq.meta["split"] == spec.split
        np.testing.assert_array_equal(seq.visible, rendered.visible)
        np.testing.assert_array_equal(seq.attributes["full-occlusion"], ~rendered.visible)
        np.testing.assert_allclose(seq.boxes[seq.visible], rendered.boxes[rendered.visible], atol=0.005)
        np.testing.assert_array_equal(seq.raw_frame(3, "depth"), rendered.aux[3])  # 16-bit PNG, lossless
    assert [s.name for s in depthtrack.load(tmp_path, "test")] == [s.name for s in specs if s.split == "test"]
