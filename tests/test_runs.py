"""Checkpoint verification: the SHA-256 of each file recorded at save time, headers, the
recorded config; a run falls back to its newest checkpoint that verifies."""

import json

import pytest
import torch
from torch import nn

from tracktune.config import ExperimentConfig, to_dict
from tracktune.errors import CheckpointError
from tracktune.runs import (FROZEN_FILE, MANIFEST_FILE, STATE_FILE, TRAINABLE_FILE, file_sha256,
                            latest_verified_checkpoint, read_state, resolve_checkpoint, save_checkpoint,
                            verify_checkpoint)


def _save(run, step):
    torch.manual_seed(step)
    model = nn.Linear(4, 3)
    manifest = {"config": to_dict(ExperimentConfig())}
    return save_checkpoint(run, step, model, {"step": step}, manifest, keep_last=0)


def test_checksums_are_recorded_and_checked(tmp_path):
    run = tmp_path / "run"
    first, second = _save(run, 1), _save(run, 2)
    manifest = json.loads((second / MANIFEST_FILE).read_text())
    assert manifest["sha256"] == {name: file_sha256(second / name) for name in (TRAINABLE_FILE, STATE_FILE)}
    assert verify_checkpoint(second)["step"] == 2
    assert oct((second / TRAINABLE_FILE).stat().st_mode & 0o777) == oct(0o644)  # like every other output
    # one flipped byte, same size: only the checksum tells
    data = bytearray((second / STATE_FILE).read_bytes())
    data[len(data) // 2] ^= 1
    (second / STATE_FILE).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"state\.pt: checksum differs from the one recorded at save time"):
        verify_checkpoint(second)
    notes = []
    assert resolve_checkpoint(run, notes=notes.append) == first
    assert len(notes) == 2 and "skipped step_0000002" in notes[0] and "using step_0000001" in notes[1]
    latest, skipped = latest_verified_checkpoint(run)
    assert latest == first and len(skipped) == 1


def test_each_way_a_checkpoint_breaks_is_named(tmp_path):
    run = tmp_path / "run"
    checkpoint = _save(run, 1)
    (checkpoint / STATE_FILE).write_bytes((checkpoint / STATE_FILE).read_bytes()[:40])
    with pytest.raises(CheckpointError, match=r"state\.pt: unreadable \(cut or corrupt"):
        read_state(checkpoint)
    checkpoint = _save(run, 2)
    (checkpoint / TRAINABLE_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"trainable\.safetensors: missing"):
        verify_checkpoint(checkpoint)
    checkpoint = _save(run, 3)
    (checkpoint / MANIFEST_FILE).write_text('{"step": 3, "fil')
    with pytest.raises(CheckpointError, match=r"manifest\.json: unreadable manifest"):
        verify_checkpoint(checkpoint)
    # a checkpoint saved before checksums were recorded: its safetensors header must parse
    checkpoint = _save(run, 4)
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    del manifest["sha256"]
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    verify_checkpoint(checkpoint)
    (checkpoint / TRAINABLE_FILE).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage garbage!")
    with pytest.raises(CheckpointError, match=r"trainable\.safetensors: not a readable safetensors file"):
        verify_checkpoint(checkpoint)
    # a recorded config that does not validate is the manifest's fault, named
    checkpoint = _save(run, 5)
    manifest = json.loads((checkpoint / MANIFEST_FILE).read_text())
    manifest["config"]["train"]["keep_last"] = -1
    manifest.pop("sha256")
    (checkpoint / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"manifest\.json: the recorded config is invalid: train\.keep_last: -1"):
        verify_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match=r"no checkpoint that verifies \(skipped step_0000005: .*skipped step_0000001"):
        resolve_checkpoint(run)
    assert FROZEN_FILE  # (frozen weights are verified the same way when listed)
