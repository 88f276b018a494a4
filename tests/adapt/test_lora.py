"""LoRA: exact merging, what trains, init modes, the LoRAT-B parameter count by hand."""

import dataclasses

import pytest
import torch

from tracktune.adapt import METHODS, apply_methods
from tracktune.adapt.lora import LoraMethod, is_lora_layer, merge_lora
from tracktune.config import ExperimentConfig, LoraConfig, ModelConfig
from tracktune.errors import ConfigError
from tracktune.model.tracker_model import TrackerModel


def config(fusion="early_add", design="lorat", rank=8, alpha=16.0, init="lorat", size="tiny", **lora) -> ExperimentConfig:
    return ExperimentConfig(
        methods=["lora"],
        model=ModelConfig(design=design, size=size, patch_size=16, template_size=32, search_size=64, fusion=fusion,
                          depth=2, embed_dim=32, num_heads=2),
        lora=LoraConfig(rank=rank, alpha=alpha, init=init, **lora))


def build(cfg, seed=0) -> TrackerModel:
    torch.manual_seed(seed)
    return TrackerModel.from_config(cfg.model).eval()


def inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)
    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g)
    mask = torch.rand(2, 2, 2, generator=g) > 0.5
    return dict(template_rgb=z, search_rgb=x, template_aux=255 - z, search_aux=255 - x, template_mask=mask)


def outputs(model):
    with torch.no_grad():
        out = model(**inputs(), return_blocks=[0])
    return torch.cat([out["score_logits"].flatten(), out["boxes"].flatten(), out["blocks"][0].flatten()])


def test_registered():
    assert METHODS["lora"] is LoraMethod


@pytest.mark.parametrize("design,fusion", [("lorat", "early_add"), ("lorat", "dual_stream"), ("ostrack", "token_concat"),
                                           ("ostrack", "dual_branch")])
def test_merged_equals_unmerged_after_training_steps(design, fusion):
    cfg = config(fusion, design)
    method = LoraMethod(cfg)
    model = apply_methods(build(cfg), [method])
    base_output = outputs(build(cfg))
    assert not torch.allclose(outputs(model), base_output)  # LoRAT init: the branch is non-zero at step 0
    model.train()
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        out = model(**inputs())
        (out["score_logits"].square().mean() + out["boxes"].mean()).backward()
        optimiser.step()
        optimiser.zero_grad()
    model.eval()
    unmerged = outputs(model)
    # W + (alpha / r) B A by hand, from the trained factors, for every LoRA layer
    expected = {name: (m.base_layer.weight + (cfg.lora.alpha / cfg.lora.rank)
                       * m.lora_B["default"].weight @ m.lora_A["default"].weight).detach().clone()
                for name, m in model.named_modules() if is_lora_layer(m)}
    merged = method.export(model)
    assert not any(is_lora_layer(m) for m in merged.modules())
    for name, weight in expected.items():
        torch.testing.assert_close(merged.get_submodule(name).weight, weight, rtol=0, atol=1e-6)
    assert (outputs(merged) - unmerged).abs().max() < 1e-4
    # the merged model has exactly the base model's entries
    assert sorted(merged.state_dict()) == sorted(build(cfg).state_dict())


def test_what_trains():
    cfg = config("early_add")
    model = apply_methods(build(cfg), [LoraMethod(cfg)])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    groups = model.parameter_groups()
    assert trainable == set(groups["lora"]) | set(groups["head"]) | set(groups["type_embed"]) | set(groups["aux_patch_embed"])
    lora_layers = sorted(n for n, m in model.named_modules() if is_lora_layer(m))
    assert lora_layers == sorted(f"blocks.{i}.{name}" for i in range(2)
                                 for name in ("attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"))
    assert not model.pos_embed.requires_grad and not model.patch_embed.proj.weight.requires_grad
    assert model.blocks[0].attn.q.base_layer.weight.requires_grad is False
    # only some targets
    cfg_qv = dataclasses.replace(cfg, lora=dataclasses.replace(cfg.lora, targets=["q", "v"]))
    model = apply_methods(build(cfg_qv), [LoraMethod(cfg_qv)])
    assert sorted(n for n, m in model.named_modules() if is_lora_layer(m)) == \
        ["blocks.0.attn.q", "blocks.0.attn.v", "blocks.1.attn.q", "blocks.1.attn.v"]
    with pytest.raises(ConfigError, match="unknown"):
        apply_methods(build(cfg), [LoraMethod(dataclasses.replace(cfg, lora=dataclasses.replace(cfg.lora, targets=["qkv"])))])


@pytest.mark.parametrize("init", ["zero_b", "pissa"])
def test_zero_b_and_pissa_start_as_the_base_model(init):
    cfg = config("rgb", init=init)
    base = outputs(build(cfg))
    model = apply_methods(build(cfg), [LoraMethod(cfg)])
    assert (outputs(model) - base).abs().max() < 1e-4
    layer = model.blocks[0].mlp.fc1
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    if init == "zero_b":
        assert torch.count_nonzero(b) == 0 and torch.count_nonzero(a) > 0
    else:  # PiSSA: the residual base weight plus the principal part give back W
        assert torch.count_nonzero(b) > 0
        original = build(cfg).blocks[0].mlp.fc1.weight
        torch.testing.assert_close(layer.base_layer.weight + (16.0 / 8) * b @ a, original, rtol=1e-4, atol=1e-5)
    assert (outputs(merge_lora(model)) - base).abs().max() < 1e-4


def test_lorat_init_is_truncated_normal_002_on_both_factors():
    cfg = config("rgb", rank=16)
    cfg.model.embed_dim, cfg.model.num_heads = 256, 4
    model = apply_methods(build(cfg), [LoraMethod(cfg)])
    a = torch.cat([m.lora_A["default"].weight.flatten() for m in model.modules() if is_lora_layer(m)])
    b = torch.cat([m.lora_B["default"].weight.flatten() for m in model.modules() if is_lora_layer(m)])
    for values in (a, b):
        assert abs(values.std().item() - 0.02) < 0.001 and abs(values.mean().item()) < 0.001


def test_giant_swiglu_targets_w12_and_w3():
    cfg = config("rgb", size="giant")
    model = apply_methods(build(cfg), [LoraMethod(cfg)])
    assert is_lora_layer(model.blocks[1].mlp.w12) and is_lora_layer(model.blocks[1].mlp.w3)
    unmerged = outputs(model)  # before export: merging works in place
    assert (outputs(LoraMethod(cfg).export(model)) - unmerged).abs().max() < 1e-4


def test_lorat_b224_counts_by_hand():
    cfg = ExperimentConfig(model=ModelConfig(size="base", patch_size=14, template_size=112, search_size=224,
                                             fusion="early_add"))
    with torch.device("meta"):
        model = TrackerModel.from_config(cfg.model)
    model = apply_methods(model, [LoraMethod(cfg)])
    groups = model.parameter_groups()
    params = dict(model.named_parameters())
    count = {g: sum(params[n].numel() for n in names if params[n].requires_grad) for g, names in groups.items()}
    c, r, depth = 768, 64, 12
    lora = depth * (4 * r * (c + c) + r * (c + 4 * c) + r * (4 * c + c))
    head = 2 * 2 * (c * c + c) + (c + 1) + (4 * c + 4)
    assert count["lora"] == lora == 10_616_832  # "about 11M" (LoRAT-B), 10.6M
    assert count["head"] == head == 2_366_213
    assert count["type_embed"] == 3 * c and count["aux_patch_embed"] == c * 3 * 14 * 14 + c
    assert count["blocks"] == count["patch_embed"] == count["position"] == count["norm"] == 0
