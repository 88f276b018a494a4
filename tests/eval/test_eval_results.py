"""Result files: tolerant reading, strict errors naming file:line, official layouts."""

import numpy as np
import pytest

from tracktune.errors import DataError
from tracktune.eval.results import (
    find_runs,
    read_confidence_file,
    read_result_file,
    read_table,
    read_tracker_results,
    write_results,
)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_separators_trailing_commas_nan_and_crlf_read_the_same(tmp_path):
    expected = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [np.nan] * 4])
    texts = {
        "comma": "1,2,3,4\n5,6,7,8\nnan,nan,nan,nan\n",
        "tab": "1\t2\t3\t4\n5\t6\t7\t8\nNaN\tNaN\tNaN\tNaN\n",
        "space": "1 2 3 4\n5  6 7 8\nNaN NaN NaN NaN",
        "mixed": "1, 2\t3 4,\n5;6;7;8;\nnan,NaN nan\tnan,\n",
        "crlf": "1,2,3,4\r\n5,6,7,8\r\nnan,nan,nan,nan\r\n",
    }
    for name, text in texts.items():
        pred, notes = read_result_file(_write(tmp_path / f"{name}.txt", text))
        np.testing.assert_array_equal(pred.boxes, expected, err_msg=name)
        assert notes == [], name


def test_blank_lines_inside_are_no_prediction_trailing_ones_dropped(tmp_path):
    path = _write(tmp_path / "s.txt", "1,2,3,4\n\n5,6,7,8\n\n\n")
    pred, notes = read_result_file(path)
    assert pred.boxes.shape == (3, 4)  # the blank frame keeps its place; trailing ones go
    assert np.isnan(pred.boxes[1]).all() and pred.boxes[2, 0] == 5
    assert notes == [f"{path}: blank line 2 read as no prediction"]


def test_fast_and_line_by_line_readers_agree(tmp_path):
    rng = np.random.default_rng(0)
    boxes = np.round(rng.uniform(0, 300, (50, 4)), 2)
    clean = _write(tmp_path / "clean.txt", "\n".join(",".join(str(v) for v in row) for row in boxes) + "\n\n")
    messy = _write(tmp_path / "messy.txt", "\n".join("\t".join(str(v) for v in row) + "," for row in boxes) + "\n")
    a, b = read_table(clean), read_table(messy)
    np.testing.assert_array_equal(a.values, boxes)
    np.testing.assert_array_equal(b.values, boxes)
    assert a.blank == [50] and b.blank == []


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("1,2,3,4\n1,2,x,4\n", 2, "expected numbers"),
        ("1,2,3,4\n1,2,3\n", 2, "expected 4"),
        ("1,2,3,4\n1,2,3,4\n1,2,3,4,5,6\n", 3, "expected 4"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(DataError, match=f"bad.txt:{line}: {message}"):
        read_result_file(path)


def test_eight_value_corners_become_boxes_and_are_kept(tmp_path):
    path = _write(tmp_path / "c.txt", "10,20,30,20,30,40,10,40\n1,2,3,4\n")
    pred, _ = read_result_file(path)
    np.testing.assert_array_equal(pred.boxes, [[10, 20, 20, 20], [1, 2, 3, 4]])
    np.testing.assert_array_equal(pred.corners[0], [10, 20, 30, 20, 30, 40, 10, 40])
    assert np.isnan(pred.corners[1]).all()


def test_layouts_round_trip(tmp_path):
    boxes = np.array([[1.5, 2, 3, 4], [np.nan] * 4, [5, 6, 7, 8.25]])
    conf = np.array([np.nan, 0.25, 0.75])
    write_results(tmp_path / "plain", "seq", boxes)
    write_results(tmp_path / "got", "seq", boxes, layout="got10k", times=np.ones(3))
    write_results(tmp_path / "got", "seq", boxes + 1, layout="got10k", run=2)
    write_results(tmp_path / "vot", "seq", boxes, layout="vot", confidence=conf)
    plain, _ = read_tracker_results(tmp_path / "plain", ["seq"])
    got, _ = read_tracker_results(tmp_path / "got", ["seq"], layout="got10k")
    vot, _ = read_tracker_results(tmp_path / "vot", ["seq"], layout="vot", confidences=True)
    np.testing.assert_array_equal(plain["seq"][0].boxes, boxes)
    assert len(got["seq"]) == 2 and (tmp_path / "got" / "seq" / "seq_time.txt").is_file()
    np.testing.assert_array_equal(got["seq"][1].boxes, boxes + 1)
    # the NaN is written as an empty line, which vot-toolkit (and tracktune) read as 0
    np.testing.assert_array_equal(vot["seq"][0].confidence, [0.0, 0.25, 0.75])
    np.testing.assert_array_equal(vot["seq"][0].boxes, boxes)
    assert (tmp_path / "vot" / "seq" / "seq_001.txt").read_text().splitlines()[1] == "0"  # VOT's "no region"
    write_results(tmp_path / "pyt", "seq", boxes, separator="\t")
    assert (tmp_path / "pyt" / "seq.txt").read_text().splitlines()[0] == "1.5\t2\t3\t4"


def test_trackingnet_zip_reads_like_its_folder(tmp_path):
    from tracktune.eval.results import pack_zip

    boxes = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=float)
    for name in ("a", "b"):
        write_results(tmp_path / "T", name, boxes + (name == "b"))
    zipped = pack_zip(tmp_path / "T", tmp_path / "T.zip")
    folder, _ = read_tracker_results(tmp_path / "T", ["a", "b"])
    packed, _ = read_tracker_results(zipped, ["a", "b"])
    for name in ("a", "b"):
        np.testing.assert_array_equal(folder[name][0].boxes, packed[name][0].boxes)
    assert str(packed["b"][0].source) == f"{zipped}:b.txt"
    with pytest.raises(DataError, match=f"no result file for sequence 'c' in {zipped}:"):
        read_tracker_results(zipped, ["c"])


def test_missing_files_are_errors(tmp_path):
    (tmp_path / "T").mkdir()
    with pytest.raises(DataError, match="no result file for sequence 'a'"):
        read_tracker_results(tmp_path / "T", ["a"])
    with pytest.raises(DataError, match="results folder not found"):
        read_tracker_results(tmp_path / "nope", ["a"])
    with pytest.raises(DataError, match="a_001.txt"):
        find_runs(tmp_path / "T", "a", layout="vot")
    with pytest.raises(DataError, match="v.value:2: expected a number"):
        read_confidence_file(_write(tmp_path / "v.value", "0.5\nhigh\n"))
