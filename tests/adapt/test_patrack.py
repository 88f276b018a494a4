"""PATrack: step-0 identity, gradient flow, the MDA's frequency branches, the MEA's attention,
the ViT-B trainable count by hand, checkpoint round trip and a tiny training run."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tracktune.adapt import METHODS
from tracktune.adapt.patrack import (
    TA_ATTRIBUTE,
    HighFrequency,
    ModalityDependentAdapter,
    ModalityEntangledAdapter,
    PATrackMethod,
    adapter_kind,
    low_frequency,
)
from tracktune.cli import main as cli_main
from tracktune.config import ExperimentConfig, from_dict, load_config
from tracktune.errors import ConfigError
from tracktune.model.fusion import TokenLayout
from tracktune.model.tracker_model import TrackerModel

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "src" / "tracktune" / "configs"


def small_config(design: str = "lorat", **patrack) -> ExperimentConfig:
    """A 4-block, 32-wide dual-stream model; LoRAT design on odd grids (3x3 / 5x5), OSTrack
    design (centre head with BatchNorm) on 2x2 / 4x4."""
    sizes = {"lorat": (48, 80), "ostrack": (32, 64)}[design]
    data = {
        "seed": 1,
        "methods": ["patrack"],
        "model": {"design": design, "size": "tiny", "embed_dim": 32, "depth": 4, "num_heads": 2, "patch_size": 16,
                  "template_size": sizes[0], "search_size": sizes[1], "fusion": "dual_stream"},
        "patrack": {"mea_layers": [1, 3], "mda_dim": 8, "mea_dim": 16, "ta_dim": 16, **patrack},
    }
    return from_dict(ExperimentConfig, data)


def inputs_for(model: TrackerModel, batch: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    z, x = model.template_size, model.search_size

    def image(size):
        return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)

    out = {"template_rgb": image(z), "search_rgb": image(x), "template_aux": image(z), "search_aux": image(x)}
    if model.design == "lorat":
        out["template_mask"] = torch.rand(batch, *model.template_grid, generator=g) > 0.5
    return out


def base_and_adapted(config: ExperimentConfig) -> tuple[TrackerModel, TrackerModel]:
    torch.manual_seed(0)
    base = TrackerModel.from_config(config.model)
    adapted = METHODS["patrack"](config).prepare(copy.deepcopy(base))
    return base, adapted


def adapter_parameters(model) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if adapter_kind(n) is not None}


# --------------------------------------------------------------------------------------
# The method on a model
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("design", ["lorat", "ostrack"])
def test_init_zero_equals_base_dual_stream_model_at_step_0(design):
    base, adapted = base_and_adapted(small_config(design))
    kinds = {adapter_kind(n) for n in adapter_parameters(adapted)}
    assert kinds == {"mda", "mea", "ta"}
    inputs = inputs_for(base)
    with torch.no_grad():
        expected = base.eval()(**inputs, return_blocks=(1, 3))
        got = adapted.eval()(**inputs, return_blocks=(1, 3))
        # train mode too (TA dropout on a zero branch; a frozen head's BatchNorm kept in eval mode)
        got_train = adapted.train()(**inputs)
    for key in ("score_logits", "boxes", "search_tokens"):
        assert torch.equal(expected[key], got[key]), key
        assert torch.equal(expected[key], got_train[key]), key
    for i in (1, 3):
        assert torch.equal(expected["blocks"][i], got["blocks"][i])
    # init: released starts elsewhere
    _, released = base_and_adapted(small_config(design, init="released"))
    with torch.no_grad():
        other = released.eval()(**inputs)
    assert not torch.allclose(other["score_logits"], expected["score_logits"])


def test_only_adapters_train_and_gradients_reach_every_adapter_parameter():
    _, model = base_and_adapted(small_config("ostrack"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(adapter_parameters(model)) and trainable
    model.train()
    inputs = inputs_for(model)

    def grads() -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        out = model(**inputs)
        (out["score_logits"].square().mean() + out["boxes"].sum()).backward()
        return {n: p.grad for n, p in model.named_parameters() if p.requires_grad}

    step0 = grads()
    output_projections = [n for n in step0 if n.endswith(("up.weight", "up.bias"))]
    assert output_projections and all(step0[n].abs().sum() > 0 for n in output_projections)
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
    # once the output projections move (any optimiser step), every adapter parameter gets a gradient
    with torch.no_grad():
        for name in output_projections:
            model.get_parameter(name).normal_(0, 0.02)
    after = grads()
    dead = [n for n, g in after.items() if g is None or not torch.isfinite(g).all() or g.abs().sum() == 0]
    assert not dead


def test_train_head_option_and_config_errors():
    config = small_config("ostrack", train_head=True)
    _, model = base_and_adapted(config)
    heads = [n for n, p in model.named_parameters() if model.parameter_group(n) == "head"]
    assert heads and all(model.get_parameter(n).requires_grad for n in heads)
    for bad, match in (({"mea_layers": [4]}, "mea_layers"), ({"mda_dim": 2}, "mda_dim"),
                       ({"ta_residual": False}, "ta_residual")):
        with pytest.raises(ConfigError, match=match):
            base_and_adapted(small_config("lorat", **bad))
    config = small_config("lorat")
    config.model.fusion = "early_add"
    with pytest.raises(ConfigError, match="dual_stream"):
        base_and_adapted(config)


def test_deepcopy_rebinds_the_task_adapter_hook():
    _, model = base_and_adapted(small_config("lorat", init="released"))
    twin = copy.deepcopy(model).eval()
    model.eval()
    inputs = inputs_for(model)
    with torch.no_grad():
        getattr(twin, TA_ATTRIBUTE).up.weight.zero_()
        getattr(twin, TA_ATTRIBUTE).up.bias.zero_()
        # the twin's head reads its own (now identity) TA, the original keeps its own
        assert not torch.equal(twin(**inputs)["score_logits"], model(**inputs)["score_logits"])
        assert torch.equal(twin(**inputs)["score_logits"], twin.head(twin(**inputs)["search_tokens"])["score_logits"])


# --------------------------------------------------------------------------------------
# MDA branches
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 6), (5, 7), (1, 1)])
def test_low_frequency_is_constant_on_each_2x2_block_and_equals_its_mean(shape):
    h, w = shape
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    out = low_frequency(x)
    assert out.shape == x.shape
    for i in range(0, h, 2):
        for j in range(0, w, 2):
            block = x[..., i:i + 2, j:j + 2]
            mean = block.mean(dim=(-2, -1), keepdim=True)
            assert torch.allclose(out[..., i:i + 2, j:j + 2], mean.expand_as(block), atol=1e-12)


def checkerboard(h: int, w: int, channels: int = 4) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((ys + xs) % 2 * 2.0 - 1.0).expand(1, channels, h, w).clone()


def spatial_spread(y: torch.Tensor) -> float:
    """Largest per-channel deviation from the channel's spatial mean, away from the 1-cell border
    (where the depthwise conv's zero padding shows)."""
    inner = y[..., 1:-1, 1:-1]
    return (inner - inner.mean(dim=(-2, -1), keepdim=True)).abs().max().item()


def test_high_frequency_branch_responds_to_a_checkerboard_not_to_a_constant():
    torch.manual_seed(0)
    high = HighFrequency(4)
    with torch.no_grad():
        board = high(checkerboard(8, 8))
        flat = high(torch.full((1, 4, 8, 8), 0.7))
    assert board.shape == (1, 8, 8, 8)
    assert spatial_spread(board) > 1e-2  # the checkerboard's pattern comes through
    assert spatial_spread(flat) < 1e-6  # a constant gives a constant map: no spatial response
    # the low-frequency branch, by contrast, removes the checkerboard entirely
    assert low_frequency(checkerboard(8, 8)).abs().max() < 1e-12


def test_mda_mix_follows_the_layout_of_methods_md():
    """High half: [1x1 -> depthwise 3x3 -> GELU | 3x3 max-pool -> 1x1 -> GELU]; low half: 2x2
    block means; concatenated, plus a depthwise 3x3 of itself (residual fusion)."""
    torch.manual_seed(0)
    mda = ModalityDependentAdapter(16, 8).double()
    x = torch.randn(2, 8, 6, 5, dtype=torch.float64)
    h = mda.high
    conv = F.gelu(F.conv2d(F.conv2d(x[:, :2], h.pointwise.weight), h.depthwise.weight, padding=1, groups=4))
    pool = F.gelu(F.conv2d(F.max_pool2d(x[:, 2:4], 3, 1, 1), h.pool_pointwise.weight, h.pool_pointwise.bias))
    low = torch.empty_like(x[:, 4:])
    for i in range(0, 6, 2):
        for j in range(0, 5, 2):
            low[..., i:i + 2, j:j + 2] = x[:, 4:, i:i + 2, j:j + 2].mean(dim=(-2, -1), keepdim=True)
    mixed = torch.cat([conv, pool, low], dim=1)
    expected = mixed + F.conv2d(mixed, mda.fuse.weight, padding=1, groups=12)
    assert torch.allclose(mda.mix(x), expected, atol=1e-12)


@pytest.mark.parametrize("grids", [((8, 8), (16, 16)), ((3, 3), (5, 5)), ((7, 7), (14, 14))])
def test_mda_any_grid_and_template_search_kept_apart(grids):
    layout = TokenLayout(*grids)
    mda = ModalityDependentAdapter(24, 8)
    tokens = torch.randn(2, layout.template_len + layout.search_len, 24)
    out = mda(tokens, layout)
    assert out.shape == tokens.shape
    # changing a search token leaves every template output unchanged
    moved = tokens.clone()
    moved[:, layout.template_len] += 5.0
    out2 = mda(moved, layout)
    assert torch.equal(out[:, : layout.template_len], out2[:, : layout.template_len])
    assert not torch.equal(out[:, layout.template_len:], out2[:, layout.template_len:])


# --------------------------------------------------------------------------------------
# MEA
# --------------------------------------------------------------------------------------


def reference_entangle(mea: ModalityEntangledAdapter, rgb: torch.Tensor, aux: torch.Tensor):
    """The MEA of one token group written out with explicit weights (x W^T) and an explicit softmax."""
    d = rgb.shape[-1]
    q = torch.cat([rgb, aux], -1) @ mea.shared.weight.T
    outs = []
    for own, other, wk, wv in ((rgb, aux, mea.key_rgb.weight, mea.value_rgb.weight),
                               (aux, rgb, mea.key_aux.weight, mea.value_aux.weight)):
        k, v = own @ wk.T, own @ wv.T
        logits = torch.einsum("bid,bjd->bij", q, k) / math.sqrt(d)
        weights = logits.exp() / logits.exp().sum(-1, keepdim=True)
        outs.append(torch.einsum("bij,bjd->bid", weights, v) + other)
    return outs


@pytest.mark.parametrize("tokens", [64, 256])
def test_mea_attention_rows_sum_to_one_and_match_a_reference(tokens):
    torch.manual_seed(0)
    mea = ModalityEntangledAdapter(48, 16).double()
    for linear in (mea.shared, mea.key_rgb, mea.value_rgb, mea.key_aux, mea.value_aux, mea.up, mea.down):
        torch.nn.init.normal_(linear.weight, std=0.3)
    rgb, aux = torch.randn(2, tokens, 16, dtype=torch.float64), torch.randn(2, tokens, 16, dtype=torch.float64)
    q = mea.shared(torch.cat([rgb, aux], -1))
    weights = mea.attention(q, mea.key_rgb(rgb))
    assert weights.shape == (2, tokens, tokens)
    assert torch.allclose(weights.sum(-1), torch.ones(2, tokens, dtype=torch.float64), atol=1e-12)
    assert (weights >= 0).all() and weights.std() > 0
    for got, expected in zip(mea.entangle(rgb, aux), reference_entangle(mea, rgb, aux)):
        assert torch.allclose(got, expected, atol=1e-10)


def test_mea_on_8x8_and_16x16_grids_keeps_template_and_search_apart():
    layout = TokenLayout((8, 8), (16, 16))  # 64 template tokens, 256 search tokens
    mea = ModalityEntangledAdapter(32, 16)
    torch.nn.init.normal_(mea.up.weight, std=0.1)
    rgb, aux = torch.randn(2, 320, 32), torch.randn(2, 320, 32)
    to_rgb, to_aux = mea(rgb, aux, layout)
    assert to_rgb.shape == to_aux.shape == (2, 320, 32)
    moved = aux.clone()
    moved[:, 100] += 3.0  # a search token of X
    to_rgb2, _ = mea(rgb, moved, layout)
    assert torch.equal(to_rgb[:, :64], to_rgb2[:, :64]) and not torch.equal(to_rgb[:, 64:], to_rgb2[:, 64:])


# --------------------------------------------------------------------------------------
# model-info: ViT-B trainable count by hand
# --------------------------------------------------------------------------------------


def test_model_info_patrack_b256_rgbt_matches_hand_count(capsys):
    c, d, h, depth = 768, 192, 8, 12  # width, MEA / TA width, MDA bottleneck, blocks
    mea_layers = 3
    mda_layers = depth - mea_layers
    high = h // 2  # 4 channels: 2 through conv, 2 through max-pool, each doubled
    mda = (c * h + h) + (2 * 4 + 4 * 9) + (2 * 4 + 4) + (2 * high + (h - high)) * 9 + ((2 * high + h - high) * c + c)
    mea = 2 * c + c * d + (2 * d) * d + 4 * d * d + d * c
    ta = (c * d + d) + (d * d + d) + (d * c + c)
    expected = {"adapters.mda": 2 * mda_layers * mda, "adapters.mea": 2 * mea_layers * mea, "adapters.ta": ta}
    assert cli_main(["model-info", str(CONFIGS / "patrack_b256_rgbt.yaml"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for kind, count in expected.items():
        assert info["trainable_by_group"][kind] == count == info["params_by_group"][kind], kind
    assert info["params_trainable"] == sum(expected.values()) == 3_732_120
    # everything else is the frozen base dual-stream tracker
    assert cli_main(["model-info", str(CONFIGS / "patrack_b256_rgbt.yaml"), "--set", "methods=[frozen]",
                     "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert info["params_total"] == base["params_total"] + sum(expected.values())
    assert cli_main(["model-info", str(CONFIGS / "patrack_b256_rgbt.yaml")]) == 0
    text = capsys.readouterr().out
    assert "adapters.mda" in text and "adapters.mea" in text and "adapters.ta" in text and "3.732M" in text
    for name in ("patrack_b256_rgbd", "patrack_b256_rgbe", "tiny_patrack"):
        assert cli_main(["model-info", str(CONFIGS / f"{name}.yaml"), "--json"]) == 0
        other = json.loads(capsys.readouterr().out)
        assert other["params_trainable"] == sum(v for k, v in other["trainable_by_group"].items()
                                                if k.startswith("adapters."))


# --------------------------------------------------------------------------------------
# Pretrained RGB weights, training, checkpoint round trip
# --------------------------------------------------------------------------------------


def test_tiny_training_from_rgb_weights_and_reload(tmp_path):
    from train_fixtures import memory_sources

    from tracktune.model import build_model
    from tracktune.model.pretrained import save_model_weights
    from tracktune.runs import load_tracker_model
    from tracktune.train.trainer import train

    overrides = ["model.embed_dim=32", "model.num_heads=2", "patrack.mea_dim=16", "patrack.ta_dim=16",
                 "data.samples_per_epoch=12", "data.num_workers=0", "train.epochs=1", "train.batch_size=4",
                 "train.checkpoint_every=100", "train.log_every=1", "train.device=cpu", "train.warmup_fraction=0"]
    # an RGB tracker of the same shape, saved as the demo's stage 1 does
    rgb_config = load_config(CONFIGS / "tiny_patrack.yaml", overrides + ["model.fusion=rgb", "methods=[full]"])
    torch.manual_seed(5)
    rgb = TrackerModel.from_config(rgb_config.model)
    weights = save_model_weights(rgb, tmp_path / "rgb.safetensors")
    config = load_config(CONFIGS / "tiny_patrack.yaml", overrides + [f"model.pretrained={weights}"])
    start_model = build_model(config)  # strict import: every dual-stream entry filled from the RGB file
    assert all(torch.equal(p, rgb.get_parameter(n)) for n, p in start_model.named_parameters())

    train(config, tmp_path / "run", progress=False, sources=memory_sources(3, 10))  # 3 steps, ~2 s on one idle core
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 3 and all(math.isfinite(m["loss"]) for m in metrics)

    model = load_tracker_model(tmp_path / "run")
    moved = {n for n, p in model.named_parameters()
             if adapter_kind(n) is None and not torch.equal(p, rgb.get_parameter(n))}
    assert not moved  # the RGB tracker stays frozen
    ups = [p for n, p in model.named_parameters() if n.endswith("up.weight")]
    assert ups and all(p.abs().sum() > 0 for p in ups)  # the adapters left zero
    inputs = inputs_for(model)
    with torch.no_grad():
        out = model(**inputs)
        reference = copy.deepcopy(start_model).eval()
        assert not torch.equal(out["score_logits"], reference(**inputs)["score_logits"])
    assert isinstance(METHODS["patrack"](config), PATrackMethod)
