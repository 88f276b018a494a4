"""TrackerModel: LoRAT embeddings by hand, head decoding by hand, fusion equivalences, block outputs."""

import math

import pytest
import torch

from tracktune.boxes import grid_touch_mask
from tracktune.config import ModelConfig
from tracktune.errors import ConfigError
from tracktune.model.fusion import StreamBlock
from tracktune.model.tracker_model import GROUPS, TrackerModel


def tiny(design="lorat", fusion="rgb", template=32, search=64, depth=2, dim=32, heads=2) -> TrackerModel:
    config = ModelConfig(design=design, size="tiny", patch_size=16, template_size=template, search_size=search,
                         fusion=fusion, embed_dim=dim, depth=depth, num_heads=heads)
    torch.manual_seed(0)
    return TrackerModel.from_config(config).eval()


def images(batch=2, template=32, search=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (batch, 3, template, template), dtype=torch.uint8, generator=g),
            torch.randint(0, 256, (batch, 3, search, search), dtype=torch.uint8, generator=g))


def test_lorat_position_and_token_type_embeddings_by_hand():
    model = tiny(template=32, search=64)  # template grid 2x2, search grid 4x4
    dim = model.embed_dim
    with torch.no_grad():
        model.pos_embed.copy_(torch.arange(16.0).view(1, 16, 1).expand(1, 16, dim))  # entry i holds i
        model.token_type_embed.copy_(torch.tensor([100.0, 200.0, 300.0]).view(3, 1).expand(3, dim))
        model.patch_embed.proj.weight.zero_()
        model.patch_embed.proj.bias.zero_()
    # the template box covers the top row of the 2x2 template grid, left and right cells
    box = torch.tensor([[0.3, 0.1, 0.7, 0.4]])
    mask = grid_touch_mask(box, 2, 2)
    assert mask.tolist() == [[[True, True], [False, False]]]
    seen = {}
    model.blocks[0].register_forward_pre_hook(lambda module, args: seen.setdefault("tokens", args[0].clone()))
    z, x = images(batch=1)
    model(z, x, template_mask=mask)
    tokens = seen["tokens"][0, :, 0]  # channel 0 of the sequence entering block 0
    # template tokens (row-major over 2x2) take the search grid's top-left block: entries 0, 1, 4, 5
    assert tokens[:4].tolist() == [0 + 200, 1 + 200, 4 + 100, 5 + 100]
    assert tokens[4:].tolist() == [i + 300.0 for i in range(16)]


def test_mlp_head_decodes_distances_from_cell_centres():
    model = tiny()
    head = model.head
    distances = torch.tensor([0.1, 0.2, 0.3, 0.4])
    with torch.no_grad():
        for mlp, bias in ((head.cls_mlp, torch.tensor([1.5])), (head.reg_mlp, torch.logit(distances))):
            mlp.layers[-1].weight.zero_()
            mlp.layers[-1].bias.copy_(bias)
    z, x = images()
    out = model(z, x)
    assert out["score_logits"].shape == (2, 4, 4) and out["score_logits"].dtype == torch.float32
    assert torch.allclose(out["score_logits"], torch.tensor(1.5))
    for i, j in [(0, 0), (1, 3), (3, 2)]:
        cx, cy = (j + 0.5) / 4, (i + 0.5) / 4
        expected = torch.tensor([cx - 0.1, cy - 0.2, cx + 0.3, cy + 0.4])
        torch.testing.assert_close(out["boxes"][1, i, j], expected)


def test_center_head_decodes_offset_and_size():
    model = tiny(design="ostrack")
    head = model.head
    with torch.no_grad():
        head.conv5_offset.weight.zero_()
        head.conv5_offset.bias.copy_(torch.tensor([0.25, 0.75]))
        head.conv5_size.weight.zero_()
        head.conv5_size.bias.copy_(torch.logit(torch.tensor([0.2, 0.4])))
    z, x = images()
    boxes = model(z, x)["boxes"]
    assert boxes.shape == (2, 4, 4, 4)
    for i, j in [(0, 0), (2, 1), (3, 3)]:
        cx, cy = (j + 0.25) / 4, (i + 0.75) / 4
        torch.testing.assert_close(boxes[0, i, j], torch.tensor([cx - 0.1, cy - 0.2, cx + 0.1, cy + 0.2]))


@pytest.mark.parametrize("design", ["lorat", "ostrack"])
@pytest.mark.parametrize("fusion", ["rgb", "early_add", "dual_stream", "token_concat"])
def test_every_design_and_fusion_returns_the_contract(design, fusion):
    model = tiny(design, fusion)
    z, x = images()
    mask = torch.zeros(2, 2, 2, dtype=torch.bool)
    out = model(z, x, z, x, template_mask=mask, return_blocks=[0, 1])
    assert out["score_logits"].shape == (2, 4, 4)
    assert out["boxes"].shape == (2, 4, 4, 4)
    assert sorted(out["blocks"]) == [0, 1] and out["blocks"][1].shape == (2, model.embed_dim, 4, 4)
    assert out["search_tokens"].shape == (2, 16, model.embed_dim)
    groups = model.parameter_groups()
    assert set(groups) == set(GROUPS)
    names = [n for names in groups.values() for n in names]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each name in one group
    assert groups["adapters"] == [] and "lora" not in groups  # the base model names no method
    assert (groups["aux_patch_embed"] != []) == (fusion == "early_add")


