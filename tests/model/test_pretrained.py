"""Checkpoint import: state dicts with the released files' exact key names and shapes (random
values; ViT-B widths with fewer blocks), every key used, every entry filled, positions resized
as an independent bicubic implementation says, LoRAT merged by hand, errors that name the key."""

import math
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tracktune.config import ExperimentConfig, ModelConfig
from tracktune.errors import CheckpointError, ConfigError
from tracktune.model import build_model
from tracktune.model.pretrained import detect_format, load_pretrained, save_model_weights
from tracktune.model.tracker_model import TrackerModel

C = 768  # ViT-B width: every tensor below has its released shape; only the block count is cut


def _block(prefix, g, dim=C, hidden=4 * C, layer_scale=True, swiglu=False):
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    sd = {f"{prefix}norm1.weight": r(dim), f"{prefix}norm1.bias": r(dim),
          f"{prefix}attn.qkv.weight": r(3 * dim, dim), f"{prefix}attn.qkv.bias": r(3 * dim),
          f"{prefix}attn.proj.weight": r(dim, dim), f"{prefix}attn.proj.bias": r(dim),
          f"{prefix}norm2.weight": r(dim), f"{prefix}norm2.bias": r(dim)}
    if swiglu:
        sd.update({f"{prefix}mlp.w12.weight": r(2 * hidden, dim), f"{prefix}mlp.w12.bias": r(2 * hidden),
                   f"{prefix}mlp.w3.weight": r(dim, hidden), f"{prefix}mlp.w3.bias": r(dim)})
    else:
        sd.update({f"{prefix}mlp.fc1.weight": r(hidden, dim), f"{prefix}mlp.fc1.bias": r(hidden),
                   f"{prefix}mlp.fc2.weight": r(dim, hidden), f"{prefix}mlp.fc2.bias": r(dim)})
    if layer_scale:
        sd.update({f"{prefix}ls1.gamma": r(dim), f"{prefix}ls2.gamma": r(dim)})
    return sd


def dinov2_state(depth=2, dim=C, patch=14, grid=37, registers=0, swiglu=False, hidden=None, chunked=False, seed=0):
    """dinov2_vitb14_pretrain.pth layout: pos_embed (1, 1 + 37*37, C) for 518 px."""
    g = torch.Generator().manual_seed(seed)
    sd = {"cls_token": torch.randn(1, 1, dim, generator=g), "pos_embed": torch.randn(1, 1 + grid * grid, dim, generator=g),
          "mask_token": torch.randn(1, dim, generator=g),
          "patch_embed.proj.weight": torch.randn(dim, 3, patch, patch, generator=g),
          "patch_embed.proj.bias": torch.randn(dim, generator=g),
          "norm.weight": torch.randn(dim, generator=g), "norm.bias": torch.randn(dim, generator=g)}
    if registers:
        sd["register_tokens"] = torch.randn(1, registers, dim, generator=g)
    for i in range(depth):
        prefix = f"blocks.0.{i}." if chunked else f"blocks.{i}."
        sd.update(_block(prefix, g, dim, hidden or 4 * dim, True, swiglu))
    return sd


def timm_state(depth=2, patch=16, grid=14, prefix="", classifier=True, seed=1):
    """timm vit_base_patch16_224 / MAE encoder layout: pos_embed (1, 1 + 14*14, C)."""
    g = torch.Generator().manual_seed(seed)
    sd = {f"{prefix}cls_token": torch.randn(1, 1, C, generator=g),
          f"{prefix}pos_embed": torch.randn(1, 1 + grid * grid, C, generator=g),
          f"{prefix}patch_embed.proj.weight": torch.randn(C, 3, patch, patch, generator=g),
          f"{prefix}patch_embed.proj.bias": torch.randn(C, generator=g),
          f"{prefix}norm.weight": torch.randn(C, generator=g), f"{prefix}norm.bias": torch.randn(C, generator=g)}
    if classifier:
        sd.update({"head.weight": torch.randn(1000, C, generator=g), "head.bias": torch.randn(1000, generator=g)})
    for i in range(depth):
        sd.update(_block(f"{prefix}blocks.{i}.", g, layer_scale=False))
    return sd


