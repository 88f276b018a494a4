"""Directory locks: one live owner, stale locks of dead owners taken over and reported."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tracktune.locks import LOCK_NAME, DirectoryLock, LockError, read_owner

SRC = str(Path(__file__).resolve().parents[1] / "src")

HOLDER = """
import os, sys, time
from tracktune.locks import DirectoryLock
lock = DirectoryLock(sys.argv[1], "tracktune train").acquire()
if sys.argv[2] == "fork":
    child = os.fork()
    if child == 0:  # a data-loader-like child: outlives its parent, holds the fd
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
print("locked", flush=True)
time.sleep(60)
"""


def _holder(directory, mode="plain"):
    env = dict(os.environ, PYTHONPATH=SRC)
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), mode], stdout=subprocess.PIPE,
                               text=True, env=env)
    lines = []
    while True:
        line = process.stdout.readline()
        assert line, "the holder exited early"
        lines.append(line.strip())
        if line.strip() == "locked":
            return process, lines


def test_acquire_release_and_same_process(tmp_path):
    run = tmp_path / "run"
    with DirectoryLock(run, "tracktune train") as lock:
        record = read_owner(run)
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        assert record["command"] == "tracktune train"
        with pytest.raises(LockError, match=r"run is in use by tracktune train in this process"):
            DirectoryLock(run, "tracktune run").acquire()
        assert lock.stale is None
    assert not (run / LOCK_NAME).exists()
    DirectoryLock(run).acquire().release()  # free again


def test_a_live_owner_in_another_process_refuses_and_a_dead_one_is_taken_over(tmp_path):
    run = tmp_path / "run"
    process, _ = _holder(run)
    try:
        with pytest.raises(LockError) as info:
            DirectoryLock(run, "tracktune train").acquire()
        message = str(info.value)
        assert f"pid {process.pid} on host {socket.gethostname()}" in message
        assert message.startswith(f"{run} is in use by tracktune train")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    note = io.StringIO()
    lock = DirectoryLock(run, "tracktune train", note_stream=note).acquire()
    try:
        assert lock.stale["pid"] == process.pid
        assert f"the previous owner, tracktune train (pid {process.pid}" in note.getvalue()
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_forked_children_of_a_dead_owner_do_not_keep_the_lock(tmp_path):
    run = tmp_path / "run"
    process, lines = _holder(run, "fork")
    child = int(lines[0])
    try:
        process.send_signal(signal.SIGKILL)
        process.wait()
        os.kill(child, 0)  # the child still runs and still has the lock file open
        lock = DirectoryLock(run, "tracktune train", note_stream=io.StringIO()).acquire()
        assert lock.stale["pid"] == process.pid
        lock.release()
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_file_is_not_a_directory(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(Exception, match="is a file; expected a directory"):
        DirectoryLock(path).acquire()
    assert path.read_text() == "x"
