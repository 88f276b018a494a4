"""VOT-RGBD2022 loader: VOT stack layout, 16-bit depth, NaN lines, polygons, tags."""

import numpy as np
import pytest

from benchmark_trees import make_vot_rgbd, write_lines
from tracktune.data.benchmarks import load, vot_rgbd
from tracktune.errors import DataError


def test_vot_rgbd_sequences_nan_absent_and_tags(tmp_path):
    truth = make_vot_rgbd(tmp_path, {"backpack_indoor": 4, "bag_outside": 3}, absent=1)
    sequences = load("vot_rgbd2022", tmp_path)
    assert [s.name for s in sequences] == ["backpack_indoor", "bag_outside"]
    seq = sequences[0]
    assert [p.name for p in seq.frames["depth"]][:2] == ["00000001.png", "00000002.png"]
    assert len(seq.frames["rgb"]) == 4
    assert seq.visible.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(seq.boxes, truth["backpack_indoor"])
    assert seq.attributes["full-occlusion"].tolist() == [False, True, False, False]
    assert seq.meta["fps"] == 30.0
    assert seq.raw_frame(0, "depth").dtype == np.uint16
    assert seq.frame(0, "depth").shape == (24, 32, 3)


def test_vot_polygon_becomes_bounding_box(tmp_path):
    make_vot_rgbd(tmp_path, {"cup": 2})
    write_lines(tmp_path / "cup" / "groundtruth.txt", ["1,2,11,2,11,10,1,10", "0"])
    boxes = vot_rgbd.read_ground_truth(tmp_path / "cup")
    np.testing.assert_array_equal(boxes[0], [1, 2, 10, 8])
    assert np.isnan(boxes[1]).all()


def test_vot_odd_value_count_is_an_error(tmp_path):
    make_vot_rgbd(tmp_path, {"cup": 2})
    write_lines(tmp_path / "cup" / "groundtruth.txt", ["1,2,3,4", "1,2,3,4,5"])
    with pytest.raises(DataError, match=r"cup/groundtruth.txt:2: expected 4 box values"):
        vot_rgbd.load(tmp_path)


def test_a_value_file_line_that_is_no_number_is_named(tmp_path):
    from tracktune.data.benchmarks.vot_rgbd import read_values
    from tracktune.data.index_cache import TreeReader

    path = tmp_path / "anchor.value"
    path.write_text("1\n0\nabc\n")
    with pytest.raises(DataError, match=r"anchor.value.*3.*'abc'"):
        read_values(TreeReader(tmp_path), path, 3)
    path.write_text("1\n0\n")  # short files are padded with 0, as the toolkit's loader does
    assert read_values(TreeReader(tmp_path), path, 4).tolist() == [1.0, 0.0, 0.0, 0.0]
