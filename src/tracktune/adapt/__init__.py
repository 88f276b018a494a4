"""Adaptation methods: each says what trains, what it adds to the model and to the loss.

A method is a `Method` subclass; `METHODS` maps the names a config lists (`methods: [lora,
fctl]`) to them. Methods compose: the trainer calls each hook of each listed method in
order. The base model never knows which methods are attached (peft's habit: methods wrap
or attach to modules by name).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn


class Method:
    """The hooks the trainer, the tracker and `model-info` call on an adaptation method."""

    name = "base"

    def __init__(self, config: Any) -> None:
        self.config = config  # the whole ExperimentConfig

    def prepare(self, model: nn.Module) -> nn.Module:
        """Attach modules and set `requires_grad` (what trains). Returns the model."""
        return model

    def before_training(self, model: nn.Module, batches: Iterable[dict]) -> None:
        """One-off work on the target data before the first step (SRFT's prior)."""

    def return_blocks(self, model: nn.Module) -> tuple[int, ...]:
        """0-based blocks whose search grids `extra_losses` reads in `outputs["blocks"]`; the
        trainer passes the union over methods as the forward's `return_blocks` (FCTL)."""
        return ()

    def extra_losses(self, model: nn.Module, batch: dict, outputs: dict, progress: float) -> dict[str, torch.Tensor]:
        """Loss terms added to the tracking loss; `progress` = step / total steps."""
        return {}

    def after_step(self, model: nn.Module, progress: float) -> None:
        """Called after each optimiser step (SRFT's decoupled and proximal steps)."""

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


from tracktune.adapt.lora import LoraMethod  # noqa: E402 (method modules need Method, defined above)
from tracktune.adapt.srft import SRFTMethod  # noqa: E402
from tracktune.adapt.fctl import FCTLMethod  # noqa: E402
from tracktune.adapt.patrack import PATrackMethod  # noqa: E402

# name -> Method subclass; each method module adds its entry here.
METHODS: dict[str, type[Method]] = {
    "full": FullFineTuning,
    "frozen": Frozen,
    "lora": LoraMethod,
    "srft": SRFTMethod,
    "fctl": FCTLMethod,
    "patrack": PATrackMethod,
}
