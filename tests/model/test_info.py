"""`tracktune model-info`: parameter counts and GFLOPs against hand counts from the dimensions."""

import json
from pathlib import Path

import pytest

from tracktune.cli import main as cli_main

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "tracktune" / "configs"


def vit_block_params(c: int, hidden: int, layer_scale: bool = True) -> int:
    norms = 2 * 2 * c
    attention = 4 * (c * c + c)  # q, k, v, proj
    mlp = (c * hidden + hidden) + (hidden * c + c)
    return norms + attention + mlp + (2 * c if layer_scale else 0)


def test_lorat_b224_rgbt_counts_and_flops_by_hand(capsys):
    assert cli_main(["model-info", str(CONFIGS / "lorat_b224_rgbt.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    c, p, depth, r = 768, 14, 12, 64
    nz, nx = 8 * 8, 16 * 16
    patch_embed = c * 3 * p * p + c
    head = 2 * 2 * (c * c + c) + (c + 1) + (4 * c + 4)
    lora = depth * (4 * r * (c + c) + r * (c + 4 * c) + r * (4 * c + c))
    total = (2 * patch_embed + nx * c + 3 * c + depth * vit_block_params(c, 4 * c) + 2 * c + head + lora)
    assert info["params_total"] == total
    trainable = lora + head + 3 * c + patch_embed  # LoRA, head, token types, thermal patch embedding
    assert info["params_trainable"] == trainable
    assert info["trainable_by_group"]["lora"] == lora and round(lora / 1e6, 1) == 10.6
    assert info["trainable_by_group"]["head"] == head and round(head / 1e6, 1) == 2.4
    # FLOPs (multiply-add = 2) of the merged model: two patch embeddings per crop, 12 blocks over
    # 320 tokens (projections + the two attention matmuls), the head's MLPs over 256 tokens
    n = nz + nx
    flops = 2 * 2 * n * c * 3 * p * p
    flops += depth * (2 * n * (4 * c * c + 2 * c * 4 * c) + 2 * 2 * n * n * c)
    flops += 2 * nx * (2 * (2 * c * c) + c * 1 + c * 4)
    assert info["gflops_per_step"] == pytest.approx(flops / 1e9, rel=1e-9)


def test_text_output_and_other_configs(capsys):
    assert cli_main(["model-info", str(CONFIGS / "ostrack_b256_rgbt.yaml"), "--set", "model.fusion=rgb"]) == 0
    text = capsys.readouterr().out
    assert "ostrack design" in text and "fusion rgb" in text and "GFLOPs per tracking step" in text
    for name in ("lorat_b224_rgbt_concat", "lorat_l224_rgbt", "tiny_rgbt"):
        assert cli_main(["model-info", str(CONFIGS / f"{name}.yaml"), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["params_trainable"] <= info["params_total"] and info["gflops_per_step"] > 0
        if name == "tiny_rgbt":  # methods [full]: everything trains
            assert info["params_trainable"] == info["params_total"]
