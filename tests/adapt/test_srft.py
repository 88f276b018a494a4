"""SRFT: K-FAC factors vs the exact Fisher, eigenbasis penalty vs its direct form,
decoupled prior step, transfer step closed form, the prior cache, the schedule."""

import math

import pytest
import torch
from torch import nn

from tracktune.adapt import StepInfo, build_methods
from tracktune.adapt.srft import (
    Eigenbasis,
    FactorCollector,
    LinearPrior,
    TransferSignificance,
    augmented,
    cached_prior_factors,
    collect_prior_factors,
    hoyer_sparsity,
    kappa,
    transfer_step,
)
from tracktune.errors import ConfigError


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A non-quadratic loss so output gradients depend on the input (softmax cross-entropy)."""
    return -(target * torch.log_softmax(output, dim=-1)).sum(-1).mean()


def _random_psd(n: int, generator: torch.Generator) -> torch.Tensor:
    root = torch.randn(n, n + 2, generator=generator, dtype=torch.float64)
    return (root @ root.T / n).float()


def test_kfac_equals_exact_fisher_for_one_sample():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3)
    x = torch.randn(1, 5)
    target = torch.softmax(torch.randn(1, 3), -1)
    # exact: per-sample gradient of [W | b], its outer product (row-major vec)
    layer.zero_grad()
    _loss(layer(x), target).backward()
    gradient = augmented(layer.weight.grad, layer.bias.grad).reshape(-1)  # (3*6,)
    exact = torch.outer(gradient, gradient)
    collector = FactorCollector({"fc": layer}, {})
    layer.zero_grad()
    with collector:
        _loss(layer(x), target).backward()
    collector.add_batch(1)
    inputs, outputs, _ = collector.factors()
    kfac = torch.kron(outputs["fc"], inputs["fc"])  # B (x) A for row-major vec(W_aug)
    assert inputs["fc"].shape == (6, 6)
    torch.testing.assert_close(kfac, exact, rtol=1e-5, atol=1e-7)


def test_batch_mean_loss_gives_per_sample_factors():
    """Two copies of one sample under a batch-mean loss measure the same B as the sample alone."""
    torch.manual_seed(1)
    layer = nn.Linear(4, 3, bias=False)
    x = torch.randn(1, 6, 4)  # one sample of 6 tokens
    target = torch.softmax(torch.randn(1, 6, 3), -1)

    def measure(batch_x, batch_t):
        factors = collect_prior_factors(layer, [{"x": batch_x, "t": batch_t}], lambda m, b: _loss(m(b["x"]), b["t"]))
        out, inp = factors.output_eigs[""], factors.input_eigs[""]
        return (out.vectors * out.values) @ out.vectors.T, (inp.vectors * inp.values) @ inp.vectors.T

    b_one, a_one = measure(x, target)
    b_two, a_two = measure(x.repeat(2, 1, 1), target.repeat(2, 1, 1))
    torch.testing.assert_close(b_two, b_one, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(a_two, a_one, rtol=1e-4, atol=1e-6)
    factors = collect_prior_factors(layer, [{"x": x}], lambda m, b: m(b["x"]).square().mean())
    assert factors.diagonal == {} and factors.has_bias == {"": False}  # the weight is K-FAC's, not diagonal


def test_eigenbasis_penalty_equals_direct_trace_form():
    g = torch.Generator().manual_seed(2)
    a_matrix, b_matrix = _random_psd(6, g), _random_psd(4, g)
    a_eig, b_eig = Eigenbasis.of(a_matrix), Eigenbasis.of(b_matrix)
    prior = LinearPrior.from_factors(b_eig, a_eig, energy=1.0, has_bias=False)
    assert prior.significance.shape == (4, 6) and float(prior.significance.max()) == pytest.approx(1.0)
    delta = torch.randn(4, 6, generator=g)
    direct = 0.5 * torch.trace(delta.T @ b_matrix @ delta @ a_matrix)
    scale = float(torch.linalg.eigvalsh(b_matrix).max() * torch.linalg.eigvalsh(a_matrix).max())
    torch.testing.assert_close(prior.penalty(delta), direct / scale, rtol=1e-4, atol=1e-6)
    # truncation only drops non-negative terms
    truncated = LinearPrior.from_factors(b_eig, a_eig, energy=0.8, has_bias=False)
    assert truncated.significance.numel() < prior.significance.numel()
    assert float(truncated.penalty(delta)) <= float(prior.penalty(delta)) + 1e-6


def test_rank_for_energy_counts_by_hand():
    basis = Eigenbasis(torch.tensor([5.0, 3.0, 1.5, 0.5]), torch.eye(4))  # cumulative 0.5, 0.8, 0.95, 1.0
    assert [basis.rank_for_energy(e) for e in (0.5, 0.79, 0.8, 0.9, 0.99, 1.0)] == [1, 2, 2, 3, 4, 4]


def test_decoupled_prior_step_shrinks_only_steep_directions():
    g = torch.Generator().manual_seed(3)
    a_eig, b_eig = Eigenbasis.of(_random_psd(7, g)), Eigenbasis.of(_random_psd(5, g))
    prior = LinearPrior.from_factors(b_eig, a_eig, energy=0.7, has_bias=False)
    r_out, r_in = prior.significance.shape
    assert r_out < 5 and r_in < 7  # there are flat directions on both sides
    delta = torch.randn(5, 7, generator=g)
    strength = 3.0
    shrunk = prior.shrink(delta, strength)
    before = b_eig.vectors.T @ delta @ a_eig.vectors  # full eigenbasis coordinates
    after = b_eig.vectors.T @ shrunk @ a_eig.vectors
    expected = before.clone()
    expected[:r_out, :r_in] = before[:r_out, :r_in] / (1.0 + strength * prior.significance)
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5)
    flat = torch.ones_like(before, dtype=torch.bool)
    flat[:r_out, :r_in] = False
    torch.testing.assert_close(after[flat], before[flat], rtol=1e-4, atol=1e-5)
    # the steepest direction shrinks by exactly 1 / (1 + strength)
    assert float(after[0, 0] / before[0, 0]) == pytest.approx(1.0 / (1.0 + strength), rel=1e-4)


def test_transfer_step_equals_closed_form():
    previous = torch.tensor([1.0, 1.0, -2.0, 0.5])
    proposed = torch.tensor([3.0, 0.0, -2.0, 1.5])
    significance = torch.tensor([0.5, 1.0, 0.3, 0.0])
    result = transfer_step(previous, proposed, significance, strength=2.0)
    # by hand: 1 + 2/(1+1) = 2; 1 - 1/(1+2) = 2/3; unchanged weight stays; T=0 takes the full step
    torch.testing.assert_close(result, torch.tensor([2.0, 2.0 / 3.0, -2.0, 1.5]))


def test_transfer_significance_ema_and_normalisation():
    transfer = TransferSignificance(decay=0.9)
    first = transfer.update("w", torch.tensor([1.0, -2.0, 0.0]))
    torch.testing.assert_close(first, torch.tensor([0.25, 1.0, 0.0]))  # g^2 / max
    second = transfer.update("w", torch.tensor([3.0, 0.0, 1.0]))
    ema = torch.tensor([0.9 * 1 + 0.1 * 9, 0.9 * 4 + 0.1 * 0, 0.9 * 0 + 0.1 * 1])
    torch.testing.assert_close(second, ema / ema.max())
    assert hoyer_sparsity(torch.tensor([0.0, 0.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert hoyer_sparsity(torch.ones(9)) == pytest.approx(0.0, abs=1e-7)
    sparse = TransferSignificance(hoyer=True).update("w", torch.tensor([1.0, 1.0, 0.0, 0.0]))
    h = (2.0 - 2.0 / math.sqrt(2.0)) / (2.0 - 1.0)
    torch.testing.assert_close(sparse, torch.tensor([1.0, 1.0, 0.0, 0.0]) * h)


def test_kappa_schedules():
    assert kappa(0.0) == pytest.approx(1.0) and kappa(0.5) == pytest.approx(0.5) and kappa(1.0) == pytest.approx(0.0)
    assert kappa(0.25, "linear") == pytest.approx(0.75)
    assert kappa(0.9, "constant", 0.3) == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="srft.schedule"):
        kappa(0.1, "exp")


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.out = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.out(self.norm(self.fc(x)))


def test_prior_cache_is_reused_and_invalidated(tmp_path):
    torch.manual_seed(4)
    model = _Tiny()
    batches = [{"x": torch.randn(2, 5, 3), "t": torch.softmax(torch.randn(2, 5, 2), -1)} for _ in range(3)]
    original_state = {k: v.clone() for k, v in model.state_dict().items()}
    original_batches = [{k: v.clone() for k, v in b.items()} for b in batches]
    calls = []

    def loss_fn(m, b):
        calls.append(1)
        return _loss(m(b["x"]), b["t"])

    first, path, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert not hit and path.is_file() and len(calls) == 3
    assert set(first.has_bias) == {"fc", "out"} and set(first.diagonal) == {"norm.weight", "norm.bias"}
    again, path_again, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert hit and path_again == path and len(calls) == 3  # nothing recomputed
    for name in first.output_eigs:
        torch.testing.assert_close(again.output_eigs[name].vectors, first.output_eigs[name].vectors)
        torch.testing.assert_close(again.input_eigs[name].values, first.input_eigs[name].values)
    torch.testing.assert_close(again.diagonal["norm.bias"], first.diagonal["norm.bias"])
    # other data -> recomputed
    batches[1]["x"][0, 0, 0] += 1.0
    _, other_path, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert not hit and other_path != path and len(calls) == 6
    # other weights -> recomputed; other mode -> recomputed
    with torch.no_grad():
        model.norm.weight[0] += 0.5
    _, _, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert not hit and len(calls) == 9
    diag, _, hit = cached_prior_factors(model, batches, loss_fn, tmp_path, mode="diag")
    assert not hit and diag.has_bias == {} and "fc.weight" in diag.diagonal
    # back to the first weights and data: the first file again; but one whose stored key differs is not trusted
    model.load_state_dict(original_state)
    _, same_path, hit = cached_prior_factors(model, original_batches, loss_fn, tmp_path)
    assert hit and same_path == path
    path.write_bytes(other_path.read_bytes())
    _, _, hit = cached_prior_factors(model, original_batches, loss_fn, tmp_path)
    assert not hit


@pytest.mark.parametrize("damage", ["cut", "garbage"])
def test_a_cut_or_garbled_prior_cache_is_measured_again(tmp_path, capsys, damage):
    torch.manual_seed(4)
    model = _Tiny()
    batches = [{"x": torch.randn(2, 5, 3), "t": torch.softmax(torch.randn(2, 5, 2), -1)} for _ in range(2)]
    loss_fn = lambda m, b: _loss(m(b["x"]), b["t"])  # noqa: E731
    first, path, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "cut" else b"\x20\x00\x00\x00\x00\x00\x00\x00" + b"{" * 40)
    capsys.readouterr()
    again, path_again, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert not hit and path_again == path
    assert f"SRFT prior cache {path}: unreadable" in capsys.readouterr().err
    torch.testing.assert_close(again.diagonal["norm.bias"], first.diagonal["norm.bias"])
    _, _, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert hit  # rewritten whole


# ---- the method on generic modules (the tracker is not needed for these) --------------


class _Branches(nn.Module):
    """Two copies of one pretrained network, like dual_branch's RGB and X branches."""

    def __init__(self, pretrained: _Tiny):
        super().__init__()
        import copy

        self.rgb, self.aux = copy.deepcopy(pretrained), copy.deepcopy(pretrained)
        self.extra = nn.Parameter(torch.zeros(2))  # a new parameter with no RGB counterpart

    def forward(self, x):
        return 0.5 * (self.rgb(x) + self.aux(x)) + self.extra


