"""Where SRFT's prior applies in the adapted model: each adapted layer matched to the RGB
layer it came from (by equal values), and the targets the hooks step."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from tracktune.adapt.lora import base_linear, is_lora_parameter, lora_and_plain_linears, lora_parts
from tracktune.adapt.srft.kfac import PriorFactors, join_name
from tracktune.adapt.srft.priors import LinearPrior, augmented, normalised_diagonal
from tracktune.errors import CheckpointError


def _content_key(tensor: torch.Tensor) -> tuple:
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"").hexdigest()
    return tuple(tensor.shape), str(tensor.dtype), digest


def _name_affinity(a: str, b: str) -> int:
    """Length of the common dotted suffix (a tie-break between equal-valued candidates); a
    leading `aux_` (dual_branch's X-branch copies: `aux_norm` of `norm`) does not count."""
    a_parts, b_parts = [p.removeprefix("aux_") for p in a.split(".")[::-1]], b.split(".")[::-1]
    count = 0
    for x, y in zip(a_parts, b_parts):
        if x != y:
            break
        count += 1
    return count


def match_by_value(tensors: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, str]:
    """For each named tensor, the reference tensor holding the same values (same shape, dtype,
    bytes). An adapted model copies its RGB weights (both dual-branch branches, the fusion
    blocks, an aux patch embedding initialised from the RGB one), so equal values identify the
    RGB parameter it came from whatever the fusion names it. Ties (e.g. LayerNorm weights all
    ones in an untrained model) go to the longest common name suffix."""
    buckets: dict[tuple, list[str]] = {}
    for name, tensor in reference.items():
        buckets.setdefault(_content_key(tensor), []).append(name)
    matches = {}
    for name, tensor in tensors.items():
        candidates = buckets.get(_content_key(tensor), [])
        if candidates:
            matches[name] = max(candidates, key=lambda c: (_name_affinity(name, c), -abs(len(c) - len(name))))
    return matches


@dataclass
class LinearTarget:
    """One adapted Linear (or LoRA-wrapped Linear) and the prior it answers to."""

    name: str
    prior: LinearPrior
    weight: nn.Parameter  # full fine-tuning: the trainable weight; LoRA: the frozen base weight
    bias: Optional[nn.Parameter]
    initial: Optional[torch.Tensor]  # W_0 as [W | b] (full fine-tuning only)
    lora: Optional[nn.Module] = None  # the peft LoRA layer when the update is B A

    def delta(self) -> torch.Tensor:
        """dW (out, in') relative to the RGB weights."""
        if self.lora is None:
            return augmented(self.weight, self.bias) - self.initial
        down, up, scaling = lora_parts(self.lora)
        update = scaling * (up.weight @ down.weight)  # (out, in)
        if self.prior.has_bias:
            update = torch.cat([update, update.new_zeros(update.shape[0], 1)], dim=1)
        return update

    @torch.no_grad()
    def shrink(self, strength: float) -> None:
        """The decoupled prior step on this layer's update."""
        delta = self.delta().float()
        shrunk = self.prior.shrink(delta, strength)
        if self.lora is None:
            new = (self.initial + shrunk).to(self.weight.dtype)
            in_features = self.weight.shape[1]
            if self.weight.requires_grad:
                self.weight.copy_(new[:, :in_features])
            if self.bias is not None and self.bias.requires_grad:
                self.bias.copy_(new[:, in_features])
            return
        down, up, scaling = lora_parts(self.lora)
        target = shrunk[:, : down.weight.shape[1]]  # (out, in): the bias column is 0 for LoRA
        a = down.weight.float()  # (r, in)
        gram = a @ a.T  # (r, r)
        ridge = 1e-6 * float(gram.diagonal().mean().clamp_min(1e-12))
        solved = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], device=gram.device), a @ target.T)
        up.weight.copy_((solved.T / scaling).to(up.weight.dtype))  # least squares with A fixed


@dataclass
class DiagonalTarget:
    name: str
    parameter: nn.Parameter
    initial: torch.Tensor
    significance: torch.Tensor  # normalised E[g^2], same shape

    @torch.no_grad()
    def shrink(self, strength: float) -> None:
        delta = self.parameter - self.initial
        self.parameter.copy_(self.initial + delta / (1.0 + strength * self.significance))

    def penalty(self) -> torch.Tensor:
        return 0.5 * (self.significance * (self.parameter - self.initial).square()).sum()