def test_block_outputs_are_the_search_tokens_after_that_block():
    model = tiny(depth=3)
    seen = {}
    model.blocks[1].register_forward_hook(lambda module, args, output: seen.setdefault(1, output.clone()))
    z, x = images()
    grid = model(z, x, return_blocks=[1])["blocks"][1]
    search = seen[1][:, 4:]  # after the 2x2 template tokens
    for r, c in [(0, 0), (1, 2), (3, 3)]:
        torch.testing.assert_close(grid[:, :, r, c], search[:, r * 4 + c])
    with pytest.raises(ValueError, match="out of range"):
        model(z, x, return_blocks=[3])


def test_uint8_and_float_images_give_the_same_output():
    model = tiny()
    z, x = images()
    a = model(z, x)["score_logits"]
    b = model(z.float(), x.float())["score_logits"]
    torch.testing.assert_close(a, b)


def _copy_shared(source: TrackerModel, target: TrackerModel) -> None:
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("fusion_module.") for k in missing)


def test_early_add_with_a_silent_aux_embedding_is_the_rgb_model():
    rgb, early = tiny(fusion="rgb"), tiny(fusion="early_add")
    _copy_shared(rgb, early)
    with torch.no_grad():
        early.fusion_module.aux_patch_embed.proj.weight.zero_()
        early.fusion_module.aux_patch_embed.proj.bias.zero_()
    z, x = images()
    za, xa = images(seed=5)
    torch.testing.assert_close(early(z, x, za, xa)["search_tokens"], rgb(z, x)["search_tokens"])


def test_dual_stream_sums_the_streams_and_token_concat_averages_them():
    rgb, dual, concat = tiny(fusion="rgb"), tiny(fusion="dual_stream"), tiny(fusion="token_concat")
    _copy_shared(rgb, dual)
    _copy_shared(rgb, concat)
    with torch.no_grad():
        concat.fusion_module.modality_embed.zero_()
    z, x = images()
    reference = rgb(z, x, return_blocks=[0])
    # the same image in both streams: each stream is the RGB model, and the head reads their sum
    out = dual(z, x, z.clone(), x.clone(), return_blocks=[0])
    torch.testing.assert_close(out["search_tokens"], 2 * reference["search_tokens"])
    torch.testing.assert_close(out["blocks"][0], 2 * reference["blocks"][0])
    # one sequence holding every token twice attends exactly as the single sequence (each key
    # and value appears twice, so softmax weights halve and sums stay): the mean of the two
    # search groups is the RGB model's search tokens
    out = concat(z, x, z.clone(), x.clone(), return_blocks=[0])
    torch.testing.assert_close(out["search_tokens"], reference["search_tokens"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["blocks"][0], reference["blocks"][0], rtol=1e-4, atol=1e-5)


def test_dual_stream_adapter_hook_sees_both_streams():
    model = tiny(fusion="dual_stream", depth=3)
    calls = []

    class Exchange(StreamBlock):
        """An adapter that adds each stream's mean token to the other, after the block."""

        def forward(self, block, rgb_tokens, aux_tokens, layout):
            calls.append((block, rgb_tokens.shape, layout.template_grid, layout.search_grid))
            template, search = layout.split(rgb_tokens)
            assert template.shape[1] == 4 and search.shape[1] == 16
            rgb_out, aux_out = block(rgb_tokens), block(aux_tokens)
            return rgb_out + aux_tokens.mean(1, keepdim=True), aux_out + rgb_tokens.mean(1, keepdim=True)

    z, x = images()
    za, xa = images(seed=7)
    before = model(z, x, za, xa)["search_tokens"]
    model.fusion_module.stream_blocks[1] = Exchange()
    after = model(z, x, za, xa)["search_tokens"]
    assert len(calls) == 1 and calls[0][0] is model.blocks[1] and calls[0][2:] == ((2, 2), (4, 4))
    assert not torch.allclose(before, after)


def test_configuration_errors():
    with pytest.raises(ConfigError, match="multiple of model.patch_size"):
        tiny(template=40)
    with pytest.raises(ConfigError, match="must not exceed"):
        tiny(template=96, search=64)
    model = tiny(fusion="early_add")
    z, x = images()
    with pytest.raises(ValueError, match="needs template_aux"):
        model(z, x)


def test_sizes_have_their_published_parameter_counts():
    with torch.device("meta"):
        base = TrackerModel.from_config(ModelConfig(size="base"))
    blocks = sum(p.numel() for n, p in base.named_parameters() if n.startswith("blocks."))
    c = 768
    per_block = 2 * (2 * c) + 4 * (c * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c)
    assert blocks == 12 * per_block
    assert math.isclose(blocks / 1e6, 85.07, abs_tol=0.01)  # DINOv2 ViT-B/14 blocks


def test_lorat_backward_is_bitwise_repeatable_with_threads():
    """The token-type lookup's backward once accumulated through index_put_, which differs from
    run to run on CPU with several threads (the demo's pretraining gave other weights on a rerun)."""
    model = tiny(template=64, search=64, dim=128, depth=1).train()  # the demo's width and batch: the old
    z, x = images(batch=32, template=64, search=64)  # lookup gave a new gradient on nearly every call here
    mask = torch.rand(32, 4, 4, generator=torch.Generator().manual_seed(2)) > 0.5
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        grads = []
        for _ in range(6):
            model.zero_grad()
            out = model(z, x, template_mask=mask)
            (out["score_logits"].float().square().mean() + out["boxes"].float().mean()).backward()
            grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    finally:
        torch.set_num_threads(threads)
    assert grads[0]["token_type_embed"].abs().sum() > 0
    for other in grads[1:]:
        assert all(torch.equal(grads[0][n], other[n]) for n in grads[0]), "backward differs between identical calls"