def _toy_batches(n=4):
    g = torch.Generator().manual_seed(5)
    return [{"template_rgb": torch.randn(4, 5, 3, generator=g),
             "search_box": torch.softmax(torch.randn(4, 5, 2, generator=g), -1)} for _ in range(n)]


def _toy_loss(m, b):
    return _loss(m(b["template_rgb"]), b["search_box"])


def _srft_config(**srft):
    from tracktune.config import load_config

    overrides = ["methods=[full, srft]", "srft.n_batches=6", "srft.cache_dir=null", "train.lr=0.1"]
    overrides += [f"srft.{k}={v}" for k, v in srft.items()]
    return load_config(None, overrides)


def test_srft_is_registered_and_needs_a_fine_tuning_method():
    from tracktune.adapt import METHODS
    from tracktune.adapt.srft import SRFTMethod
    from tracktune.config import load_config

    assert METHODS["srft"] is SRFTMethod
    with pytest.raises(ConfigError, match=r"\[full, srft\]"):
        build_methods(load_config(None, ["methods=[srft]"]))
    with pytest.raises(ConfigError, match="diag"):
        build_methods(load_config(None, ["methods=[lora, srft]", "srft.mode=diag"]))


def test_after_step_composes_transfer_then_prior_step():
    from tracktune.adapt.srft import SRFTMethod

    torch.manual_seed(6)
    reference = _Tiny()
    model = _Branches(reference)
    config = _srft_config(energy=0.9, lambda_p=2.0, lambda_t=3.0)
    method = SRFTMethod(config)
    method.before_training(model, _toy_batches(), reference=reference, loss_fn=_toy_loss)
    # both copies of each Linear answer to the one RGB layer's prior (shared), LayerNorms are diagonal
    names = sorted(t.name for t in method.linear_targets)
    assert names == ["aux.fc", "aux.out", "rgb.fc", "rgb.out"]
    by_name = {t.name: t for t in method.linear_targets}
    assert by_name["rgb.fc"].prior is by_name["aux.fc"].prior
    assert sorted(t.name for t in method.diagonal_targets) == ["aux.norm.bias", "aux.norm.weight",
                                                               "rgb.norm.bias", "rgb.norm.weight"]
    # one optimiser-like step with known gradients
    previous = {n: p.detach().clone() for n, p in model.named_parameters()}
    _toy_loss(model, _toy_batches(1)[0]).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    proposed = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    progress = 0.3
    method.after_step(model, StepInfo(step=3, total_steps=10, lr=0.1))  # progress 0.3, train.lr
    k = kappa(progress)
    c = (1 - k) * 3.0
    strength = 0.1 * k * 2.0
    params = dict(model.named_parameters())
    for name in params:
        t = grads[name].square() / grads[name].square().max()
        damped = previous[name] + (proposed[name] - previous[name]) / (1 + c * t)
        if name == "extra":
            torch.testing.assert_close(params[name], damped)  # no prior for a new parameter
        if name == "rgb.norm.weight":
            target = {t.name: t for t in method.diagonal_targets}[name]
            expected = previous[name] + (damped - previous[name]) / (1 + strength * target.significance)
            torch.testing.assert_close(params[name], expected)
    fc = by_name["rgb.fc"]
    damped_w = {n: previous[n] + (proposed[n] - previous[n]) / (1 + c * grads[n].square() / grads[n].square().max())
                for n in ("rgb.fc.weight", "rgb.fc.bias")}
    delta = augmented(damped_w["rgb.fc.weight"], damped_w["rgb.fc.bias"]) - fc.initial
    expected = fc.initial + fc.prior.shrink(delta, strength)
    torch.testing.assert_close(augmented(params["rgb.fc.weight"], params["rgb.fc.bias"]), expected)
    # the snapshot is the new weights
    torch.testing.assert_close(method.previous["rgb.fc.weight"], params["rgb.fc.weight"])


