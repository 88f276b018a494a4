"""OSTrack's candidate elimination: kept tokens against a brute-force top-k of the template
centre's attention, the score map against an independent forward written from OSTrack's
`CEBlock` / `candidate_elimination` / `VisionTransformerCE.forward_features`, the keep-ratio
warm-up against `adjust_keep_rate`, and the import note on a checkpoint's configuration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tracktune.config import ModelConfig
from tracktune.errors import ConfigError
from tracktune.model.pretrained import load_pretrained
from tracktune.model.tracker_model import TrackerModel

RELEASED = dict(ce_loc=[3, 6, 9], ce_keep_ratio=[0.7, 0.7, 0.7])  # vitb_256_mae_ce_32x4_ep300.yaml


def ostrack_256(depth=12, embed_dim=64, num_heads=2, fusion="rgb", **ce):
    """OSTrack-256 geometry (patch 16, 128 / 256 crops, 12 blocks) at a small width."""
    config = ModelConfig(design="ostrack", size="base", patch_size=16, template_size=128, search_size=256,
                         fusion=fusion, depth=depth, embed_dim=embed_dim, num_heads=num_heads, **ce)
    return TrackerModel.from_config(config).eval()


def reference_ce_forward(model, template, search, ce_loc=(3, 6, 9), keep=(0.7, 0.7, 0.7)):
    """OSTrack's CE forward written out: attention weights explicitly, elimination by the
    template centre row (CTR_POINT: cell (3, 3) of 8x8), zero-padded re-insertion after the norm.
    template / search: 0..255 float images. Returns the search tokens the head reads."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    z = model.patch_embed((template / 255.0 - mean) / std) + model.pos_embed_z
    x = model.patch_embed((search / 255.0 - mean) / std) + model.pos_embed_x
    batch, lens_z, dim = z.shape
    lens_x = x.shape[1]
    tokens = torch.cat([z, x], dim=1)
    global_index = torch.linspace(0, lens_x - 1, lens_x).repeat(batch, 1)
    removed = []
    side = int(math.isqrt(lens_z))
    centre = torch.zeros(side, side)
    centre[3:4, 3:4] = 1  # generate_mask_cond CTR_POINT for an 8x8 template grid
    centre = centre.flatten().bool()
    for i, block in enumerate(model.blocks):
        heads = block.attn.num_heads
        h = block.norm1(tokens)
        n = h.shape[1]
        q = block.attn.q(h).reshape(batch, n, heads, dim // heads).permute(0, 2, 1, 3)
        k = block.attn.k(h).reshape(batch, n, heads, dim // heads).permute(0, 2, 1, 3)
        v = block.attn.v(h).reshape(batch, n, heads, dim // heads).permute(0, 2, 1, 3)
        attn = ((q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5).softmax(dim=-1)
        tokens = tokens + block.attn.proj((attn @ v).transpose(1, 2).reshape(batch, n, dim))
        if i in ce_loc:
            lens_s = attn.shape[-1] - lens_z
            lens_keep = math.ceil(keep[list(ce_loc).index(i)] * lens_s)
            if lens_keep < lens_s:
                attn_t = attn[:, :, :lens_z, lens_z:]
                mask = centre.view(1, 1, -1, 1).expand(batch, heads, -1, lens_s)
                attn_t = attn_t[mask].view(batch, heads, -1, lens_s).mean(dim=2).mean(dim=1)
                _, indices = torch.sort(attn_t, dim=1, descending=True)
                topk, rest = indices[:, :lens_keep], indices[:, lens_keep:]
                removed.append(global_index.gather(1, rest))
                global_index = global_index.gather(1, topk)
                kept = tokens[:, lens_z:].gather(1, topk.unsqueeze(-1).expand(batch, -1, dim))
                tokens = torch.cat([tokens[:, :lens_z], kept], dim=1)
        tokens = tokens + block.mlp(block.norm2(tokens))
    tokens = model.norm(tokens)
    x = tokens[:, lens_z:]
    if removed:
        index_all = torch.cat([global_index] + removed, dim=1)
        x = torch.cat([x, torch.zeros(batch, lens_x - x.shape[1], dim)], dim=1)
        x = torch.zeros_like(x).scatter_(1, index_all.unsqueeze(-1).expand(batch, -1, dim).long(), x)
    return x


def center_maps(model, search_tokens):
    head = model.head
    fmap = search_tokens.transpose(1, 2).reshape(search_tokens.shape[0], -1, *head.grid)
    return torch.clamp(head.tower("ctr", fmap).sigmoid(), 1e-4, 1 - 1e-4)


def test_kept_tokens_are_the_brute_force_top_k_of_the_template_centre_attention():
    model = ostrack_256(depth=4, ce_loc=[1], ce_keep_ratio=[0.7])
    g = torch.Generator().manual_seed(0)
    batch, heads, nz, ns, dim = 3, 2, 64, 256, 8
    weights = torch.rand(batch, heads, nz + ns, nz + ns, generator=g)
    tokens = torch.randn(batch, nz + ns, dim, generator=g)
    index = torch.arange(ns).repeat(batch, 1)
    out, kept = model.eliminate(weights, tokens, 0.7, index)
    assert kept.shape == (batch, 180) and out.shape == (batch, nz + 180, dim)  # ceil(0.7 * 256) = 180
    w = weights.double().numpy()
    centre = 3 * 8 + 3  # row 3, column 3 of the 8x8 template grid
    for b in range(batch):
        scores = [sum(w[b, h, centre, nz + j] for h in range(heads)) / heads for j in range(ns)]
        brute = sorted(range(ns), key=lambda j: -scores[j])[:180]
        assert kept[b].tolist() == brute
        np.testing.assert_array_equal(out[b, nz:].numpy(), tokens[b, nz + np.array(brute)].numpy())
        np.testing.assert_array_equal(out[b, :nz].numpy(), tokens[b, :nz].numpy())
    # a second elimination on the survivors keeps their original positions
    out2, kept2 = model.eliminate(weights[:, :, : nz + 180, : nz + 180], out, 0.7, kept)
    assert kept2.shape == (batch, 126) and set(kept2[0].tolist()) <= set(kept[0].tolist())


def test_released_ostrack256_ce_score_map_matches_an_independent_forward():
    torch.manual_seed(0)
    model = ostrack_256(**RELEASED)
    g = torch.Generator().manual_seed(1)
    template = torch.randint(0, 256, (2, 3, 128, 128), generator=g).float()
    search = torch.randint(0, 256, (2, 3, 256, 256), generator=g).float()
    with torch.no_grad():
        ours = model(template, search)
        reference_tokens = reference_ce_forward(model, template, search)
        reference = center_maps(model, reference_tokens)[:, 0]
        plain = ostrack_256(**{})
        plain.load_state_dict(model.state_dict())
        without = plain(template, search)
    # 89 of 256 search tokens survive three eliminations (256 -> 180 -> 126 -> 89)
    assert int((ours["search_tokens"].abs().sum(-1) != 0).sum(1)[0]) == 89
    score = torch.clamp(ours["score_logits"].sigmoid(), 1e-4, 1 - 1e-4)
    assert (score - reference).abs().max() < 1e-4
    torch.testing.assert_close(ours["search_tokens"], reference_tokens, atol=1e-5, rtol=1e-5)
    # and elimination matters: the same weights without it give another score map
    assert (torch.clamp(without["score_logits"].sigmoid(), 1e-4, 1 - 1e-4) - reference).abs().max() > 1e-3


def test_keep_ratio_warm_up_is_ostracks_adjust_keep_rate():
    model = ostrack_256(depth=10, **RELEASED)

    def adjust_keep_rate(epoch, warmup=20, total=100, base=0.7):  # CE_START_EPOCH 20, CE_WARM_EPOCH 80
        if epoch < warmup:
            return 1.0
        if epoch >= total:
            return base
        return base + (1 - base) * (math.cos((epoch - warmup) / (total - warmup) * math.pi) + 1) * 0.5

    for epoch in (0, 19, 20, 21, 50, 60, 99, 100, 250, 300):
        assert model.keep_ratio_at(epoch / 300) == pytest.approx(adjust_keep_rate(epoch), abs=1e-12)
    template = torch.zeros(1, 3, 128, 128)
    search = torch.rand(1, 3, 256, 256) * 255
    model.train()
    model.set_keep_ratio(0.0)  # before CE_START: nothing is eliminated in training
    with torch.no_grad():
        assert int((model(template, search)["search_tokens"].abs().sum(-1) == 0).sum()) == 0
        model.set_keep_ratio(60 / 300)  # mid warm-up: every CE block keeps ceil(0.85 * n)
        kept = 256
        for _ in range(3):
            kept = math.ceil(model.ce_keep_rate * kept)
        assert int((model(template, search)["search_tokens"].abs().sum(-1) != 0).sum()) == kept
        model.eval()  # tracking: each block's own ratio
        assert int((model(template, search)["search_tokens"].abs().sum(-1) != 0).sum()) == 89


def test_candidate_elimination_configuration_errors():
    with pytest.raises(ConfigError, match="OSTrack design"):
        TrackerModel.from_config(ModelConfig(design="lorat", size="tiny", depth=4, embed_dim=32, num_heads=2,
                                             **RELEASED))
    with pytest.raises(ConfigError, match="fusion rgb or early_add"):
        ostrack_256(depth=10, fusion="dual_stream", **RELEASED)
    with pytest.raises(ConfigError, match="2 ratios for 3"):
        ostrack_256(depth=10, ce_loc=[3, 6, 9], ce_keep_ratio=[0.7, 0.7])
    with pytest.raises(ConfigError, match="out of range"):
        ostrack_256(depth=4, **RELEASED)


def test_ostrack_import_names_a_candidate_elimination_mismatch(tmp_path):
    torch.manual_seed(0)
    source = ostrack_256(depth=10, **RELEASED)
    state = {"backbone." + k: v for k, v in source.state_dict().items() if not k.startswith("head.")}
    state.update({"box_head." + k[len("head."):]: v for k, v in source.state_dict().items() if k.startswith("head.")})
    for q, k_, v in [(f"backbone.blocks.{i}.attn.q.weight", f"backbone.blocks.{i}.attn.k.weight",
                      f"backbone.blocks.{i}.attn.v.weight") for i in range(10)]:
        state[q.replace(".q.", ".qkv.")] = torch.cat([state.pop(q), state.pop(k_), state.pop(v)])
    for i in range(10):
        state[f"backbone.blocks.{i}.attn.qkv.bias"] = torch.cat(
            [state.pop(f"backbone.blocks.{i}.attn.{n}.bias") for n in "qkv"])
    released = tmp_path / "vitb_256_mae_ce_32x4_ep300" / "OSTrack_ep0300.pth.tar"
    released.parent.mkdir()
    torch.save({"net": state}, released)
    report = load_pretrained(ostrack_256(depth=10), released)
    assert report.candidate_elimination == {}
    assert any(n.startswith("MISMATCH") and "CE_LOC [3, 6, 9]" in n for n in report.notes), report.notes
    report = load_pretrained(ostrack_256(depth=10, **RELEASED), released)
    assert report.candidate_elimination == {3: 0.7, 6: 0.7, 9: 0.7}
    assert not any("MISMATCH" in n for n in report.notes) and any("as the file's name says" in n for n in report.notes)
    plain = tmp_path / "vitb_256_mae_32x4_ep300" / "OSTrack_ep0300.pth.tar"
    plain.parent.mkdir()
    torch.save({"net": state}, plain)
    assert any(n.startswith("MISMATCH") for n in load_pretrained(ostrack_256(depth=10, **RELEASED), plain).notes)
    unknown = tmp_path / "mine.pth"
    torch.save({"net": state}, unknown)
    assert any("does not record" in n for n in load_pretrained(ostrack_256(depth=10), unknown).notes)