def match_prior(model: nn.Module, reference: nn.Module, factors: PriorFactors
                ) -> tuple[dict[str, str], dict[str, str]]:
    """Which RGB-model layer / parameter each part of `model` came from, by equal values.

    Returns (Linear or LoRA layer name -> reference Linear name, parameter name -> reference
    parameter name with a diagonal Fisher). Full fine-tuning: every trainable Linear whose
    weight (and bias) equals a reference Linear's; every other trainable parameter equal to a
    reference parameter with a diagonal Fisher. LoRA: each LoRA layer whose base weight equals
    a reference Linear. Must run on the model as it starts training (at W_0); a resumed run
    reads the mapping from its checkpoint instead (`SRFTMethod.load_state_dict`).
    """
    reference_linears = {n: m for n, m in reference.named_modules() if type(m) is nn.Linear}
    reference_params = dict(reference.named_parameters())
    wrapped, plain = lora_and_plain_linears(model)
    weights = {n: m.weight for n, m in plain.items() if m.weight.requires_grad}
    weights.update({n: base_linear(m).weight for n, m in wrapped.items()})
    kfac_reference = {n: m.weight for n, m in reference_linears.items() if n in factors.output_eigs}
    linear_map: dict[str, str] = {}
    covered = set()
    for name, reference_name in match_by_value(weights, kfac_reference).items():
        layer = base_linear(wrapped[name]) if name in wrapped else plain[name]
        reference_bias = reference_linears[reference_name].bias
        if (layer.bias is None) != (reference_bias is None):
            continue
        if name not in wrapped:
            if layer.bias is not None and not torch.equal(layer.bias.detach().cpu(), reference_bias.detach().cpu()):
                continue
            covered.add(join_name(name, "weight"))
            if layer.bias is not None:
                covered.add(join_name(name, "bias"))
        linear_map[name] = reference_name
    # everything else that trains: diagonal Fisher
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad and n not in covered}
    trainable = {n: p for n, p in trainable.items() if not is_lora_parameter(n)}
    diagonal_reference = {n: reference_params[n] for n in factors.diagonal if n in reference_params}
    return linear_map, match_by_value(trainable, diagonal_reference)


def attach_prior(model: nn.Module, reference: nn.Module, factors: PriorFactors, energy: float,
                 mapping: Optional[tuple[dict[str, str], dict[str, str]]] = None
                 ) -> tuple[list[LinearTarget], list[DiagonalTarget]]:
    """Map the prior measured on `reference` (the RGB model) onto `model` (the adapted one).

    `mapping` is `match_prior`'s (computed here when None). The anchors W_0 are the reference
    weights (equal to the adapted model's starting weights by construction of the mapping), so
    a resumed run rebuilds them exactly from its mapping. Priors are shared between the adapted
    layers that came from one reference layer (both branches of `dual_branch`).
    """
    linear_map, diagonal_map = mapping if mapping is not None else match_prior(model, reference, factors)
    reference_linears = {n: m for n, m in reference.named_modules() if type(m) is nn.Linear}
    reference_params = dict(reference.named_parameters())
    parameters = dict(model.named_parameters())
    device = next(model.parameters()).device
    wrapped, plain = lora_and_plain_linears(model)
    priors: dict[str, LinearPrior] = {}

    def prior_for(reference_name: str) -> LinearPrior:
        if reference_name not in priors:
            priors[reference_name] = LinearPrior.from_factors(
                factors.output_eigs[reference_name], factors.input_eigs[reference_name], energy,
                factors.has_bias[reference_name]).to(device)
        return priors[reference_name]

    def check(name: str, reference_name: str, known: dict, reference_known: dict, what: str) -> None:
        if name not in known or reference_name not in reference_known:
            raise CheckpointError(f"srft: the saved prior mapping names {what} {name} -> {reference_name}, which the "
                                  "model or the RGB model does not have (was the config changed?)")

    linear_targets = []
    for name, reference_name in linear_map.items():
        check(name, reference_name, {**plain, **wrapped}, {n: 1 for n in factors.output_eigs if n in reference_linears},
              "the Linear")
        reference_layer = reference_linears[reference_name]
        if name in wrapped:
            base = base_linear(wrapped[name])
            linear_targets.append(LinearTarget(name, prior_for(reference_name), base.weight, base.bias, None,
                                               lora=wrapped[name]))
            continue
        layer = plain[name]
        initial = augmented(reference_layer.weight, reference_layer.bias).detach().float().to(device).clone()
        if tuple(initial.shape) != (layer.weight.shape[0], layer.weight.shape[1] + (layer.bias is not None)):
            raise CheckpointError(f"srft: {name} does not have the shape of its RGB layer {reference_name}")
        linear_targets.append(LinearTarget(name, prior_for(reference_name), layer.weight, layer.bias, initial))
    diagonal_targets = []
    for name, reference_name in diagonal_map.items():
        check(name, reference_name, parameters, {n: 1 for n in factors.diagonal if n in reference_params}, "the parameter")
        parameter, anchor = parameters[name], reference_params[reference_name]
        if parameter.shape != anchor.shape:
            raise CheckpointError(f"srft: {name} does not have the shape of its RGB parameter {reference_name}")
        diagonal_targets.append(DiagonalTarget(name, parameter, anchor.detach().to(device, parameter.dtype).clone(),
                                               normalised_diagonal(factors.diagonal[reference_name]).to(device)))
    return linear_targets, diagonal_targets
