"""FCTL: the EANSDL loss against a brute-force loop of its definition, and the method."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

from tracktune.adapt.fctl import (
    decay,
    eansdl,
    eansdl_levels,
    extended_radius,
    scaled_blocks,
    sobel_magnitude,
)
from tracktune.adapt import StepInfo, build_adapted_model, build_methods
from tracktune.errors import ConfigError

# --------------------------------------------------------------------------------------
# An independent brute-force EANSDL: plain Python loops over b, c, x, y
# --------------------------------------------------------------------------------------

SX = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


def brute_gradient_magnitude(f: torch.Tensor) -> list:
    """G[b][c][y][x] with replicate padding (clamped indices)."""
    B, C, H, W = f.shape
    v = f.tolist()
    out = [[[[0.0] * W for _ in range(H)] for _ in range(C)] for _ in range(B)]
    for b in range(B):
        for c in range(C):
            for y in range(H):
                for x in range(W):
                    gx = gy = 0.0
                    for i in range(3):
                        for j in range(3):
                            yy = min(max(y + i - 1, 0), H - 1)
                            xx = min(max(x + j - 1, 0), W - 1)
                            gx += SX[i][j] * v[b][c][yy][xx]
                            gy += SX[j][i] * v[b][c][yy][xx]  # Sy = Sx^T
                    out[b][c][y][x] = math.sqrt(gx * gx + gy * gy + 1e-6)
    return out


def brute_level(fs, ft, r) -> tuple[float, float]:
    """(mean of exp(-dS) dS, mean of Omega) of one level with extended radius r."""
    B, C, H, W = fs.shape
    gs, gt = brute_gradient_magnitude(fs), brute_gradient_magnitude(ft)
    d = [[[[gs[b][c][y][x] - gt[b][c][y][x] for x in range(W)] for y in range(H)] for c in range(C)]
         for b in range(B)]
    local = omega = 0.0
    for b in range(B):
        for y in range(H):
            for x in range(W):
                ds = sum(abs(d[b][c][y][x]) for c in range(C)) / C
                local += math.exp(-ds) * ds
                om = 0.0
                for c in range(C):
                    window = [d[b][c][yy][xx] for yy in range(max(0, y - r), min(H, y + r + 1))
                              for xx in range(max(0, x - r), min(W, x + r + 1))]
                    om += abs(sum(window) / len(window))  # padding excluded from the count
                omega += om / C
    n = B * H * W
    return local / n, omega / n


def brute_eansdl(student, teacher, progress, r0=8, alpha=3.0, beta=1.0) -> float:
    total = 0.0
    for level, (fs, ft) in enumerate(zip(student, teacher)):
        local, omega = brute_level(fs, ft, max(1, r0 // 2**level))
        total += local + math.exp(-alpha * progress**beta) * omega
    return total


def features(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_matches_brute_force_on_tiny_grids():
    shapes = [(2, 3, 5, 6), (2, 3, 5, 6), (2, 3, 3, 4), (2, 3, 2, 2)]
    student = [features(*s, seed=i) for i, s in enumerate(shapes)]
    teacher = [features(*s, seed=10 + i) for i, s in enumerate(shapes)]
    for progress, r0, alpha, beta in ((0.0, 8, 3.0, 1.0), (0.3, 3, 2.0, 2.0), (1.0, 1, 3.0, 0.5)):
        ours = eansdl(student, teacher, progress, r0=r0, alpha=alpha, beta=beta)
        reference = brute_eansdl(student, teacher, progress, r0=r0, alpha=alpha, beta=beta)
        assert ours.item() == pytest.approx(reference, rel=1e-10, abs=1e-12)
        raw = eansdl(student, teacher, progress, r0=r0, alpha=alpha, beta=beta, weight="raw")
        assert raw.item() == pytest.approx(ours.item(), rel=1e-12)  # same value; only the gradient differs


def test_sobel_magnitude_of_a_ramp():
    """F = x (one step per column): Sx gives 8 inside, 4 at the replicate-padded border columns."""
    ramp = torch.arange(5.0, dtype=torch.float64).repeat(4, 1)[None, None]
    g = sobel_magnitude(ramp)[0, 0]
    expected_x = torch.tensor([4.0, 8.0, 8.0, 8.0, 4.0], dtype=torch.float64)
    torch.testing.assert_close(g, torch.sqrt(expected_x**2 + 1e-6).repeat(4, 1))


def test_zero_for_identical_inputs_positive_otherwise():
    f = [features(2, 4, 6, 6, seed=s) for s in range(4)]
    assert eansdl(f, [x.clone() for x in f], 0.0).item() == 0.0
    g = [x + 0.1 * features(*x.shape, seed=99) for x in f]
    assert eansdl(g, f, 0.0).item() > 0
    assert eansdl(g, f, 1.0).item() > 0


def test_constant_offset_gives_near_zero_loss():
    """Structure, not level: F_s = F_t + c per channel has the same Sobel gradients."""
    f = [features(2, 4, 8, 8, seed=s, dtype=torch.float32) for s in range(4)]
    offset = torch.randn(1, 4, 1, 1) * 5
    assert eansdl([x + offset for x in f], f, 0.0).item() < 1e-4
    assert eansdl([x * 2 for x in f], f, 0.0).item() > 0.5  # while a scaling is a structural change


def test_differentiable_and_teacher_detached():
    shape = (1, 2, 4, 4)
    student = [features(*shape, seed=s).requires_grad_(True) for s in range(2)]
    teacher = [features(*shape, seed=5 + s).requires_grad_(True) for s in range(2)]
    # the literal form is the true derivative of the value (the detached weight is not, by design)
    assert torch.autograd.gradcheck(
        lambda a, b: eansdl([a, b], [t.detach() for t in teacher], 0.4, r0=2, weight="raw"), tuple(student))
    loss = eansdl(student, teacher, 0.4)
    loss.backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in student)
    assert all(t.grad is None for t in teacher)


def test_default_gradient_never_pushes_a_large_discrepancy_to_grow():
    """F_s = k F_t with k large: dS > 1 everywhere. d loss / dk must be positive (descent
    shrinks the discrepancy) in the default mode; the literal `raw` form has it negative."""
    teacher = [features(1, 3, 6, 6, seed=s) * 3 for s in range(4)]
    for weight, sign in (("detached", 1.0), ("raw", -1.0)):
        k = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
        student = [k * t for t in teacher]
        terms = eansdl_levels(student, teacher, weight=weight)
        gs, gt = sobel_magnitude(student[0]), sobel_magnitude(teacher[0])
        assert ((gs - gt).abs().mean(dim=1) > 1).all()
        # the local term alone (the extended term only grows with k in both modes)
        local = sum(t.local for t in terms)
        (grad,) = torch.autograd.grad(local, k)
        assert grad.item() * sign > 0, (weight, grad.item())
    # and the full default loss too
    k = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(eansdl([k * t for t in teacher], teacher, 0.5), k)
    assert grad.item() > 0


def test_radius_per_level():
    assert [extended_radius(level, 8) for level in range(5)] == [8, 4, 2, 1, 1]
    assert [extended_radius(level, 3) for level in range(3)] == [3, 1, 1]
    assert extended_radius(0, 0) == 1
    # the radius the loss uses: a structured discrepancy near one corner of a 20x20 grid, whose
    # window averages depend on the radius; each level's Omega must match the brute-force Omega
    # at its radius and not at the neighbouring radii
    n = 20
    teacher = torch.zeros(1, 1, n, n, dtype=torch.float64)
    student = teacher.clone()
    student[0, 0, 3:6, 2:9] = torch.arange(21, dtype=torch.float64).reshape(3, 7) % 5
    levels = eansdl_levels([student] * 4, [teacher] * 4, r0=8)
    assert [t.radius for t in levels] == [8, 4, 2, 1]
    for t in levels:
        r = t.radius
        assert t.omega.item() == pytest.approx(brute_level(student, teacher, r)[1], rel=1e-10)
        for other in (r - 1, r + 1):
            if other >= 0:
                assert t.omega.item() != pytest.approx(brute_level(student, teacher, other)[1], rel=1e-6)


def test_decay_factor():
    assert decay(0.0) == 1.0
    assert decay(1.0, 3.0, 1.0) == pytest.approx(math.exp(-3.0))
    assert decay(0.5, 2.0, 2.0) == pytest.approx(math.exp(-2.0 * 0.25))
    student = [features(1, 2, 6, 6, seed=s) for s in range(4)]
    teacher = [features(1, 2, 6, 6, seed=9 + s) for s in range(4)]
    terms = eansdl_levels(student, teacher)
    local = sum(t.local for t in terms).item()
    omega = sum(t.omega for t in terms).item()
    for progress in (0.0, 0.25, 0.5, 1.0):
        for alpha, beta in ((3.0, 1.0), (1.0, 2.0)):
            value = eansdl(student, teacher, progress, alpha=alpha, beta=beta).item()
            assert value == pytest.approx(local + math.exp(-alpha * progress**beta) * omega, rel=1e-12)


def test_bad_inputs():
    f = [features(1, 2, 4, 4)]
    with pytest.raises(ValueError):
        eansdl(f, f + f, 0.0)
    with pytest.raises(ValueError):
        eansdl(f, [features(1, 2, 4, 5)], 0.0)
    with pytest.raises(ValueError):
        eansdl(f, f, 0.0, weight="literal")


def test_scaled_blocks():
    assert scaled_blocks([3, 6, 9, 12], 12) == [2, 5, 8, 11]
    assert scaled_blocks([3, 6, 9, 12], 24) == [5, 11, 17, 23]
    assert scaled_blocks([3, 6, 9, 12], 4) == [0, 1, 2, 3]
    assert scaled_blocks([3, 6, 9, 12], 6) == [1, 2, 4, 5]
    assert scaled_blocks([1, 3], 4, None) == [0, 2]
    with pytest.raises(ConfigError):
        scaled_blocks([3, 6, 9, 12], 2)  # four levels onto two blocks
    with pytest.raises(ConfigError):
        scaled_blocks([13], 12)


# --------------------------------------------------------------------------------------
# The method: frozen RGB teacher on clean crops, student on degraded crops
# --------------------------------------------------------------------------------------


def tiny_config(tmp_path=None, methods=("full", "fctl"), fusion="rgb", **fctl):
    from tracktune.config import ExperimentConfig, FCTLConfig, ModelConfig

    model = ModelConfig(size="tiny", depth=4, embed_dim=32, num_heads=2, template_size=28, search_size=56,
                        fusion=fusion)
    config = ExperimentConfig(methods=list(methods), model=model, fctl=FCTLConfig(**fctl))
    if tmp_path is not None:  # an "RGB tracker" file: a tiny RGB model's weights
        from tracktune.model import build_model
        from tracktune.model.pretrained import save_model_weights

        torch.manual_seed(0)
        rgb = build_model(ExperimentConfig(model=model.__class__(**{**model.__dict__, "fusion": "rgb"})))
        path = save_model_weights(rgb, tmp_path / "rgb_tracker.safetensors")
        config.model.pretrained = str(path)
        config.model.pretrained_format = "tracktune"
    return config


def tiny_batch(seed=0, batch=2):
    g = torch.Generator().manual_seed(seed)
    clean_t = torch.randint(0, 256, (batch, 3, 28, 28), generator=g, dtype=torch.uint8)
    clean_s = torch.randint(0, 256, (batch, 3, 56, 56), generator=g, dtype=torch.uint8)
    mask = torch.zeros(batch, 2, 2, dtype=torch.bool)
    mask[:, 0, 0] = True
    return {"template_rgb": clean_t, "search_rgb": clean_s, "template_mask": mask,
            "template_rgb_clean": clean_t.clone(), "search_rgb_clean": clean_s.clone()}


def prepared(config):
    return build_adapted_model(config)


def student_outputs(model, method, batch):
    return model(batch["template_rgb"], batch["search_rgb"], template_mask=batch["template_mask"],
                 return_blocks=method.return_blocks(model))


def test_config_time_errors(tmp_path):
    from tracktune.adapt.fctl import FCTLMethod

    with pytest.raises(ConfigError, match="fine-tuning method"):
        build_methods(tiny_config(tmp_path, methods=("fctl",)))
    with pytest.raises(ConfigError, match="frozen"):
        build_methods(tiny_config(tmp_path, methods=("frozen", "full", "fctl")))
    with pytest.raises(ConfigError, match="model.pretrained"):  # when the teacher is built
        prepared(tiny_config(None))
    with pytest.raises(ConfigError, match="lambda_eansdl"):
        FCTLMethod(tiny_config(tmp_path, lambda_eansdl=-1.0))
    FCTLMethod(tiny_config(tmp_path))  # fine


def test_model_info_counts_without_a_teacher_file():
    """model-info builds on the meta device and reads no weights: no teacher is needed."""
    from tracktune.config import load_config
    from tracktune.model_stats import meta_model

    config = load_config(REPO / "src" / "tracktune" / "configs" / "fctl_lora_b224_rgbt.yaml")
    assert config.model.pretrained is None
    model, methods = meta_model(config)
    fctl = [m for m in methods if m.name == "fctl"][0]
    assert fctl.teacher is None and fctl.block_indices == [2, 5, 8, 11]


def test_teacher_is_the_frozen_rgb_tracker_and_adds_no_trainable_state(tmp_path):
    from safetensors.torch import load_file

    config = tiny_config(tmp_path, fusion="early_add")
    model, (full, fctl) = prepared(config)
    teacher = fctl.teacher
    assert teacher.fusion == "rgb" and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    # the teacher's weights are the RGB tracker's file
    stored = load_file(config.model.pretrained)
    for name, value in teacher.state_dict().items():
        torch.testing.assert_close(value, stored[name], rtol=0, atol=0)
    # not part of the model: no trainable parameter, no optimizer state, nothing in checkpoints
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not teacher_ids & {id(p) for p in model.parameters()}
    assert not any(name.startswith("teacher") or ".teacher" in name for name, _ in model.named_parameters())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = tiny_batch()
    batch["template_aux"] = torch.zeros_like(batch["template_rgb"])
    batch["search_aux"] = torch.zeros_like(batch["search_rgb"])
    batch["template_rgb"] = (batch["template_rgb"] // 2)  # "degraded"
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    outputs = model(batch["template_rgb"], batch["search_rgb"], batch["template_aux"], batch["search_aux"],
                    template_mask=batch["template_mask"], return_blocks=fctl.return_blocks(model))
    loss = fctl.extra_losses(model, batch, outputs, StepInfo(0, 10, 1e-3))["eansdl"]
    assert loss.item() > 0
    loss.backward()
    optimizer.step()
    assert not teacher_ids & {id(p) for p in optimizer.state}
    assert all(p.grad is None for p in teacher.parameters())
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, before[name])


def test_teacher_forward_runs_without_autograd(tmp_path):
    config = tiny_config(tmp_path)
    model, (_, fctl) = prepared(config)
    grids = fctl.teacher_blocks(tiny_batch(), torch.device("cpu"))
    assert len(grids) == 4 and all(g.grad_fn is None and not g.requires_grad for g in grids)


def test_loss_is_eansdl_of_the_two_models_blocks(tmp_path):
    config = tiny_config(tmp_path, lambda_eansdl=0.5, r0=2)
    model, (_, fctl) = prepared(config)
    assert fctl.return_blocks(model) == (0, 1, 2, 3)  # 3, 6, 9, 12 of 12 -> all 4 of a 4-block model
    batch = tiny_batch(1)
    # the student starts as the teacher: on equal inputs the loss is exactly zero
    outputs = student_outputs(model, fctl, batch)
    assert fctl.extra_losses(model, batch, outputs, StepInfo(3, 10, 1e-3))["eansdl"].item() == 0.0
    # degraded student input: 0.5 * eansdl(student blocks, teacher blocks on the clean crops)
    batch["search_rgb"] = 255 - batch["search_rgb"]
    outputs = student_outputs(model, fctl, batch)
    loss = fctl.extra_losses(model, batch, outputs, StepInfo(3, 10, 1e-3))["eansdl"]
    teacher_out = fctl.teacher(batch["template_rgb_clean"], batch["search_rgb_clean"],
                               template_mask=batch["template_mask"], return_blocks=(0, 1, 2, 3))
    expected = 0.5 * eansdl([outputs["blocks"][i] for i in range(4)], [teacher_out["blocks"][i] for i in range(4)],
                            0.3, r0=2)
    torch.testing.assert_close(loss, expected)
    assert loss.item() > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.blocks.parameters())


def test_missing_blocks_is_an_error(tmp_path):
    model, (_, fctl) = prepared(tiny_config(tmp_path))
    batch = tiny_batch()
    outputs = model(batch["template_rgb"], batch["search_rgb"], template_mask=batch["template_mask"])
    with pytest.raises(ConfigError, match="return_blocks"):
        fctl.extra_losses(model, batch, outputs, StepInfo(0, 10, 1e-3))


def test_composes_with_lora(tmp_path):
    """methods: [lora, fctl]: EANSDL's gradient reaches the LoRA weights only; the teacher is
    the RGB tracker without LoRA (LoRAT's init makes the student differ at step 0)."""
    config = tiny_config(tmp_path, methods=("lora", "fctl"))
    config.lora.rank = 4
    model, (lora, fctl) = prepared(config)
    assert not any("lora" in name for name, _ in fctl.teacher.named_parameters())
    batch = tiny_batch(2)
    outputs = student_outputs(model, fctl, batch)
    loss = fctl.extra_losses(model, batch, outputs, StepInfo(0, 10, 1e-3))["eansdl"]
    assert loss.item() > 0  # the non-zero LoRA branch already moves the student's features
    loss.backward()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and with_grad <= trainable
    assert any("lora" in n for n in with_grad)


def test_shipped_configs_load():
    from pathlib import Path

    from tracktune.config import load_config
    from tracktune.data.degrade import parse_specs

    root = Path(__file__).resolve().parents[2] / "src" / "tracktune" / "configs"
    for name in ("fctl_lora_b224_rgbt.yaml", "tiny_fctl.yaml"):
        config = load_config(root / name)
        assert "fctl" in config.methods and "lora" in config.methods
        parse_specs(config.data.degrade, "data.degrade")
