"""VisEvent loader: absent_label.txt (1 = present), split lists; synthetic event reads back."""

import numpy as np
import pytest

from benchmark_trees import box_lines, boxes_for, write_image, write_lines
from tracktune.data import synthetic as S
from tracktune.data.benchmarks import load, visevent
from tracktune.errors import DataError


def make_visevent(root, sequences):
    for name, count in sequences.items():
        for i in range(count):
            write_image(root / name / "vis_imgs" / f"frame{i:04d}.bmp", 10 * i)
            write_image(root / name / "event_imgs" / f"frame{i:04d}.bmp", 255)
        write_lines(root / name / "groundtruth.txt", box_lines(boxes_for(count)))
        write_lines(root / name / "absent_label.txt", ["1"] * count)


def test_visevent_absent_label_means_present(tmp_path):
    make_visevent(tmp_path, {"00141_tank_outdoor2": 3, "dvSave-2021_02_04_20_49_43": 2})
    write_lines(tmp_path / "testlist.txt", ["00141_tank_outdoor2"])
    write_lines(tmp_path / "trainlist.txt", ["dvSave-2021_02_04_20_49_43"])
    write_lines(tmp_path / "00141_tank_outdoor2" / "absent_label.txt", ["1", "0", "1"])
    (seq,) = load("visevent", tmp_path, split="test")
    assert seq.visible.tolist() == [True, False, True]
    assert seq.attributes["absent"].tolist() == [False, True, False]
    assert len(seq.frames["event"]) == 3 and seq.frame(0, "event").shape == (24, 32, 3)
    assert len(visevent.load(tmp_path)) == 2
    write_lines(tmp_path / "00141_tank_outdoor2" / "absent_label.txt", ["1", "2", "1"])
    with pytest.raises(DataError, match=r"absent_label.txt:2: expected 0 or 1"):
        visevent.load(tmp_path, "test")
    write_lines(tmp_path / "00141_tank_outdoor2" / "absent_label.txt", ["1", "0", "1"])
    write_lines(tmp_path / "00141_tank_outdoor2" / "groundtruth.txt", ["1,2,3,4", "1,2,3,4", "1,2,x,4"])
    with pytest.raises(DataError, match=r"00141_tank_outdoor2/groundtruth.txt:3:"):
        visevent.load_ground_truth(tmp_path, "test")


def test_synthetic_event_reads_back(tmp_path):
    conditions = ["out_of_view:5", "fast_motion:3", "night:5"]
    specs = S.plan(3, 6, 9, (64, 48), conditions, (2, 1), "event")
    S.synthesise(tmp_path, modality="event", sequences=3, frames=6, seed=9, size=(64, 48), conditions=conditions,
                 splits=(2, 1), workers=1)
    sequences = {s.name: s for s in visevent.load(tmp_path)}
    for spec in specs:
        rendered, seq = S.render(spec), sequences[spec.name]
        assert len(seq.frames["rgb"]) == len(seq.frames["event"]) == 6
        assert seq.attributes["condition"] == spec.condition
        np.testing.assert_array_equal(seq.visible, rendered.visible)
        np.testing.assert_allclose(seq.boxes[seq.visible], rendered.boxes[rendered.visible], atol=0.005)
        np.testing.assert_array_equal(seq.frame(2, "event"), rendered.aux[2])  # BMP, lossless
    assert [s.name for s in visevent.load(tmp_path, "train")] == [s.name for s in specs if s.split == "train"]
