"""prepare_for_inference / inference_copy: bf16 packed GEMMs and the int8 path give the fp32
model's outputs within their rounding, keep the caller's model as it was, for every design,
fusion and method export; Int8Linear against a by-hand quantisation; GraphedForward's capture
logic with a stand-in graph."""

import copy

import numpy as np
import pytest
import torch

from tracktune.config import ModelConfig, load_config
from tracktune.errors import ConfigError
from tracktune.model.inference import (GraphedForward, Int8Linear, PackedLinear, QKVAttention, cpu_packing_available,
                                       inference_copy, int8_available, prepare_for_inference, quantize_activation,
                                       quantize_activation_eager, quantize_weight)
from tracktune.model.tracker_model import TrackerModel
from tracktune.model.vit import Attention


def test_packed_bf16_model_matches_the_plain_bf16_model():
    if not cpu_packing_available():
        pytest.skip("this torch build has no oneDNN linear ops")
    torch.manual_seed(0)
    model = TrackerModel.from_config(ModelConfig(size="tiny", patch_size=16, template_size=32, search_size=64,
                                                 fusion="early_add", depth=2, embed_dim=64, num_heads=2)).eval()
    g = torch.Generator().manual_seed(1)
    z = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g)
    x = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8, generator=g)
    plain = copy.deepcopy(model).to(torch.bfloat16)
    packed = prepare_for_inference(copy.deepcopy(model), "bf16")
    linears = [m for m in packed.modules() if isinstance(m, PackedLinear)]
    assert len(linears) == 2 * 6 + 6 and not any(type(m) is torch.nn.Linear for m in packed.modules())
    assert [m.activation for m in linears].count("gelu") == 2  # fc1 of each block, GELU fused
    assert sorted(packed.state_dict()) == sorted(model.state_dict())
    with torch.inference_mode():
        a, b, full = plain(z, x, z, x), packed(z, x, z, x), model(z, x, z, x)
    assert (a["score_logits"] - b["score_logits"]).abs().max() < 0.05  # bf16 rounding differences only
    assert (a["boxes"] - b["boxes"]).abs().max() < 0.01
    assert (full["boxes"] - b["boxes"]).abs().max() < 0.02
    fp32 = prepare_for_inference(copy.deepcopy(model), "none")
    assert not fp32.training and all(p.dtype == torch.float32 for p in fp32.parameters())


# ---- int8 building blocks, by hand ---------------------------------------------------------


def test_quantize_weight_by_hand():
    weight = torch.tensor([[0.6, -1.0, 0.25], [0.125, 0.0625, -0.5]])
    q, scale = quantize_weight(weight)
    # row 0: max |w| = 1 -> scale 1/127: 0.6 * 127 = 76.2 -> 76, -127, 31.75 -> 32
    # row 1: max |w| = 0.5 -> scale 0.5/127: 31.75 -> 32, 15.875 -> 16, -127
    np.testing.assert_allclose(scale.numpy(), [1 / 127, 0.5 / 127], rtol=1e-6)
    assert q.dtype == torch.int8
    assert q.tolist() == [[76, -127, 32], [32, 16, -127]]


@pytest.mark.parametrize("quantize", [quantize_activation, quantize_activation_eager])
def test_quantize_activation_by_hand(quantize):
    rows = torch.tensor([[-1.0, 0.0], [2.0, 4.1]])
    q, scale, zero_point = quantize(rows)
    # range [-1, 4.1]: scale 5.1 / 255 = 0.02, zero point round(1 / 0.02) = 50
    assert float(scale) == pytest.approx(0.02, rel=1e-6) and int(zero_point) == 50
    assert q.dtype == torch.uint8
    assert q.tolist() == [[0, 50], [150, 255]]  # -1/0.02 + 50 = 0; 2/0.02 + 50 = 150; 4.1/0.02 + 50 = 255
    # an all-positive input still holds 0 exactly (range [0, max])
    q, scale, zero_point = quantize(torch.tensor([[1.0, 2.55]]))
    assert int(zero_point) == 0 and q.tolist() == [[100, 255]]


