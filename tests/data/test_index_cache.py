"""Index cache: a stored scan is reused while the tree is unchanged, rebuilt when it changes."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "benchmarks"))
from benchmark_trees import make_lasot, write_lines  # noqa: E402

from tracktune.data import index_cache  # noqa: E402
from tracktune.data.benchmarks import lasot  # noqa: E402
from tracktune.data.index_cache import FrameList, TreeReader, numbered_pattern, sort_frame_names  # noqa: E402


@pytest.fixture
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKTUNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRACKTUNE_INDEX_CACHE", "1")
    monkeypatch.setattr(index_cache, "CACHE_MIN_FRAMES", 1)
    return tmp_path / "cache"


def no_listing(*args, **kwargs):
    raise AssertionError("a warm start must not list frame folders")


def same(a, b):
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        assert x.frames == y.frames
        np.testing.assert_array_equal(x.boxes, y.boxes)
        np.testing.assert_array_equal(x.visible, y.visible)
        assert x.attributes.keys() == y.attributes.keys() and x.meta == y.meta
        np.testing.assert_array_equal(x.attributes["full_occlusion"], y.attributes["full_occlusion"])


def test_warm_start_reads_the_cache_without_listing(tmp_path, cache_env, monkeypatch):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 4, "bear-3": 3}, occluded={"bear-3": 2})
    cold = lasot.load(root)
    assert len(list(cache_env.iterdir())) == 1
    monkeypatch.setattr(TreeReader, "frames", no_listing)
    warm = lasot.load(root)
    same(cold, warm)
    assert isinstance(warm[0].frames["rgb"], FrameList)
    assert warm[0].frame(0).shape == (24, 32, 3)


def test_added_frame_or_edited_ground_truth_invalidates(tmp_path, cache_env):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 3})
    assert len(lasot.load(root)[0].frames["rgb"]) == 3
    seq = root / "airplane" / "airplane-2"
    (seq / "img" / "00000004.jpg").write_bytes((seq / "img" / "00000001.jpg").read_bytes())
    assert len(lasot.load(root)[0].frames["rgb"]) == 4
    write_lines(seq / "groundtruth.txt", ["9,9,9,9", "2,3,10,8", "2,3,10,8"])
    os.utime(seq / "groundtruth.txt", ns=(1, 1))  # even with an old mtime, the size changed
    assert lasot.load(root)[0].boxes[0].tolist() == [9, 9, 9, 9]


def test_cache_off_and_small_scans_write_nothing(tmp_path, cache_env, monkeypatch):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 3})
    monkeypatch.setenv("TRACKTUNE_INDEX_CACHE", "0")
    lasot.load(root)
    assert not cache_env.exists()
    monkeypatch.setenv("TRACKTUNE_INDEX_CACHE", "1")
    monkeypatch.setattr(index_cache, "CACHE_MIN_FRAMES", 100)
    lasot.load(root)
    assert not cache_env.exists()


def test_corrupt_cache_file_is_rescanned(tmp_path, cache_env):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 3})
    lasot.load(root)
    (cache_file,) = cache_env.iterdir()
    cache_file.write_bytes(b"not a zip")
    assert len(lasot.load(root)) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_cut_or_garbled_cache_is_rebuilt_with_a_message(tmp_path, cache_env, caplog, damage):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 3})
    first = lasot.load(root)
    (cache_file,) = cache_env.iterdir()
    data = bytearray(cache_file.read_bytes())
    if damage == "truncate":  # a write cut short (the file renamed in place before this fix, or a full disk)
        data = data[: len(data) * 2 // 3]
    else:  # bytes flipped inside the stored header's deflated data
        for i in range(len(data) // 3, len(data) // 3 + 16):
            data[i] ^= 0xFF
    cache_file.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="tracktune.data.index_cache"):
        again = lasot.load(root)
    same(first, again)
    assert any("index cache" in r.getMessage() and "rescanning" in r.getMessage() for r in caplog.records)
    same(first, lasot.load(root))  # rewritten: readable again


def test_frame_list_patterns_and_numeric_order(tmp_path):
    names = [f"{i:08d}.jpg" for i in range(1, 2501)]
    assert numbered_pattern(names) == ("", 8, ".jpg", 1, 2500)
    assert numbered_pattern(["1.jpg", "2.jpg", "4.jpg"]) is None
    assert numbered_pattern([f"{i}.jpg" for i in range(12)]) == ("", 0, ".jpg", 0, 12)
    assert numbered_pattern(["00001v.jpg", "00002v.jpg"]) == ("", 5, "v.jpg", 1, 2)
    assert sort_frame_names(["10.jpg", "9.jpg", "0.jpg"]) == ["0.jpg", "9.jpg", "10.jpg"]
    frames = FrameList.from_names(tmp_path, names)
    assert len(frames) == 2500 and frames[-1] == tmp_path / "00002500.jpg"
    assert frames[1:3] == [tmp_path / "00000002.jpg", tmp_path / "00000003.jpg"]
    assert frames == [tmp_path / n for n in names]
    odd = FrameList.from_names(tmp_path, ["v000.jpg", "v018.jpg"])
    assert list(odd) == [tmp_path / "v000.jpg", tmp_path / "v018.jpg"]


def test_changed_loader_code_invalidates(tmp_path, cache_env, monkeypatch):
    root = tmp_path / "lasot"
    make_lasot(root, {"airplane-2": 3})
    lasot.load(root)
    monkeypatch.setattr(TreeReader, "frames", no_listing)
    lasot.load(root)  # warm
    stamps = index_cache.code_stamps()
    changed = next(iter(stamps))
    cache_file = next(cache_env.iterdir())
    assert index_cache.read_cache(cache_file, root) is not None
    monkeypatch.setattr(index_cache, "_stamp", lambda p, real=index_cache._stamp: None if str(p) == changed else real(p))
    assert index_cache.read_cache(cache_file, root) is None


def test_frame_list_pickles_for_dataloader_workers(tmp_path):
    import pickle

    frames = FrameList.from_names(tmp_path, [f"{i:08d}.jpg" for i in range(1, 5)])
    named = FrameList(tmp_path, names=["v000.jpg", "v018.jpg"])
    assert pickle.loads(pickle.dumps(frames)) == frames
    assert pickle.loads(pickle.dumps(named))[1] == tmp_path / "v018.jpg"


def test_frames_skip_hidden_metadata_files_only(tmp_path):
    for name in ["00000001.jpg", "00000002.JPG", "._00000001.jpg", "notes.txt", "00000003.png"]:
        (tmp_path / name).write_bytes(b"")
    frames = TreeReader(tmp_path).frames(tmp_path)
    assert [p.name for p in frames] == ["00000001.jpg", "00000002.JPG", "00000003.png"]
