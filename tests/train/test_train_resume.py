"""A run killed with SIGKILL after a checkpoint and resumed ends bitwise equal to an
uninterrupted run (CPU, deterministic mode), in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

WORKER = Path(__file__).resolve().parent / "train_worker.py"
# drop path draws from the global RNG; accumulation and a kill mid-epoch test the data position
SETTINGS = {"deterministic": True, "grad_accum": 2, "checkpoint_every": 2, "keep_last": 5,
            "model": {"drop_path": 0.2}}


def worker(run_dir: Path, mode: str, **extra_env) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0", **extra_env)
    env.pop("WORLD_SIZE", None)
    return subprocess.Popen([sys.executable, str(WORKER), str(run_dir), mode, json.dumps(SETTINGS)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def losses(run_dir: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}


def test_sigkill_then_resume_is_bitwise_exact(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    runs = [worker(straight, "fresh"), worker(killed, "kill:5")]  # 8 steps; checkpoint at 4, killed at 5
    done = [finish(p) for p in runs]
    assert done[0].returncode == 0, done[0].stderr
    assert done[1].returncode == -signal.SIGKILL, done[1].stderr
    assert sorted(p.name for p in (killed / "checkpoints").iterdir() if not p.name.startswith(".")) == \
        ["step_0000002", "step_0000004"]
    assert max(losses(killed)) == 5  # logged past its last checkpoint
    resumed = finish(worker(killed, "resume"))
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(straight / "checkpoints" / "step_0000008" / "trainable.safetensors"))
    b = load_file(str(killed / "checkpoints" / "step_0000008" / "trainable.safetensors"))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different
    state_a = torch.load(straight / "checkpoints" / "step_0000008" / "state.pt", weights_only=True)
    state_b = torch.load(killed / "checkpoints" / "step_0000008" / "state.pt", weights_only=True)
    for sa, sb in zip(state_a["optimizer"]["state"].values(), state_b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    assert losses(killed) == losses(straight)  # the metrics of steps 6..8 were re-logged, once


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_after_a_torn_metrics_line_and_a_corrupt_newest_checkpoint(tmp_path):
    """kill -9, then the last metrics line cut mid-way and bytes of the newest checkpoint's
    weights flipped (same size: only the checksum recorded at save time shows it): --resume
    drops the torn line, skips step 4 for step 2, says both, and still ends bitwise exact."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    done = [finish(p) for p in (worker(straight, "fresh"), worker(killed, "kill:5"))]
    assert done[0].returncode == 0 and done[1].returncode == -signal.SIGKILL, done[1].stderr
    metrics = killed / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 6, "epoch": 0, "lo')
    weights = killed / "checkpoints" / "step_0000004" / "trainable.safetensors"
    data = bytearray(weights.read_bytes())
    data[-64:] = bytes(b ^ 0x5A for b in data[-64:])
    weights.write_bytes(bytes(data))
    resumed = finish(worker(killed, "resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "metrics.jsonl:6: dropped a torn last line" in resumed.stderr, resumed.stderr
    assert "step_0000004" in resumed.stderr and "checksum" in resumed.stderr, resumed.stderr
    assert "resuming from" in resumed.stderr and "step_0000002" in resumed.stderr, resumed.stderr
    a = load_file(str(straight / "checkpoints" / "step_0000008" / "trainable.safetensors"))
    b = load_file(str(killed / "checkpoints" / "step_0000008" / "trainable.safetensors"))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert losses(killed) == losses(straight)


def test_a_second_train_into_a_live_run_stops_and_touches_nothing(tmp_path):
    from train_fixtures import memory_sources, tiny_config

    from tracktune.errors import TracktuneError
    from tracktune.train.trainer import resume_run, train

    run, gate = tmp_path / "run", tmp_path / "gate"
    first = worker(run, "hold:2", TRACKTUNE_TEST_GATE=str(gate))
    try:
        assert first.stdout.readline().strip() == "holding"
        before = _tree(run)
        assert "config.yaml" in before and "checkpoints/step_0000002/manifest.json" in before
        intruder = tiny_config()
        intruder.name = "intruder"
        for attempt in (lambda: train(intruder, run, progress=False, sources=memory_sources()),
                        lambda: resume_run(run, progress=False, sources=memory_sources())):
            try:
                attempt()
            except TracktuneError as exc:
                message = str(exc)
            else:
                raise AssertionError("a second writer was let in")
            assert message.startswith(f"{run} is in use by tracktune train (pid {first.pid} on host "), message
            assert _tree(run) == before
    finally:
        gate.write_text("go")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert losses(run).keys() == set(range(1, 9))  # one run's metrics, each step once
    assert "name: tiny_test" in (run / "config.yaml").read_text()
    assert not (run / ".tracktune.lock").exists()
    # the run is over: a fresh train into its folder refuses without --overwrite ...
    try:
        train(intruder, run, progress=False, sources=memory_sources())
    except TracktuneError as exc:
        assert "holds another run's files" in str(exc) and "--overwrite" in str(exc)
    else:
        raise AssertionError("a fresh train mixed its files with a finished run's")
    # ... and with it replaces only what a run writes
    (run / "notes.txt").write_text("mine")
    (run / "checkpoints" / ".step_0000009.abc.tmp").mkdir()  # debris of a killed save
    train(intruder, run, progress=False, sources=memory_sources(), overwrite=True)
    assert "name: intruder" in (run / "config.yaml").read_text()
    assert (run / "notes.txt").read_text() == "mine"
    assert losses(run).keys() == set(range(1, 9))
    assert not (run / "checkpoints" / ".step_0000009.abc.tmp").exists()
