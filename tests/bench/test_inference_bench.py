"""`tracktune bench inference`: runs end to end and its numbers are consistent (speed is reported
by the command, never asserted)."""

import json
from pathlib import Path

import pytest

from tracktune.cli import main as cli_main

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "tracktune" / "configs"

KEYS = {"fps_fp32", "fps_bf16", "merged_over_base", "model_gflops_per_step", "gemm_bf16_gflops", "model_bf16_gflops"}


def test_bench_inference_json(capsys):
    code = cli_main(["bench", "inference", str(CONFIGS / "tiny_rgbt.yaml"), "--json", "--rounds", "2", "--warmup", "1",
                     "--set", "methods=[lora]", "--set", "model.depth=1", "--set", "lora.rank=4"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert KEYS <= set(result)
    assert all(result[k] > 0 for k in KEYS)
    assert result["model_bf16_gflops"] == pytest.approx(result["model_gflops_per_step"] * result["fps_bf16"])
    assert set(result["latency_ms"]) == {"merged_fp32", "base_fp32", "merged_bf16", "base_bf16", "merged_bf16_unpacked",
                                     "merged_bf16_autocast"}
