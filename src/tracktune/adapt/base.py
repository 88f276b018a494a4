"""The `Method` contract: what an adaptation method declares and the hooks it implements.

A method declares, as class attributes, everything the trainer, `model-info`, checkpoints and
composition need to know about it, so that none of them names a method:

- `trains`: its `prepare` decides which parameters train (full, lora, patrack); a method that
  only adds a loss or a step (srft, fctl) leaves that to another one.
- `requires_one_of`, `excludes`: which other methods it must / must not be listed with;
  `fusions`: the model fusions it works on (None: every fusion). Checked in one place,
  `tracktune.adapt.build_methods`.
- `reads_frozen_weights`: it reads the exact values of frozen weights, so the trainer must not
  store frozen Linears in the autocast dtype (SRFT matches them to the RGB model's).
- `before_training_rank0_first`: under DDP, rank 0 runs `before_training` before the others
  (what it caches, e.g. SRFT's prior factors, the other ranks then read).
- `parameter_groups` and `parameter_group(name)`: the reporting / optimiser groups of the
  parameters it attaches (registered on the model before `prepare`).
- `prepare_precision(model)`: precision preparation under autocast (LoRA keeps peft's inputs
  in the autocast dtype).

Per-step hooks receive one `StepInfo` (step, total steps, progress, learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Optional

import torch
from torch import nn


@dataclass(frozen=True)
class StepInfo:
    """Where training stands when a per-step hook runs.

    In `extra_losses`: `step` optimiser steps are done (the one being computed is step + 1);
    in `after_step`: `step` counts the step just taken. `lr` is the base learning rate of that
    step (before layer-wise or head scaling)."""

    step: int
    total_steps: int
    lr: float

    @property
    def progress(self) -> float:
        """step / total steps, in [0, 1]."""
        return self.step / self.total_steps


class Method:
    """The hooks the trainer, the tracker and `model-info` call on an adaptation method."""

    name: ClassVar[str] = "base"
    trains: ClassVar[bool] = False
    requires_one_of: ClassVar[tuple[str, ...]] = ()
    excludes: ClassVar[tuple[str, ...]] = ()
    fusions: ClassVar[Optional[tuple[str, ...]]] = None
    reads_frozen_weights: ClassVar[bool] = False
    before_training_rank0_first: ClassVar[bool] = False
    parameter_groups: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any) -> None:
        self.config = config  # the whole ExperimentConfig

    @classmethod
    def parameter_group(cls, name: str) -> Optional[str]:
        """The group (one of `parameter_groups`) of a parameter this method attaches; None for
        parameters it does not own."""
        return None

    def check(self, config: Any) -> None:
        """Config checks that depend on the other listed methods (`config.methods`), beyond the
        declarations; raise `ConfigError`."""

    def prepare(self, model: nn.Module) -> nn.Module:
        """Attach modules and set `requires_grad` (what trains). Returns the model."""
        return model

    def prepare_precision(self, model: nn.Module) -> None:
        """Adjust the prepared model for training under autocast (train.amp not none)."""

    def before_training(self, model: nn.Module, batches: Iterable[dict]) -> None:
        """One-off work on the target data before the first step (SRFT's prior)."""

    def return_blocks(self, model: nn.Module) -> tuple[int, ...]:
        """0-based blocks whose search grids `extra_losses` reads in `outputs["blocks"]`; the
        trainer passes the union over methods as the forward's `return_blocks` (FCTL)."""
        return ()

    def extra_losses(self, model: nn.Module, batch: dict, outputs: dict, step: StepInfo) -> dict[str, torch.Tensor]:
        """Loss terms added to the tracking loss."""
        return {}

    def after_step(self, model: nn.Module, step: StepInfo) -> None:
        """Called after each optimiser step, before the gradients are cleared (SRFT's
        decoupled and proximal steps)."""

    def state_dict(self) -> dict:
        """What the method holds outside the model's parameters and needs to continue a run
        (SRFT's transfer EMA and prior mapping), saved in the checkpoint's `state.pt`: tensors,
        numbers, strings and lists / dicts of them only (read with `weights_only=True`)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict()` when resuming: called after the checkpoint's weights are
        loaded and before `before_training`, for every method (`{}` when the checkpoint holds
        none for it)."""

    def export(self, model: nn.Module) -> nn.Module:
        """The inference model (LoRA merged into the base weights)."""
        return model


class FullFineTuning(Method):
    """Every parameter trains (the plain baseline SRFT regularises)."""

    name = "full"
    trains = True

    def prepare(self, model: nn.Module) -> nn.Module:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model


class Frozen(Method):
    """Nothing trains: the RGB tracker used as is (the `rgb` baseline and teachers)."""

    name = "frozen"

    def prepare(self, model: nn.Module) -> nn.Module:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return model
