"""SRFT's released-code transfer variant: rank factors against a brute-force loop, the
released gather against the intended scatter, and the damped step."""

from __future__ import annotations

import pytest
import torch

from tracktune.adapt.srft.rank import RankTransfer, rank_factors, released_gather_factors


def brute_force(values: list[float], low: float, high: float) -> list[float]:
    n = len(values)
    out = []
    for i, v in enumerate(values):
        rank = sum(1 for j, w in enumerate(values) if w < v or (w == v and j < i))  # stable ascending rank
        out.append(low + (high - low) * rank / (n - 1))
    return out


def test_rank_factors_follow_each_elements_own_rank():
    values = torch.tensor([[0.3, 5.0, 0.1], [2.0, 0.3, 7.5]])
    expected = torch.tensor(brute_force(values.flatten().tolist(), 0.25, 0.65)).view(2, 3)
    assert torch.allclose(rank_factors(values), expected)
    assert rank_factors(values)[1, 2] == pytest.approx(0.65) and rank_factors(values)[0, 2] == pytest.approx(0.25)


def test_released_gather_puts_factors_on_other_elements():
    values = torch.tensor([0.3, 5.0, 0.1, 2.0])  # ranks 1, 3, 0, 2
    scatter, gather = rank_factors(values), released_gather_factors(values)
    assert not torch.allclose(scatter, gather)
    assert gather[1] != pytest.approx(0.65)  # the most sensitive element does not get the largest factor
    increasing = torch.arange(6.0)  # sort order = index order: the two agree
    assert torch.allclose(rank_factors(increasing), released_gather_factors(increasing))


def test_step_keeps_less_of_the_step_where_the_gradient_was_larger():
    transfer = RankTransfer(0.25, 0.65)
    previous, proposed = torch.zeros(3), torch.ones(3)
    grad = torch.tensor([1.0, 3.0, 2.0])
    out = transfer.step("w", previous, proposed, grad)
    assert torch.allclose(out, torch.tensor([0.75, 0.35, 0.55]))  # keeps 1 - m of each step
    # the next step ranks by the mean of the two squared gradients: (1+16)/2, (9+0)/2, (4+1)/2
    out = transfer.step("w", previous, proposed, torch.tensor([4.0, 0.0, 1.0]))
    assert torch.allclose(out, torch.tensor([0.35, 0.55, 0.75]))
    with pytest.raises(ValueError, match="rank_range"):
        RankTransfer(0.7, 0.2)


def test_srft_method_with_the_rank_transfer_damps_each_element_by_its_rank():
    """`srft.transfer: rank`, no prior: after one step each parameter equals the previous
    weights plus (1 - m) of the step, m from the brute-force ranks of its squared gradient."""
    from test_srft import _Branches, _Tiny, _srft_config, _toy_batches, _toy_loss

    from tracktune.adapt import StepInfo
    from tracktune.adapt.srft import SRFTMethod
    from tracktune.errors import ConfigError

    torch.manual_seed(7)
    reference = _Tiny()
    model = _Branches(reference)
    method = SRFTMethod(_srft_config(transfer="rank", lambda_p=0.0))
    method.before_training(model, _toy_batches(), reference=reference, loss_fn=_toy_loss)
    previous = {n: p.detach().clone() for n, p in model.named_parameters()}
    _toy_loss(model, _toy_batches(1)[0]).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    proposed = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    method.after_step(model, StepInfo(step=3, total_steps=10, lr=0.1))
    for name, parameter in model.named_parameters():
        m = torch.tensor(brute_force(grads[name].square().flatten().tolist(), 0.25, 0.65)).view_as(parameter)
        torch.testing.assert_close(parameter.detach(), previous[name] + (1 - m) * (proposed[name] - previous[name]))
    with pytest.raises(ConfigError, match="rank_range"):
        SRFTMethod(_srft_config(transfer="rank", rank_range="[0.9, 0.1]"))
