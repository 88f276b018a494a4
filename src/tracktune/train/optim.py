"""Optimiser, learning-rate schedule, step plan and precision preparation of a training run.

- `train.batch_size` is the global batch of one optimiser step: split over the ranks and the
  `grad_accum` micro-batches (it must divide evenly; `StepPlan`).
- AdamW with parameter groups: no weight decay on 1-D parameters (biases, norms, layer scale)
  and embeddings (position, token type); optional layer-wise lr decay
  (`layer_decay ** (depth + 1 - layer)`, embeddings layer 0, block i layer i + 1, the rest
  depth + 1); `head_lr_scale` on the head. Groups come from `model.parameter_group`, which
  asks the attached methods first (they register their groups), so nothing here names one.
- Linear warm-up (`warmup_fraction` of the steps) then cosine to 0, stepped per iteration.
- `cast_frozen_linears`: frozen Linear weights stored in the autocast dtype
  (`train.frozen_dtype: amp`), unless a method reads the frozen values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from tracktune.adapt import METHODS
from tracktune.config import ExperimentConfig
from tracktune.errors import ConfigError

EMBEDDING_GROUPS = ("position", "type_embed")
INPUT_GROUPS = ("patch_embed", "aux_patch_embed", "position", "type_embed")


def _group_of(model: nn.Module, name: str) -> str:
    group_fn = getattr(model, "parameter_group", None)
    return group_fn(name) if group_fn is not None else "blocks"


def layer_id(model: nn.Module, name: str, depth: int) -> int:
    """0 for input embeddings, i + 1 for block i (its LoRA and adapters too), depth + 1 otherwise."""
    match = re.search(r"(?:^|\.)\w*blocks\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    if _group_of(model, name) in INPUT_GROUPS:
        return 0
    return depth + 1


def no_weight_decay(model: nn.Module, name: str, parameter: torch.Tensor) -> bool:
    """1-D parameters (biases, norms, layer scales) and embeddings take no weight decay."""
    leaf = name.rsplit(".", 1)[-1]
    return parameter.ndim <= 1 or _group_of(model, name) in EMBEDDING_GROUPS or "embed" in leaf


def parameter_groups(model: nn.Module, train_config) -> list[dict]:
    """AdamW groups of the trainable parameters keyed by (weight decay, lr scale)."""
    depth = int(getattr(model, "depth", 0))
    groups: dict[tuple, dict] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decay = 0.0 if no_weight_decay(model, name, parameter) else train_config.weight_decay
        scale = 1.0
        if train_config.layer_decay is not None:
            scale *= train_config.layer_decay ** (depth + 1 - layer_id(model, name, depth))
        if _group_of(model, name) == "head":
            scale *= train_config.head_lr_scale
        key = (decay, scale)
        if key not in groups:
            groups[key] = {"params": [], "weight_decay": decay, "lr": train_config.lr * scale, "lr_scale": scale,
                           "param_names": []}
        groups[key]["params"].append(parameter)
        groups[key]["param_names"].append(name)
    if not groups:
        trainers = ", ".join(name for name, method in METHODS.items() if method.trains)
        raise ConfigError(f"methods: no parameter trains; list a method that trains something ({trainers})")
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, train_config, device: torch.device) -> torch.optim.Optimizer:
    groups = parameter_groups(model, train_config)
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=train_config.lr, betas=(0.9, 0.999), eps=1e-8, fused=fused)


class WarmupCosine:
    """lr factor at step s: (s + 1) / warmup during warm-up, then 0.5 (1 + cos(pi * progress)) to 0."""

    def __init__(self, total_steps: int, warmup_steps: int) -> None:
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float):
    warmup = int(round(warmup_fraction * total_steps)) if warmup_fraction > 0 else 0
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(total_steps, warmup))


def cast_frozen_linears(model: nn.Module, dtype: torch.dtype) -> int:
    """Store the weights of frozen `nn.Linear`s (LoRA's base layers) in `dtype`; returns how many.

    Under autocast these matmuls run in `dtype` anyway, so the results are the ones autocast
    gives; the fp32 copies (and autocast's per-step casts, saved again for backward) go away.
    The trainer skips it when a method reads the frozen values (`Method.reads_frozen_weights`)."""
    cast = 0
    for module in model.modules():
        if isinstance(module, nn.Linear) and not module.weight.requires_grad and module.weight.dtype != dtype:
            module.weight.data = module.weight.data.to(dtype)
            cast += 1
    return cast


@dataclass
class StepPlan:
    """How the global batch splits and how many steps the run takes."""

    micro_batch: int
    steps_per_epoch: int
    total_steps: int

    @classmethod
    def of(cls, config: ExperimentConfig, world_size: int) -> "StepPlan":
        t = config.train
        split = world_size * t.grad_accum
        if t.batch_size < 1 or t.grad_accum < 1:
            raise ConfigError(f"train.batch_size ({t.batch_size}) and train.grad_accum ({t.grad_accum}) must be >= 1")
        if t.batch_size % split:
            raise ConfigError(f"train.batch_size {t.batch_size} (the global batch) is not divisible by "
                              f"{world_size} processes x train.grad_accum {t.grad_accum}")
        steps_per_epoch = config.data.samples_per_epoch // t.batch_size
        if steps_per_epoch < 1:
            raise ConfigError(f"data.samples_per_epoch {config.data.samples_per_epoch} is smaller than "
                              f"train.batch_size {t.batch_size}: no step per epoch")
        for key in ("log_every", "checkpoint_every"):
            if getattr(t, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
        if t.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {t.epochs}")
        return cls(t.batch_size // split, steps_per_epoch, steps_per_epoch * t.epochs)

