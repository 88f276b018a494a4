"""Measuring SRFT's prior on the RGB model: K-FAC factors of every Linear, the diagonal Fisher
of the other parameters."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from tracktune.adapt.srft.priors import Eigenbasis
from tracktune.errors import ConfigError
from tracktune.precision import amp_dtype


class FactorCollector:
    """Accumulates K-FAC factors of Linear layers and the diagonal Fisher of other parameters.

    Use as a context manager around forward/backward passes; call `add_batch(batch_size)`
    after each backward. `linears` maps a name to an nn.Linear; `diagonal` maps a name to a
    parameter whose E[g^2] is wanted. Gradients w.r.t. a Linear's output are captured by a
    tensor hook registered in its forward hook (robust to in-place ops after the layer).
    """

    def __init__(self, linears: dict[str, nn.Linear], diagonal: dict[str, nn.Parameter]) -> None:
        self.linears = linears
        self.diagonal = diagonal
        self.input_sums: dict[str, torch.Tensor] = {}  # name -> (in', in') sum of a a^T
        self.input_rows: dict[str, int] = {}
        self.output_sums: dict[str, torch.Tensor] = {}  # name -> (out, out) sum of g g^T
        self.diagonal_sums: dict[str, torch.Tensor] = {}
        self.samples = 0  # per-sample count (for B and the diagonal)
        self.batches = 0
        self._grad_scale = 1.0
        self._handles: list = []
        self._shared_moments: dict[tuple, tuple] = {}

    def __enter__(self) -> "FactorCollector":
        for name, layer in self.linears.items():
            self._handles.append(layer.register_forward_hook(self._forward_hook(name, layer.bias is not None)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def set_grad_scale(self, scale: float) -> None:
        """Factor applied to captured output gradients (the batch size for a batch-mean loss)."""
        self._grad_scale = float(scale)

    def _forward_hook(self, name: str, has_bias: bool):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not torch.is_grad_enabled():
                return
            source = inputs[0].detach()
            shared = self._shared_moments.get((id(inputs[0]), has_bias))
            moment = shared[1] if shared is not None and shared[0] is inputs[0] else None
            if moment is None:  # q, k and v read one tensor: compute its moment once per pass
                rows = source.reshape(-1, source.shape[-1]).float()  # (M, in)
                if has_bias:
                    rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1)  # (M, in+1)
                moment = rows.T @ rows
                self._shared_moments[(id(inputs[0]), has_bias)] = (inputs[0], moment)  # holds the input: id stays unique
            if name in self.input_sums:
                self.input_sums[name] += moment
            else:
                self.input_sums[name] = moment.clone()
            self.input_rows[name] = self.input_rows.get(name, 0) + source.numel() // source.shape[-1]
            if output.requires_grad:
                output.register_hook(self._output_grad_hook(name))

        return hook

    def _output_grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> None:
            rows = grad.detach().reshape(-1, grad.shape[-1]).float() * self._grad_scale  # (M, out)
            moment = rows.T @ rows
            if name in self.output_sums:
                self.output_sums[name] += moment
            else:
                self.output_sums[name] = moment

        return hook

    def add_batch(self, batch_size: int) -> None:
        """After a backward pass: record its sample count and the diagonal Fisher terms."""
        self._shared_moments.clear()
        for name, parameter in self.diagonal.items():
            if parameter.grad is None:
                continue
            square = parameter.grad.detach().float().square() * float(batch_size)
            if name in self.diagonal_sums:
                self.diagonal_sums[name] += square
            else:
                self.diagonal_sums[name] = square.clone()
        self.samples += int(batch_size)
        self.batches += 1

    def factors(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(A per Linear, B per Linear, diagonal Fisher per parameter) as expectations."""
        missing = [n for n in self.linears if n not in self.output_sums]
        if self.batches == 0 or missing:
            raise ConfigError(
                "srft prior: no gradient reached " + (", ".join(missing[:5]) if missing else "any layer")
                + " (is the loss connected to these layers?)"
            )
        input_moments = {n: s / self.input_rows[n] for n, s in self.input_sums.items()}
        output_moments = {n: s / self.samples for n, s in self.output_sums.items()}
        diagonal = {n: s / self.batches for n, s in self.diagonal_sums.items()}
        return input_moments, output_moments, diagonal