def needs_int8():
    if not int8_available():
        pytest.skip("this torch build has no oneDNN quantised linear")


@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_int8_linear_equals_the_dequantised_product(activation):
    """Oracle: float64 product of the by-hand dequantised activation and weight (+ bias, GELU);
    the kernel's only extra error is its bf16 output."""
    needs_int8()
    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(160, 144, generator=g) * 0.05, torch.randn(160, generator=g)
    tokens = torch.randn(3, 10, 144, generator=g).bfloat16()
    layer = Int8Linear(weight, bias, 10, activation)
    out = layer(tokens).double()
    for b in range(3):
        rows = tokens[b].double()
        low, high = min(rows.min().item(), 0.0), max(rows.max().item(), 0.0)
        scale = np.float32((high - low) / 255)
        zero_point = round(-low / scale)
        q = np.clip(np.round(rows.numpy() / scale) + zero_point, 0, 255)
        x = (q - zero_point) * float(scale)
        w = layer.weight_int8.double().numpy() * layer.weight_scale.double().numpy()[:, None]
        expected = torch.from_numpy(x @ w.T + bias.double().numpy())
        if activation == "gelu":
            expected = torch.nn.functional.gelu(expected)
        np.testing.assert_allclose(out[b].numpy(), expected.numpy(), rtol=1e-2, atol=2e-2)
    # and close to the float layer it replaces (8-bit rounding of both operands)
    reference = tokens.double() @ weight.double().T + bias.double()
    if activation == "gelu":
        reference = torch.nn.functional.gelu(reference)
    assert (out - reference).abs().max() < 0.05 * reference.abs().max()


def test_int8_linear_is_batch_independent():
    needs_int8()
    g = torch.Generator().manual_seed(1)
    layer = Int8Linear(torch.randn(128, 128, generator=g), None, 8)
    tokens = torch.randn(4, 8, 128, generator=g).bfloat16()
    tokens[2] *= 50  # a sample with a much larger range must not change the others' scales
    together = layer(tokens)
    for b in range(4):
        torch.testing.assert_close(layer(tokens[b:b + 1]), together[b:b + 1], rtol=0, atol=0)


# ---- whole models: every design, fusion and method export ------------------------------------

CASES = [  # (design, fusion, methods)
    ("lorat", "rgb", ["lora"]),
    ("lorat", "early_add", ["lora"]),
    ("ostrack", "early_add", ["full"]),
    ("lorat", "token_concat", ["lora"]),
    ("lorat", "dual_stream", ["patrack"]),
    ("ostrack", "dual_stream", ["full"]),
    ("lorat", "dual_branch", ["full", "srft"]),
]


def exported_model(design, fusion, methods):
    from tracktune.runs import build_training_model

    config = load_config(None, [
        f"model.design={design}", "model.size=tiny", "model.embed_dim=128", "model.depth=2", "model.num_heads=2",
        "model.patch_size=16", "model.template_size=32", "model.search_size=64", f"model.fusion={fusion}",
        "model.pretrained=null", f"methods=[{','.join(methods)}]", "lora.rank=4", "data.modality=thermal",
        "patrack.mea_layers=[1]"])
    torch.manual_seed(0)
    model, adapt = build_training_model(config)
    with torch.no_grad():  # LoRA's B and adapters' up-projections start at zero: make them count
        for name, p in model.named_parameters():
            if "lora_B" in name or name.endswith("up.weight"):
                p.normal_(0, 0.02)
    for method in adapt:
        model = method.export(model)
    return model.eval()


def step(model, batch=2, seed=3):
    g = torch.Generator().manual_seed(seed)
    z = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=g)
    x = torch.randint(0, 256, (batch, 3, 64, 64), dtype=torch.uint8, generator=g)
    mask = torch.zeros(batch, 2, 2, dtype=torch.bool)
    mask[:, :1, :1] = True
    with torch.inference_mode():
        return model(template_rgb=z, search_rgb=x, template_aux=255 - z, search_aux=255 - x, template_mask=mask)