def test_coupled_penalty_matches_targets_and_grows_with_distance():
    from tracktune.adapt.srft import SRFTMethod

    torch.manual_seed(7)
    reference = _Tiny()
    model = _Branches(reference)
    method = SRFTMethod(_srft_config(coupled="true"))
    method.before_training(model, _toy_batches(), reference=reference, loss_fn=_toy_loss)
    assert float(method.extra_losses(model, {}, {}, StepInfo(0, 10, 0.1))["srft_prior"].detach()) == 0.0  # at W_0
    with torch.no_grad():
        model.rgb.fc.weight.add_(0.5)
    small = method.extra_losses(model, {}, {}, StepInfo(0, 10, 0.1))["srft_prior"].detach()
    with torch.no_grad():
        model.rgb.fc.weight.add_(0.5)
    large = method.extra_losses(model, {}, {}, StepInfo(0, 10, 0.1))["srft_prior"].detach()
    assert float(large) == pytest.approx(4.0 * float(small), rel=1e-4)  # quadratic in dW
    assert float(method.extra_losses(model, {}, {}, StepInfo(10, 10, 0.1))["srft_prior"].detach()) == pytest.approx(0.0)  # kappa(1) = 0


def test_lora_update_gets_the_prior_by_least_squares():
    from peft import LoraConfig, inject_adapter_in_model

    from tracktune.adapt.srft import SRFTMethod

    torch.manual_seed(8)
    reference = _Tiny()
    import copy

    model = inject_adapter_in_model(LoraConfig(r=2, lora_alpha=4, target_modules=["fc"], init_lora_weights=False),
                                    copy.deepcopy(reference))
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name)
    config = _srft_config(energy=1.0, lambda_t=0.0)
    config.methods = ["lora", "srft"]
    method = SRFTMethod(config)
    method.before_training(model, _toy_batches(), reference=reference, loss_fn=_toy_loss)
    assert [t.name for t in method.linear_targets] == ["fc"] and method.linear_targets[0].lora is not None
    target = method.linear_targets[0]
    down, up = model.fc.lora_A["default"].weight, model.fc.lora_B["default"].weight
    scaling = model.fc.scaling["default"]
    delta = target.delta()
    torch.testing.assert_close(delta[:, :3], scaling * up @ down)
    assert torch.all(delta[:, 3] == 0)  # LoRA adds no bias
    before_up = up.detach().clone()
    _toy_loss(model, _toy_batches(1)[0]).backward()
    method.after_step(model, StepInfo(step=0, total_steps=10, lr=0.1))
    shrunk = target.prior.shrink(delta, 0.1 * 1.0 * 1.0)[:, :3]
    a = down.detach()
    expected_up = shrunk @ a.T @ torch.linalg.inv(a @ a.T) / scaling  # min ||B A s - dW'|| over B
    torch.testing.assert_close(up.detach(), expected_up, rtol=1e-3, atol=1e-5)
    assert not torch.allclose(up.detach(), before_up)
    assert torch.equal(model.fc.base_layer.weight, reference.fc.weight)  # the base stays W_0