@dataclass
class PriorFactors:
    """Full (untruncated) eigen-decompositions per Linear and diagonal Fisher per parameter,
    keyed by the names in the model they were measured on. This is what the cache holds;
    truncation (`energy`) is applied when they are used, so it is not part of the cache key."""

    output_eigs: dict[str, Eigenbasis]  # B per Linear
    input_eigs: dict[str, Eigenbasis]  # A per Linear (with the bias column when has_bias)
    has_bias: dict[str, bool]
    diagonal: dict[str, torch.Tensor]  # E[g^2] per parameter (not normalised)
    seconds: float = 0.0  # time spent measuring (0 when loaded from the cache)


def collect_prior_factors(model: nn.Module, batches: Iterable[dict], loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                          mode: str = "kfac", amp: str = "none", progress: Optional[Callable[[int], None]] = None
                          ) -> PriorFactors:
    """Run forward/backward over `batches` with the model's weights unchanged and measure the
    K-FAC factors (mode "kfac": every nn.Linear; other parameters diagonal) or only the
    diagonal Fisher (mode "diag"). `loss_fn(model, batch)` returns the batch-mean loss."""
    if mode not in ("kfac", "diag"):
        raise ConfigError(f"srft.mode: {mode!r} is not one of 'kfac', 'diag'")
    start = time.perf_counter()
    linears = {n: m for n, m in model.named_modules() if type(m) is nn.Linear} if mode == "kfac" else {}
    covered = {join_name(n, "weight") for n in linears} | {join_name(n, "bias") for n, m in linears.items() if m.bias is not None}
    parameters = dict(model.named_parameters())
    diagonal = {n: p for n, p in parameters.items() if n not in covered}
    was_training = model.training
    flags = {n: p.requires_grad for n, p in parameters.items()}
    for p in parameters.values():
        p.requires_grad_(True)
    model.eval()  # the pretrained model's tangent space, deterministic (no drop-path): cacheable
    device = next(model.parameters()).device
    autocast_dtype = amp_dtype(amp)
    collector = FactorCollector(linears, diagonal)
    try:
        with collector:
            for index, batch in enumerate(batches):
                model.zero_grad(set_to_none=True)
                batch_size = int(next(iter(batch.values())).shape[0])
                collector.set_grad_scale(batch_size)  # batch-mean loss -> per-sample gradients
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    loss = loss_fn(model, batch)
                loss.float().backward()
                collector.add_batch(batch_size)
                if progress is not None:
                    progress(index + 1)
        input_moments, output_moments, diagonal_fisher = collector.factors()
    finally:
        model.zero_grad(set_to_none=True)
        for n, p in parameters.items():
            p.requires_grad_(flags[n])
        model.train(was_training)
    output_eigs = {n: Eigenbasis.of(m) for n, m in output_moments.items()}
    input_eigs: dict[str, Eigenbasis] = {}
    for name, moment in input_moments.items():  # q, k, v share A: decompose it once
        twin = next((o for o in input_eigs if torch.equal(input_moments[o], moment)), None)
        input_eigs[name] = input_eigs[twin] if twin is not None else Eigenbasis.of(moment)
    has_bias = {n: m.bias is not None for n, m in linears.items()}
    return PriorFactors(output_eigs, input_eigs, has_bias, diagonal_fisher, time.perf_counter() - start)


def join_name(prefix: str, name: str) -> str:
    """`prefix.name` (just `name` at the top level)."""
    return f"{prefix}.{name}" if prefix else name
