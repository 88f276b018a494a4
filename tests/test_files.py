"""Atomic writes (files.py): what a reader can see, what is left behind, what is never replaced."""

from __future__ import annotations

import os

import pytest

from tracktune.files import atomic_write_text, is_temporary, temporary_dir, temporary_path


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert os.listdir(path.parent) == ["a.txt"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with temporary_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_keep_suffix_ends_the_temporary_name_with_the_final_suffix(tmp_path):
    with temporary_path(tmp_path / "out.mp4", keep_suffix=True) as tmp:
        assert tmp.name.endswith(".tmp.mp4") and is_temporary(tmp) and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "out.mp4").read_bytes() == b"x"


def test_temporary_dir_without_replace_never_removes_a_finished_tree(tmp_path):
    final = tmp_path / "tree"
    with temporary_dir(final, replace=False) as staging:  # onto a missing folder: renamed
        (staging / "f").write_text("first")
    assert (final / "f").read_text() == "first"
    with pytest.raises(OSError):
        with temporary_dir(final, replace=False) as staging:  # another writer finished first
            (staging / "f").write_text("second")
    assert (final / "f").read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["tree"]  # the staging folder is gone
    empty = tmp_path / "empty"
    empty.mkdir()
    with temporary_dir(empty, replace=False) as staging:  # an empty folder may be taken over
        (staging / "g").write_text("g")
    assert (empty / "g").read_text() == "g"