def ostrack_state(depth=2, seed=2):
    """OSTrack_ep0300.pth.tar['net']: backbone.* (with pos_embed_z / pos_embed_x) and box_head.*."""
    g = torch.Generator().manual_seed(seed)
    sd = timm_state(depth, prefix="backbone.", classifier=False, seed=seed)
    sd["backbone.pos_embed_z"] = torch.randn(1, 64, C, generator=g)
    sd["backbone.pos_embed_x"] = torch.randn(1, 256, C, generator=g)
    widths = [C, 256, 128, 64, 32]
    for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
        for k in range(4):
            p = f"box_head.conv{k + 1}_{branch}."
            sd.update({p + "0.weight": torch.randn(widths[k + 1], widths[k], 3, 3, generator=g),
                       p + "0.bias": torch.randn(widths[k + 1], generator=g),
                       p + "1.weight": torch.randn(widths[k + 1], generator=g),
                       p + "1.bias": torch.randn(widths[k + 1], generator=g),
                       p + "1.running_mean": torch.randn(widths[k + 1], generator=g),
                       p + "1.running_var": torch.rand(widths[k + 1], generator=g) + 0.5,
                       p + "1.num_batches_tracked": torch.tensor(1234)})
        sd[f"box_head.conv5_{branch}.weight"] = torch.randn(out, 32, 1, 1, generator=g)
        sd[f"box_head.conv5_{branch}.bias"] = torch.randn(out, generator=g)
    return sd


def lorat_state(depth=2, rank=64, alpha=64.0, seed=3):
    """LoRAT trainable-only state dict (LoRAT_DINOv2.state_dict(): requires_grad entries only)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.02  # noqa: E731
    sd = {"token_type_embed": r(3, C), "lora_alpha": torch.tensor(alpha), "use_rslora": torch.tensor(False)}
    for i in range(depth):
        for name in ("attn.qkv.q", "attn.qkv.k", "attn.qkv.v", "attn.proj"):
            sd[f"blocks.{i}.{name}.lora.A"], sd[f"blocks.{i}.{name}.lora.B"] = r(rank, C), r(C, rank)
        sd[f"blocks.{i}.mlp.fc1.lora.A"], sd[f"blocks.{i}.mlp.fc1.lora.B"] = r(rank, C), r(4 * C, rank)
        sd[f"blocks.{i}.mlp.fc2.lora.A"], sd[f"blocks.{i}.mlp.fc2.lora.B"] = r(rank, 4 * C), r(C, rank)
    for mlp, out in (("cls_mlp", 1), ("reg_mlp", 4)):
        for k, (o, i_) in enumerate([(C, C), (C, C), (out, C)]):
            sd[f"head.{mlp}.layers.{k}.weight"], sd[f"head.{mlp}.layers.{k}.bias"] = r(o, i_), r(o)
    return sd


def lorat_b(fusion="early_add", depth=2, design="lorat", patch=14, template=112, search=224, size="base", **extra):
    config = ModelConfig(design=design, size=size, patch_size=patch, template_size=template, search_size=search,
                         fusion=fusion, depth=depth, **extra)
    return TrackerModel.from_config(config)


def bicubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """Keys cubic convolution, half-pixel centres, border clamp: PyTorch's bicubic written out."""
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    matrix = np.zeros((n_out, n_in))
    for o in range(n_out):
        source = (o + 0.5) * n_in / n_out - 0.5
        base = math.floor(source)
        t = source - base
        for offset, weight in zip((-1, 0, 1, 2), (far(t + 1), near(t), near(1 - t), far(2 - t))):
            matrix[o, min(max(base + offset, 0), n_in - 1)] += weight
    return matrix


def reference_resize(position: torch.Tensor, old: int, new: int) -> np.ndarray:
    grid = position[0].double().numpy().reshape(old, old, -1)
    m = bicubic_matrix(old, new)
    return np.einsum("ij,jkc,lk->ilc", m, grid, m).reshape(new * new, -1)


