"""`SRFTMethod`: the hooks that measure the prior before training and apply both
significances after each step."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from tracktune.adapt.base import Method, StepInfo
from tracktune.adapt.srft.cache import cached_prior_factors, prior_key
from tracktune.adapt.srft.matching import DiagonalTarget, LinearTarget, attach_prior, match_prior
from tracktune.adapt.srft.rank import RankTransfer
from tracktune.adapt.srft.schedule import kappa
from tracktune.adapt.srft.transfer import TransferSignificance, transfer_step
from tracktune.errors import CheckpointError, ConfigError
from tracktune.model import build_model
from tracktune.model.losses import tracking_loss_fn as design_loss_fn
from tracktune.precision import resolve_train_amp

RGB_KEYS = ("template_rgb", "search_rgb", "template_box", "search_box", "template_mask", "search_positive")


def prior_batches(batches: Iterable[dict], n_batches: int, batch_size: int) -> list[dict]:
    """`n_batches` batches of `batch_size` samples of the RGB stream, re-chunked from `batches`."""
    chunks: list[dict] = []
    for batch in batches:
        rgb = {k: v for k, v in batch.items() if k in RGB_KEYS and isinstance(v, torch.Tensor)}
        if "template_rgb" not in rgb:
            raise ConfigError("srft prior: a training batch has no 'template_rgb'")
        total = rgb["template_rgb"].shape[0]
        for start in range(0, total - batch_size + 1, batch_size):
            chunks.append({k: v[start:start + batch_size] for k, v in rgb.items()})
            if len(chunks) == n_batches:
                return chunks
    if not chunks:
        raise ConfigError(f"srft prior: the training data gave no batch of {batch_size} samples")
    raise ConfigError(f"srft prior: the training data gave only {len(chunks)} of srft.n_batches={n_batches} "
                      f"batches of {batch_size}; lower srft.n_batches")


class SRFTMethod(Method):
    """Significance-regularised fine-tuning on top of `full` or `lora` (see the package docstring)."""

    name = "srft"
    requires_one_of = ("full", "lora")  # it regularises what one of these trains
    reads_frozen_weights = True  # the prior is matched to the RGB model by the weights' exact values
    before_training_rank0_first = True  # rank 0 measures and caches the prior factors, the others read them

    def __init__(self, config) -> None:
        super().__init__(config)
        self.settings = config.srft
        self.linear_targets: list[LinearTarget] = []
        self.diagonal_targets: list[DiagonalTarget] = []
        self.transfer = TransferSignificance(self.settings.ema, self.settings.hoyer)
        self.previous: dict[str, torch.Tensor] = {}
        self.learning_rate: Optional[float] = None  # the lr of the last `after_step`
        self.prior_seconds = 0.0
        self.prior_cache: Optional[Path] = None
        self.prior_from_cache = False
        self.prior_key = ""  # prior_key(...) of the prior in use ("" when there is none)
        self.prior_mapping: tuple[dict[str, str], dict[str, str]] = ({}, {})  # match_prior's
        self._resume: Optional[dict] = None  # load_state_dict's state, used by before_training
        kappa(0.0, self.settings.schedule, self.settings.kappa_constant)  # validate early
        # the released code's transfer step (srft.transfer: rank) instead of ours; rank.py
        self.rank_transfer: Optional[RankTransfer] = None
        self.rank_names: set[str] = set()  # the parameters it acts on: every trainable one outside the head
        if self.settings.transfer not in ("proximal", "rank"):
            raise ConfigError(f"srft.transfer: unknown {self.settings.transfer!r} (proximal or rank)")
        if self.settings.transfer == "rank":
            bounds = list(self.settings.rank_range)
            if len(bounds) != 2:
                raise ConfigError(f"srft.rank_range: give [low, high], got {bounds}")
            try:
                self.rank_transfer = RankTransfer(float(bounds[0]), float(bounds[1]))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None

    def check(self, config) -> None:
        if "lora" in config.methods and self.settings.mode == "diag":
            raise ConfigError("srft.mode: 'diag' cannot act on a LoRA update B A; use 'kfac' with lora")

    # ---- hooks ----------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> nn.Module:
        return model  # `full` or `lora` decides what trains

    def before_training(self, model: nn.Module, batches: Iterable[dict],
                        reference: Optional[nn.Module] = None,
                        loss_fn: Optional[Callable[[nn.Module, dict], torch.Tensor]] = None) -> None:
        """Measure (or load) the prior on the RGB model and attach it to `model`.

        `reference` (the RGB model the tracker starts from) and `loss_fn` default to
        `build_model` with `fusion: rgb` on the same pretrained weights, and the tracking loss.
        After `load_state_dict` (a resumed run) the mapping and the transfer EMA come from the
        checkpoint and the prior must have the checkpoint's key.
        """
        settings = self.settings
        resume = self._resume
        if settings.lambda_p > 0 and (settings.decoupled or settings.coupled):
            if reference is None:
                reference = rgb_reference_model(self.config, next(model.parameters()).device)
            if loss_fn is None:
                loss_fn = tracking_loss_fn(self.config)
            chunks = prior_batches(batches, settings.n_batches, settings.prior_batch_size)
            device = next(reference.parameters()).device
            chunks = [{k: v.to(device) for k, v in c.items()} for c in chunks]
            cache_dir = Path(settings.cache_dir).expanduser() if settings.cache_dir else None
            amp = resolve_train_amp(self.config.train.amp, device)  # as the trainer resolves it
            key = prior_key(reference, chunks, settings.mode, amp)
            if resume is not None and resume["prior_key"] != key:
                raise CheckpointError(
                    f"srft: the prior measured now (key {key[:12]}) is not the one the checkpoint was trained with "
                    f"(key {resume['prior_key'][:12] or 'none'}): model.pretrained, the training data or srft.mode "
                    "changed, so the run cannot be resumed")
            factors, self.prior_cache, self.prior_from_cache = cached_prior_factors(
                reference, chunks, loss_fn, cache_dir, settings.mode, amp, key=key)
            self.prior_seconds, self.prior_key = factors.seconds, key
            # a resumed model has moved away from W_0: its mapping comes from the checkpoint
            self.prior_mapping = ((dict(resume["linear_map"]), dict(resume["diagonal_map"])) if resume is not None
                                  else match_prior(model, reference, factors))
            self.linear_targets, self.diagonal_targets = attach_prior(model, reference, factors, settings.energy,
                                                                      self.prior_mapping)
            if not self.linear_targets and not self.diagonal_targets:
                raise ConfigError("srft: no trainable parameter of the model matches the RGB model's weights, so "
                                  "the prior protects nothing (was the model built from the same pretrained file?)")
        elif resume is not None and resume["prior_key"]:
            raise CheckpointError("srft: the checkpoint was trained with a prior but the config now has none "
                                  "(srft.lambda_p / coupled / decoupled changed)")
        self.previous = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        group_of = getattr(model, "parameter_group", lambda _name: "blocks")
        self.rank_names = {n for n in self.previous if group_of(n) != "head"}
        if resume is not None and self.rank_transfer is not None:
            self.rank_transfer.last_square = {n: v.to(self.previous[n].device, torch.float32).clone()
                                              for n, v in resume.get("rank_last_square", {}).items()}
        if resume is not None:
            unknown = sorted(set(resume["transfer_ema"]) - set(self.previous))
            if unknown:
                raise CheckpointError(f"srft: the checkpoint's transfer significance names parameters that do not "
                                      f"train here, e.g. {unknown[:3]}")
            self.transfer.ema = {n: v.to(self.previous[n].device, torch.float32).clone()
                                 for n, v in resume["transfer_ema"].items()}
        self._resume = None

    def state_dict(self) -> dict:
        """The transfer EMA, the prior's identity (key) and the layer -> RGB layer mapping that
        rebuilds the anchors W_0 and the priors on resume (the factors themselves are measured or
        read from the cache again, and checked against the key). Parameters the model holds
        (the previous weights are the current ones after each step) are not repeated."""
        linear_map, diagonal_map = self.prior_mapping
        return {"format": 1, "prior_key": self.prior_key, "linear_map": dict(linear_map),
                "diagonal_map": dict(diagonal_map),
                "transfer_ema": {n: v.detach().cpu() for n, v in self.transfer.ema.items()},
                "rank_last_square": ({n: v.detach().cpu() for n, v in self.rank_transfer.last_square.items()}
                                     if self.rank_transfer is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        """Keep a checkpoint's `state_dict()` for the `before_training` of the resumed run."""
        needed = ("prior_key", "linear_map", "diagonal_map", "transfer_ema")
        if not state or any(k not in state for k in needed):
            raise CheckpointError("srft: the checkpoint holds no SRFT state (transfer significance, prior mapping), "
                                  "so the run cannot be resumed exactly; it was written by an older tracktune")
        if state.get("format") != 1:
            raise CheckpointError(f"srft: unknown SRFT state format {state.get('format')!r} in the checkpoint")
        self._resume = state

    def extra_losses(self, model: nn.Module, batch: dict, outputs: dict, step: StepInfo) -> dict[str, torch.Tensor]:
        if not self.settings.coupled or not (self.linear_targets or self.diagonal_targets):
            return {}
        weight = kappa(step.progress, self.settings.schedule, self.settings.kappa_constant) * self.settings.lambda_p
        total = sum((t.prior.penalty(t.delta().float()) for t in self.linear_targets), torch.zeros(()))
        total = total + sum((t.penalty() for t in self.diagonal_targets), torch.zeros(()))
        return {"srft_prior": weight * total}

    @torch.no_grad()
    def after_step(self, model: nn.Module, step: StepInfo) -> None:
        """Transfer damping toward the previous weights, then the decoupled prior step (its
        strength scales with the step's learning rate)."""
        settings = self.settings
        self.learning_rate = step.lr
        weight = kappa(step.progress, settings.schedule, settings.kappa_constant)
        damping = (1.0 - weight) * settings.lambda_t
        seen_grad = False
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            if name not in self.previous:
                raise ConfigError(f"srft: parameter {name} started training after before_training")
            if parameter.grad is None:
                continue
            seen_grad = True
            if self.rank_transfer is not None:  # the released variant: every step, no kappa schedule
                if name in self.rank_names:
                    parameter.copy_(self.rank_transfer.step(name, self.previous[name], parameter, parameter.grad))
                continue
            significance = self.transfer.update(name, parameter.grad)
            if damping > 0:
                parameter.copy_(transfer_step(self.previous[name], parameter, significance, damping))
        if not seen_grad and self.previous:
            raise ConfigError("srft.after_step found no gradients: the trainer must call it after the optimiser "
                              "step and before zero_grad")
        if settings.decoupled and settings.lambda_p > 0:
            strength = step.lr * weight * settings.lambda_p
            if strength > 0:
                for target in self.linear_targets:
                    target.shrink(strength)
                for target in self.diagonal_targets:
                    target.shrink(strength)
        for name, parameter in model.named_parameters():
            if name in self.previous:
                self.previous[name].copy_(parameter)


def rgb_reference_model(config, device: torch.device) -> nn.Module:
    """The RGB model the adapted tracker starts from: same design and pretrained weights, fusion rgb."""
    if config.model.pretrained is None:
        raise ConfigError("srft needs model.pretrained: its prior is measured on the pretrained RGB model")
    rgb_config = dataclasses.replace(config, model=dataclasses.replace(config.model, fusion="rgb"))
    return build_model(rgb_config).to(device)


def tracking_loss_fn(config) -> Callable[[nn.Module, dict], torch.Tensor]:
    """loss_fn(model, batch) -> the batch-mean tracking loss of the RGB model on the RGB stream."""
    return design_loss_fn(config)
