"""Progress: a bar only on a terminal (or when forced), sparse status lines in logs."""

import io

import pytest

from tracktune.progress import StatusLines, progress_bar, resolve


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_mode_resolution():
    assert resolve(True, Terminal()) == "bar" and resolve("auto", Terminal()) == "bar"
    assert resolve(True, io.StringIO()) == "log"  # redirected to a file: no bar
    assert resolve("bar", io.StringIO()) == "bar"  # --progress
    for off in (False, None, "off"):
        assert resolve(off, Terminal()) == "off"
    with pytest.raises(ValueError):
        resolve("sometimes")


def test_status_lines_are_sparse_and_one_line_each():
    now = [0.0]
    stream = io.StringIO()
    status = StatusLines(1000, "train", "step", stream=stream, every=30.0, clock=lambda: now[0])
    for _ in range(1000):  # 1000 updates, 0.1 s apart: 100 s in all
        now[0] += 0.1
        status.update(1)
    status.set_postfix(loss="0.5")
    status.close()
    status.close()  # idempotent
    lines = stream.getvalue().splitlines()
    # at 30, 60, 90 s and the final one: counted by hand
    assert len(lines) == 4
    assert lines[0].startswith("train: 300/1000 step (30%) in 30 s (10 step/s), about 1 min 10 s left")
    assert lines[-1] == "train: 1000/1000 step (100%) in 1 min 40 s (10 step/s), loss=0.5"


def test_progress_bar_kinds():
    stream = io.StringIO()
    with progress_bar(5, "x", "it", mode=False, stream=stream) as bar:
        bar.update(5)
    assert stream.getvalue() == ""
    bar = progress_bar(5, "x", "it", mode=True, stream=stream)
    assert isinstance(bar, StatusLines)
    bar.update(5)
    bar.close()
    assert stream.getvalue().count("\n") == 1
    from tqdm import tqdm

    forced = progress_bar(5, "x", "it", mode="bar", stream=io.StringIO())
    assert isinstance(forced, tqdm)
    forced.close()


def test_the_command_line_flag_reaches_library_bars(monkeypatch):
    from tracktune import progress

    old = progress.set_default("off")
    try:
        assert resolve(True, Terminal()) == "off" and resolve("bar", io.StringIO()) == "bar"
        progress.set_default("bar")
        assert resolve("auto", io.StringIO()) == "bar"
    finally:
        progress.set_default(old)
    assert resolve(True, Terminal()) == "bar"