def test_dinov2_into_the_lorat_design(tmp_path):
    sd = dinov2_state()
    path = tmp_path / "dinov2_vitb14_pretrain.safetensors"
    save_file(sd, str(path))
    model = lorat_b()
    report = load_pretrained(model, path)
    assert report.format == "dinov2" and report.unused == [] and report.unfilled == []
    assert set(report.discarded) == {"cls_token", "mask_token"}
    state = model.state_dict()
    new = {k for k, why in report.initialised.items() if why.startswith("new")}
    assert new == {"token_type_embed"} | {k for k in state if k.startswith("head.")}
    copied = {k: why for k, why in report.initialised.items() if "copied" in why}
    assert set(copied) == {"fusion_module.aux_patch_embed.proj.weight", "fusion_module.aux_patch_embed.proj.bias"}
    assert set(report.filled) | set(report.initialised) == set(state)
    # every file tensor landed where it belongs
    for i in range(2):
        q, k, v = sd[f"blocks.{i}.attn.qkv.weight"].chunk(3)
        assert torch.equal(state[f"blocks.{i}.attn.k.weight"], k) and torch.equal(state[f"blocks.{i}.attn.v.weight"], v)
        assert torch.equal(state[f"blocks.{i}.attn.q.bias"], sd[f"blocks.{i}.attn.qkv.bias"][:C])
        for part in ("ls1.gamma", "ls2.gamma", "mlp.fc2.weight", "norm2.bias", "attn.proj.weight"):
            assert torch.equal(state[f"blocks.{i}.{part}"], sd[f"blocks.{i}.{part}"])
    assert torch.equal(state["fusion_module.aux_patch_embed.proj.weight"], sd["patch_embed.proj.weight"])
    assert torch.equal(state["norm.weight"], sd["norm.weight"])
    # 37x37 pretraining grid (class entry dropped) -> the 16x16 search grid
    expected = reference_resize(sd["pos_embed"][:, 1:], 37, 16)
    np.testing.assert_allclose(state["pos_embed"][0].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_dinov2_registers_chunked_blocks_and_giant_swiglu(tmp_path):
    sd = dinov2_state(dim=48, depth=2, registers=4, swiglu=True, hidden=128, chunked=True, grid=5)
    path = tmp_path / "dinov2_vitg14_reg4.safetensors"
    save_file(sd, str(path))
    model = lorat_b(size="giant", embed_dim=48, num_heads=2, fusion="rgb")  # SwiGLU hidden 128 for width 48
    report = load_pretrained(model, path, "dinov2")
    assert "register_tokens" in report.discarded and not report.unused and not report.unfilled
    assert torch.equal(model.blocks[1].mlp.w12.weight, sd["blocks.0.1.mlp.w12.weight"])
    assert torch.equal(model.blocks[0].mlp.w3.bias, sd["blocks.0.0.mlp.w3.bias"])


def test_timm_and_mae_into_both_designs(tmp_path):
    sd = timm_state()
    path = tmp_path / "vit_base_patch16_224.safetensors"
    save_file(sd, str(path))
    assert detect_format(sd) == "timm"
    ostrack = lorat_b(design="ostrack", patch=16, template=128, search=256, fusion="rgb")
    report = load_pretrained(ostrack, path)
    assert {"cls_token", "head.weight", "head.bias"} <= set(report.discarded) and not report.unfilled
    state = ostrack.state_dict()
    np.testing.assert_allclose(state["pos_embed_z"][0].numpy(), reference_resize(sd["pos_embed"][:, 1:], 14, 8),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(state["pos_embed_x"][0].numpy(), reference_resize(sd["pos_embed"][:, 1:], 14, 16),
                               rtol=1e-4, atol=1e-4)
    # a file without layer-scale entering the LoRAT design: identity layer-scale, reported
    lorat = lorat_b(patch=16, template=128, search=256, fusion="rgb")
    report = load_pretrained(lorat, path, "timm")
    gammas = [k for k, why in report.initialised.items() if why.startswith("identity")]
    assert len(gammas) == 4 and torch.equal(lorat.blocks[1].ls2.gamma, torch.ones(C))
    # MAE's full pretraining checkpoint: {'model': encoder + mask_token + decoder_*}
    mae = timm_state(classifier=False)
    mae.update({"mask_token": torch.zeros(1, 1, C), "decoder_embed.weight": torch.zeros(512, C),
                "decoder_pos_embed": torch.zeros(1, 197, 512), "decoder_blocks.0.norm1.weight": torch.zeros(512),
                "decoder_pred.weight": torch.zeros(768, 512)})
    torch.save({"model": mae}, tmp_path / "mae_pretrain_vit_base_full.pth")
    report = load_pretrained(ostrack, tmp_path / "mae_pretrain_vit_base_full.pth")
    assert report.format == "mae" and "decoder_pred.weight" in report.discarded and not report.unused


def test_ostrack_checkpoint(tmp_path):
    sd = ostrack_state()
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    torch.save({"net": sd, "epoch": 300, "net_type": "OSTrack"}, path)
    model = lorat_b(design="ostrack", patch=16, template=128, search=256, fusion="early_add")
    report = load_pretrained(model, path)
    assert report.format == "ostrack" and not report.unused and not report.unfilled
    assert set(report.initialised) == {"fusion_module.aux_patch_embed.proj.weight", "fusion_module.aux_patch_embed.proj.bias"}
    state = model.state_dict()
    assert torch.equal(state["pos_embed_x"], sd["backbone.pos_embed_x"])
    assert torch.equal(state["head.conv3_size.1.running_var"], sd["box_head.conv3_size.1.running_var"])
    assert torch.equal(state["blocks.1.attn.v.weight"], sd["backbone.blocks.1.attn.qkv.weight"][2 * C:])
    assert "backbone.pos_embed" in report.discarded
    with pytest.raises(CheckpointError, match="needs model.design: ostrack"):
        load_pretrained(lorat_b(patch=16, template=128, search=256), path)


def test_lorat_checkpoint_is_merged_onto_dinov2(tmp_path):
    base_path, lorat_path = tmp_path / "dinov2.safetensors", tmp_path / "LoRAT-B-224.safetensors"
    base, lora = dinov2_state(), lorat_state(alpha=32.0)
    save_file(base, str(base_path))
    save_file(lora, str(lorat_path))
    model = lorat_b(fusion="rgb")
    report = load_pretrained(model, lorat_path, "auto", base_path=base_path)
    assert report.format == "lorat" and not report.unused and not report.unfilled and not report.initialised
    state = model.state_dict()
    scaling = 32.0 / 64
    w_q = base["blocks.1.attn.qkv.weight"][:C]
    expected = w_q + scaling * lora["blocks.1.attn.qkv.q.lora.B"] @ lora["blocks.1.attn.qkv.q.lora.A"]
    torch.testing.assert_close(state["blocks.1.attn.q.weight"], expected)
    expected = base["blocks.0.mlp.fc1.weight"] + scaling * lora["blocks.0.mlp.fc1.lora.B"] @ lora["blocks.0.mlp.fc1.lora.A"]
    torch.testing.assert_close(state["blocks.0.mlp.fc1.weight"], expected)
    assert torch.equal(state["head.reg_mlp.layers.2.weight"], lora["head.reg_mlp.layers.2.weight"])
    assert torch.equal(state["token_type_embed"], lora["token_type_embed"])
    assert torch.equal(state["blocks.0.attn.q.bias"], base["blocks.0.attn.qkv.bias"][:C])  # biases untouched
    with pytest.raises(ConfigError, match="pretrained_base"):
        load_pretrained(lorat_b(fusion="rgb"), lorat_path)


def test_rank16_lorat_file_without_alpha_merges_with_scaling_one(tmp_path):
    """LoRAT's saver writes no `lora_alpha` (alpha 1, no rsLoRA) and its loader then merges
    W + B @ A: a rank-16 file must not be scaled by lora.alpha / 16 (4x too strong at alpha 64)."""
    base_path, lorat_path = tmp_path / "dinov2.safetensors", tmp_path / "LoRAT-r16.safetensors"
    base, lora = dinov2_state(), lorat_state(rank=16, seed=5)
    del lora["lora_alpha"], lora["use_rslora"]
    save_file(base, str(base_path))
    save_file(lora, str(lorat_path))
    model = lorat_b(fusion="rgb")
    report = load_pretrained(model, lorat_path, "auto", base_path=base_path, default_alpha=64.0)
    assert not report.unused and not report.unfilled
    assert any("scaling 1" in note and "64.0 is not used" in note for note in report.notes), report.notes
    state = model.state_dict()
    # the independent merge, in float64: W + B @ A, nothing else
    for i in range(2):
        for ours, (fused, rows), lora_key in (("attn.q", ("attn.qkv.weight", slice(0, C)), "attn.qkv.q"),
                                              ("attn.k", ("attn.qkv.weight", slice(C, 2 * C)), "attn.qkv.k"),
                                              ("attn.v", ("attn.qkv.weight", slice(2 * C, 3 * C)), "attn.qkv.v"),
                                              ("attn.proj", ("attn.proj.weight", slice(None)), "attn.proj"),
                                              ("mlp.fc1", ("mlp.fc1.weight", slice(None)), "mlp.fc1"),
                                              ("mlp.fc2", ("mlp.fc2.weight", slice(None)), "mlp.fc2")):
            a = lora[f"blocks.{i}.{lora_key}.lora.A"].double().numpy()
            b = lora[f"blocks.{i}.{lora_key}.lora.B"].double().numpy()
            w = base[f"blocks.{i}.{fused}"][rows].double().numpy()
            np.testing.assert_allclose(state[f"blocks.{i}.{ours}.weight"].double().numpy(), w + b @ a,
                                       rtol=0, atol=2e-5)
    # the stored-alpha path still divides by the rank
    lora_scaled = lorat_state(rank=16, alpha=64.0, seed=5)
    save_file(lora_scaled, str(lorat_path))
    model = lorat_b(fusion="rgb")
    report = load_pretrained(model, lorat_path, "auto", base_path=base_path)
    expected = base["blocks.0.attn.proj.weight"] + 4.0 * lora_scaled["blocks.0.attn.proj.lora.B"] @ lora_scaled["blocks.0.attn.proj.lora.A"]
    torch.testing.assert_close(model.state_dict()["blocks.0.attn.proj.weight"], expected)
    assert any("lora_alpha = 64.0" in note for note in report.notes)


def test_tracktune_rgb_tracker_into_an_rgbx_model(tmp_path):
    small = dict(size="tiny", patch=16, template=32, search=64, depth=2, embed_dim=32, num_heads=2)
    rgb = lorat_b(fusion="rgb", **small)
    path = save_model_weights(rgb, tmp_path / "rgb.safetensors")
    config = ExperimentConfig(model=ModelConfig(size="tiny", patch_size=16, template_size=32, search_size=64, depth=2,
                                                embed_dim=32, num_heads=2, fusion="token_concat",
                                                pretrained=str(path), pretrained_format="auto"))
    model = build_model(config)
    assert model.import_report.format == "tracktune"
    assert set(model.import_report.initialised) == {"fusion_module.modality_embed"}
    for key, value in rgb.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    early = lorat_b(fusion="early_add", **small)
    report = load_pretrained(early, path)
    assert report.initialised["fusion_module.aux_patch_embed.proj.weight"].endswith("patch_embed.proj.weight")
    assert torch.equal(early.fusion_module.aux_patch_embed.proj.weight, rgb.patch_embed.proj.weight)


def test_mismatches_are_errors_that_name_the_key(tmp_path):
    sd = dinov2_state()
    sd["blocks.0.attn.q_norm.weight"] = torch.zeros(64)
    del sd["blocks.1.norm2.bias"]
    path = tmp_path / "odd.safetensors"
    save_file(sd, str(path))
    model = lorat_b(fusion="rgb")
    before = model.state_dict()["blocks.0.norm1.weight"].clone()
    with pytest.raises(CheckpointError, match=r"UNUSED.*blocks\.0\.attn\.q_norm\.weight(.|\n)*UNFILLED.*blocks\.1\.norm2\.bias"):
        load_pretrained(model, path)
    assert torch.equal(model.state_dict()["blocks.0.norm1.weight"], before)  # nothing written
    report = load_pretrained(model, path, strict=False)
    assert report.unused == ["blocks.0.attn.q_norm.weight"] and report.unfilled == ["blocks.1.norm2.bias"]
    save_file(timm_state(), str(tmp_path / "p16.safetensors"))
    with pytest.raises(CheckpointError, match=r"patch_embed\.proj\.weight.*patch size"):
        load_pretrained(lorat_b(fusion="rgb"), tmp_path / "p16.safetensors")
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(model, tmp_path / "missing.pth")


class NotATensor:
    pass


def test_pickles_with_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"net": {"x": NotATensor()}}, handle)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_pretrained(lorat_b(fusion="rgb"), path)