@pytest.mark.parametrize("design,fusion,methods", CASES)
def test_prepared_copies_agree_with_fp32_and_leave_the_model_alone(design, fusion, methods):
    model = exported_model(design, fusion, methods)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = step(model)
    assert inference_copy(model, "fp32") is model  # an fp32 eval model: nothing to change, no copy
    precisions = ["bf16"] + (["int8"] if int8_available() else [])
    # bounds: bf16 rounds each GEMM operand to 8 bits of mantissa; int8 adds 8-bit activations
    # and per-channel 8-bit weights (boxes are normalised to the crop, 0..1)
    bounds = {"bf16": (0.1, 0.02), "int8": (0.3, 0.05)}
    for precision in precisions:
        prepared = inference_copy(model, precision)
        assert prepared is not model
        out = step(prepared)
        scores, boxes = bounds[precision]
        assert (out["score_logits"] - reference["score_logits"]).abs().max() < scores, precision
        assert (out["boxes"] - reference["boxes"]).abs().max() < boxes, precision
        assert out["boxes"].dtype == torch.float32
        if precision == "int8":
            assert any(isinstance(m, Int8Linear) for m in prepared.modules())
            if design == "lorat" and fusion != "dual_branch":
                assert not any(type(m) is Attention for m in prepared.blocks.modules())
                assert all(isinstance(b.attn, QKVAttention) for b in prepared.blocks)
            head = {id(m) for m in prepared.head.modules()}
            assert not any(isinstance(m, Int8Linear) and id(m) in head for m in prepared.modules())
    after = model.state_dict()
    assert sorted(after) == sorted(before) and all(torch.equal(after[k], before[k]) for k in before)
    assert all(p.dtype == torch.float32 for p in model.parameters()) and not model.training
    assert not any(isinstance(m, (PackedLinear, Int8Linear)) for m in model.modules())


def test_preparation_refuses_what_the_device_cannot_run():
    model = exported_model("lorat", "early_add", ["lora"])
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        inference_copy(model, "fp16")
    with pytest.raises(ConfigError, match="precision must be"):
        inference_copy(model, "int4")


# ---- CUDA graph capture, with a stand-in graph ------------------------------------------------


class FakeGraph:
    """Records the calls made inside capture; `replay` runs them again (what a CUDA graph does
    with the recorded kernels): outputs land in the same static tensors."""

    active = None

    def __init__(self):
        self.recorded = None
        self.replays = 0

    def replay(self):
        self.replays += 1
        self.recorded()


class FakeCapture:
    def __init__(self, graph):
        self.graph = graph

    def __enter__(self):
        FakeGraph.active = self.graph

    def __exit__(self, *exc):
        FakeGraph.active = None


class StaticModel(torch.nn.Module):
    """Writes its result into one static output tensor per input shape, like a captured graph."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, y):
        self.calls += 1
        out = {"sum": torch.empty_like(x), "tag": "static"}

        def kernel():
            torch.add(x, y * 2, out=out["sum"])
        kernel()
        if FakeGraph.active is not None:
            FakeGraph.active.recorded = kernel
        return out


def test_graphed_forward_captures_once_per_signature_and_replays_fresh_inputs():
    model = StaticModel()
    graphed = GraphedForward(model, graph_type=FakeGraph, capture=FakeCapture, stream_factory=lambda: None, warmup=2)
    x, y = torch.ones(1, 3), torch.full((1, 3), 2.0)
    first = graphed(x=x, y=y)
    assert torch.equal(first["sum"], torch.full((1, 3), 5.0)) and first["tag"] == "static"
    assert model.calls == 3  # two warm-up calls and the capture
    second = graphed(x=torch.zeros(1, 3), y=torch.ones(1, 3))  # replay: new values into the static inputs
    assert model.calls == 3 and torch.equal(second["sum"], torch.full((1, 3), 2.0))
    assert torch.equal(first["sum"], torch.full((1, 3), 5.0))  # outputs are clones, not the static buffers
    (graph, _, _), = graphed.graphs.values()
    assert graph.replays == 2
    graphed(x=torch.zeros(2, 3), y=torch.zeros(2, 3))  # another batch size: its own graph
    assert len(graphed.graphs) == 2 and model.calls == 6
