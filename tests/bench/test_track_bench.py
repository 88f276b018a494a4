"""`tracktune bench track`: runs end to end, reports every precision asked for, and its figures
are consistent with each other (speed is reported by the command, never asserted)."""

import json
from pathlib import Path

import pytest

from tracktune.cli import main as cli_main
from tracktune.model.inference import int8_available
from tracktune.precision import cpu_has_fast_bf16

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "tracktune" / "configs"
MICRO = ["--set", "methods=[lora]", "--set", "model.depth=1", "--set", "lora.rank=4", "--set", "model.embed_dim=128",
         "--set", "model.num_heads=2"]


def test_bench_track_json(capsys):
    precisions = ["fp32", "bf16"] + (["int8"] if int8_available() else [])
    args = ["bench", "track", str(CONFIGS / "tiny_rgbt.yaml"), "--json", "--frames", "3", "--rounds", "1",
            "--batch", "2", "--size", "160x120", *MICRO]
    for p in precisions:
        args += ["--precision", p]
    assert cli_main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["batch"] == 2 and result["frames"] == 3 and result["decode_ms_per_frame"] > 0
    assert list(result["precisions"]) == precisions
    for figures in result["precisions"].values():
        assert figures["fps_end_to_end"] > 0 and figures["fps_model"] > 0 and figures["gemm_gops"] > 0
        assert figures["model_gops"] == pytest.approx(result["model_gflops_per_step"] * figures["fps_model"])
        assert figures["ms_per_frame_end_to_end"] == pytest.approx(1000 / figures["fps_end_to_end"])
    # the MLP's GEMM of a batch-2 step: 64 / 128 crops of patch 16 hold 16 + 64 tokens per sample
    assert result["gemm_shape"] == [2 * (16 + 64), 128, 512]
    assert "bf16_over_fp32" in result["speedup_end_to_end"]
    assert result["native_bf16"] == cpu_has_fast_bf16()


def test_bench_track_prints_a_table(capsys):
    assert cli_main(["bench", "track", str(CONFIGS / "tiny_rgbt.yaml"), "--frames", "2", "--rounds", "1",
                     "--size", "160x120", "--precision", "bf16", *MICRO]) == 0
    out = capsys.readouterr().out
    assert "end-to-end" in out and "model only" in out and "bf16" in out and "frame decode alone" in out
    assert ("bf16 is emulated" in out) == (not cpu_has_fast_bf16())  # said where bf16 is slow


def test_default_precisions_leave_out_what_this_cpu_runs_slowly(monkeypatch):
    import tracktune.precision as precision
    from tracktune.bench.track import available_precisions, default_precisions

    monkeypatch.setattr(precision, "slow_cpu_precision", lambda p: "no kernels" if p == "int8" else None)
    assert available_precisions(None) == [p for p in default_precisions() if p != "int8"]
    assert available_precisions(["int8", "fp32", "int8"]) == ["int8", "fp32"]  # asked for by name: kept
    monkeypatch.setattr(precision, "slow_cpu_precision", lambda p: None)
    assert available_precisions(None) == default_precisions()