class _ThreeReaders(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(3, 2), nn.Linear(3, 2), nn.Linear(3, 4, bias=False)

    def forward(self, x):
        return (self.q(x) * self.k(x)).sum(-1) + self.v(x).square().sum(-1) + self.v(x * 2).sum(-1)


def test_input_moments_of_layers_reading_one_tensor():
    torch.manual_seed(9)
    model = _ThreeReaders()
    x = torch.randn(2, 4, 3)
    factors = collect_prior_factors(model, [{"x": x}], lambda m, b: m(b["x"]).mean())
    rows = torch.cat([x.reshape(-1, 3), torch.ones(8, 1)], 1)
    direct_bias = rows.T @ rows / 8
    doubled = x.reshape(-1, 3)
    direct_v = (doubled.T @ doubled + 4 * doubled.T @ doubled) / 16  # v reads x and 2x
    for name, expected in (("q", direct_bias), ("k", direct_bias), ("v", direct_v)):
        eig = factors.input_eigs[name]
        torch.testing.assert_close((eig.vectors * eig.values) @ eig.vectors.T, expected, rtol=1e-4, atol=1e-5)
    assert factors.input_eigs["q"] is factors.input_eigs["k"]  # one decomposition for one moment


def test_prior_cache_with_shared_input_decompositions(tmp_path):
    """q, k and v share one decomposition of A in memory; the cache stores and restores it."""
    torch.manual_seed(10)
    model = _ThreeReaders()
    batches = [{"x": torch.randn(2, 4, 3)}]
    loss_fn = lambda m, b: m(b["x"]).mean()  # noqa: E731
    first, path, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert not hit and first.input_eigs["q"] is first.input_eigs["k"]
    again, _, hit = cached_prior_factors(model, batches, loss_fn, tmp_path)
    assert hit
    for name in ("q", "k", "v"):
        torch.testing.assert_close(again.input_eigs[name].vectors, first.input_eigs[name].vectors, rtol=0, atol=0)
        torch.testing.assert_close(again.output_eigs[name].values, first.output_eigs[name].values, rtol=0, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_concurrent_cache_writers_leave_one_complete_file(tmp_path):
    """Two writers of one key use their own temporary names and rename atomically."""
    import threading

    from tracktune.adapt.srft import load_prior_factors, save_prior_factors

    torch.manual_seed(11)
    model = _Tiny()
    batches = [{"x": torch.randn(2, 5, 3), "t": torch.softmax(torch.randn(2, 5, 2), -1)}]
    factors = collect_prior_factors(model, batches, lambda m, b: _loss(m(b["x"]), b["t"]))
    path = tmp_path / "prior.safetensors"
    errors = []

    def write():
        try:
            for _ in range(5):
                save_prior_factors(path, factors, "k")
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert [p.name for p in tmp_path.iterdir()] == ["prior.safetensors"]
    loaded = load_prior_factors(path, "k")
    torch.testing.assert_close(loaded.output_eigs["fc"].vectors, factors.output_eigs["fc"].vectors, rtol=0, atol=0)


def test_shipped_srft_configs_load_and_build():
    """tiny_srft mirrors srft_b256_rgbt (dual_branch, full + srft) at the tiny_rgbt model size."""
    from pathlib import Path

    from tracktune.adapt.srft import SRFTMethod
    from tracktune.config import load_config
    from tracktune.model import build_model

    root = Path(__file__).resolve().parents[2] / "src" / "tracktune" / "configs"
    tiny, big, rgbt = (load_config(root / f"{n}.yaml") for n in ("tiny_srft", "srft_b256_rgbt", "tiny_rgbt"))
    for config in (tiny, big):
        assert config.methods == ["full", "srft"] and config.model.fusion == "dual_branch"
        SRFTMethod(config)
    for key in ("design", "embed_dim", "depth", "num_heads", "patch_size", "template_size", "search_size"):
        assert getattr(tiny.model, key) == getattr(rgbt.model, key), key
    assert tiny.data.modality == rgbt.data.modality == "thermal"
    big_srft = {k: v for k, v in vars(big.srft).items() if k != "lambda_p"}
    assert {k: v for k, v in vars(tiny.srft).items() if k != "lambda_p"} == big_srft
    model = build_model(tiny)  # the tiny dual-branch tracker builds (random weights: no pretrained file here)
    assert hasattr(model.fusion_module, "aux_blocks") and len(model.fusion_module.aux_blocks) == 4
