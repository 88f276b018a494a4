"""The training loop: optimiser, schedule, precision, accumulation, DDP, checkpoints, logging.

One code path for one process and for N processes under `torchrun` (gloo on CPU, nccl on
CUDA): each rank reads its shard of every global batch (`data.pairs.ShardSampler`), the loss
terms are normalised by the positive count summed over ranks, and DDP averages gradients, so
N processes reproduce one process with the same global batch (up to float summation order).

- `train.batch_size` is the global batch of one optimiser step: split over the ranks and the
  `grad_accum` micro-batches (it must divide evenly).
- AdamW with parameter groups: no weight decay on 1-D parameters (biases, norms, layer scale)
  and embeddings (position, token type); optional layer-wise lr decay
  (`layer_decay ** (depth + 1 - layer)`, embeddings layer 0, block i layer i + 1, the rest
  depth + 1); `head_lr_scale` on the head.
- Linear warm-up (`warmup_fraction` of the steps) then cosine to 0, stepped per iteration.
- Gradient clipping by global norm; bf16 autocast (CPU and CUDA) or fp16 + GradScaler (CUDA).
- Adaptation methods (`config.methods`) through their hooks, in order: `prepare`,
  `before_training` (an iterable of training batches), `return_blocks` (union passed to the
  forward), `extra_losses(model, batch, outputs, progress)`, `after_step(model, progress)`
  (after the optimiser step, before the gradients are cleared).
- Checkpoints (`tracktune/runs.py`) every `checkpoint_every` steps and at the end, the last
  `keep_last` kept; `resume` continues from the latest: weights, optimiser, scheduler, scaler,
  RNG states, each method's `state_dict()` (SRFT's transfer EMA and prior mapping) and the data position (pairs are seeded by (seed, epoch, index)), so a resumed
  run ends bitwise equal to an uninterrupted one on CPU in deterministic mode.
- `metrics.jsonl`: one JSON object per logged step; a tqdm bar (steps, rate, ETA) on rank 0;
  TensorBoard under `RUN/tensorboard` when `train.tensorboard` and the package is installed.

Method state that lives outside the model and optimiser (SRFT's transfer EMA and previous
weights) is not checkpointed: a resumed SRFT run restarts those from the loaded weights.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence as SequenceOf

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from tracktune.config import ExperimentConfig, save_config, to_dict
from tracktune.errors import ConfigError, DataError, TracktuneError, at_line
from tracktune.files import atomic_write_text
from tracktune.locks import DirectoryLock
from tracktune.progress import progress_bar
from tracktune import runs as ckpt
from tracktune.train.losses import POSITIVE_COUNTS, loss_for, model_inputs

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
EMBEDDING_GROUPS = ("position", "type_embed")
INPUT_GROUPS = ("patch_embed", "aux_patch_embed", "position", "type_embed")


# --------------------------------------------------------------------------------------
# Processes and devices
# --------------------------------------------------------------------------------------


@dataclass
class Distributed:
    """This process's place: rank, world size and device (world size 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this trainer initialised the process group (and destroys it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(requested: Optional[str], local_rank: int = 0) -> torch.device:
    if requested in (None, "", "auto"):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device: {requested!r} asked for but CUDA is not available")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def setup_distributed(requested_device: Optional[str]) -> Distributed:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) and join the process group."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        owns = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return Distributed(rank, world_size, local_rank, device, owns)


def all_reduce_sum(tensor: torch.Tensor, world: Distributed) -> torch.Tensor:
    if world.world_size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict:
    """The global RNG states as tensors and numbers (`torch.load(weights_only=True)` reads them)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": _python_state_to_list(random.getstate()),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _python_state_to_list(state) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------------------
# Optimiser and schedule
# --------------------------------------------------------------------------------------


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
        raise ConfigError(f"methods {getattr(train_config, '_methods', '')}: no parameter trains; "
                          "list a method that trains something (full, lora, ...)")
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


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# methods that read the frozen base weights' exact values (SRFT matches them to the RGB model)
READS_FROZEN_WEIGHTS = ("srft",)


def cast_frozen_linears(model: nn.Module, dtype: torch.dtype, methods: SequenceOf[str] = ()) -> int:
    """Store the weights of frozen `nn.Linear`s (LoRA's base layers) in `dtype`; returns how many.

    Under autocast these matmuls run in `dtype` anyway, so the results are the ones autocast
    gives; the fp32 copies (and autocast's per-step casts, saved again for backward) go away.
    Skipped with methods that read the frozen values (`READS_FROZEN_WEIGHTS`)."""
    if any(m in READS_FROZEN_WEIGHTS for m in methods):
        return 0
    cast = 0
    for module in model.modules():
        if isinstance(module, nn.Linear) and not module.weight.requires_grad and module.weight.dtype != dtype:
            module.weight.data = module.weight.data.to(dtype)
            cast += 1
    return cast


def keep_lora_inputs_in_amp_dtype(model: nn.Module) -> int:
    """Stop peft's LoRA layers casting their input to the LoRA weights' dtype (fp32) before
    `lora_A`: under autocast the matmul casts it straight back to bf16 / fp16, so the two copies
    per layer (and the one saved for backward) are waste; the values are the same. Returns how
    many layers were switched."""
    switched = 0
    for module in model.modules():
        if hasattr(module, "cast_input_dtype_enabled") and hasattr(module, "lora_A"):
            module.cast_input_dtype_enabled = False
            switched += 1
    return switched


def autocast_context(amp: str, device: torch.device):
    if amp == "none":
        return contextlib.nullcontext()
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if amp == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.amp: fp16 needs a CUDA device (use bf16 on CPU)")
        return torch.autocast("cuda", dtype=torch.float16)
    raise ConfigError(f"train.amp: unknown {amp!r} (none, bf16 or fp16)")


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What `train` returns."""

    run_dir: Path
    steps: int  # optimiser steps done in total (including those before a resume)
    seconds: float  # wall time of this call (model building and data indexing included)
    final_checkpoint: Optional[Path]
    metrics: dict  # the last logged metrics
    world_size: int = 1
    trainable_params: int = 0


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


class Trainer:
    """One training run in `run_dir` (see the module docstring). `train()` is the short way in."""

    def __init__(self, config: ExperimentConfig, run_dir: str | Path, sources=None, progress: bool = True,
                 on_step: Optional[Callable[[int, Optional[dict]], None]] = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.sources = sources
        self.progress = progress
        self.on_step = on_step
        self.world = setup_distributed(config.train.device)
        self.plan = StepPlan.of(config, self.world.world_size)
        self.design = config.model.design
        self.loss_fn = loss_for(self.design)
        self.count_fn = POSITIVE_COUNTS[self.design]
        self.step = 0
        self.last_metrics: dict = {}
        self.tensorboard = None

    # ---- set-up ------------------------------------------------------------------------

    def build(self) -> None:
        """Model, methods, data, optimiser, schedule (before `resume` / `run`)."""
        self.build_model()
        self.build_data()

    def build_data(self) -> None:
        from tracktune.data.pairs import PairDataset, sources_from_config

        sources = self.sources if self.sources is not None else sources_from_config(self.config.data)
        self.dataset = PairDataset.from_config(self.config, sources)

    def build_model(self) -> None:
        """Model (methods prepared), optimiser, schedule and grad scaler; no data (benchmarks)."""
        config, world = self.config, self.world
        t = config.train
        configure_determinism(t.deterministic, world.device)
        seed_everything(config.seed)  # the same initial weights on every rank
        model, self.methods = ckpt.build_training_model(config)
        self.model = model.to(world.device)
        if world.world_size > 1 and world.device.type == "cuda":
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        if t.frozen_dtype == "amp" and t.amp != "none":
            cast_frozen_linears(self.model, AMP_DTYPES[t.amp], self.config.methods)
        if t.amp != "none":
            keep_lora_inputs_in_amp_dtype(self.model)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.return_blocks = tuple(sorted({i for m in self.methods for i in m.return_blocks(self.model)}))
        self.optimizer = build_optimizer(self.model, t, world.device)
        self.scheduler = build_scheduler(self.optimizer, self.plan.total_steps, t.warmup_fraction)
        self.scaler = torch.amp.GradScaler("cuda") if t.amp == "fp16" and world.device.type == "cuda" else None
        autocast_context(t.amp, world.device)  # validate early

    def resume(self, checkpoint: Optional[Path] = None) -> Optional[Path]:
        """Load the latest (or the given) checkpoint of the run; returns it (None: nothing to resume)."""
        checkpoint = checkpoint or ckpt.latest_checkpoint(self.run_dir)
        if checkpoint is None:
            return None
        ckpt.load_weights(self.model, checkpoint)
        state = ckpt.read_state(checkpoint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        saved_methods = state.get("methods", {})
        for method in self.methods:  # before run() calls before_training (SRFT rebuilds its prior from this)
            method.load_state_dict(saved_methods.get(method.name, {}))
        rng = state.get("rng", [])
        self._pending_rng = rng[self.world.rank] if self.world.rank < len(rng) else None
        if self._pending_rng is None:
            logger.warning("%s: no RNG state for rank %d (saved with %d processes); reseeding", checkpoint,
                           self.world.rank, len(rng))
        if self.world.is_main:
            _truncate_metrics(self.run_dir / METRICS_FILE, self.step)
        logger.info("resumed %s at step %d", checkpoint, self.step)
        return checkpoint

    def _batches_for_methods(self) -> Iterator[dict]:
        """Training batches (epoch 0) for `before_training`, made on demand. Every rank reads the
        same, unsharded stream, so what a method derives from it (SRFT's prior, which its
        after_step applies to the weights outside DDP's gradient averaging) is the same on all."""
        from tracktune.data.pairs import pair_loader

        self.dataset.set_epoch(0)
        yield from pair_loader(self.dataset, self.plan.micro_batch, rank=0, world_size=1)

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> RunResult:
        from tracktune.data.pairs import pair_loader

        start_time = time.perf_counter()
        config, world, plan = self.config, self.world, self.plan
        t = config.train
        if world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / "config.yaml")
            self._open_tensorboard()
        # rank 0 first: what it caches (SRFT's prior factors) the other ranks then read
        for turn in ((0,) if world.world_size == 1 else (0, 1)):
            if (world.rank == 0) == (turn == 0):
                for method in self.methods:
                    method.before_training(self.model, self._batches_for_methods())
            if world.world_size > 1:
                dist.barrier()
        pending_rng = getattr(self, "_pending_rng", None)
        if pending_rng is None:
            seed_everything(config.seed + 1000003 * world.rank + 1)  # per-rank stream (drop path, dropout)
        ddp_model = self._wrap()
        bar = progress_bar(plan.total_steps, config.name, "step", self.progress if world.is_main else False,
                           initial=self.step)
        final_checkpoint = None
        last_saved = None
        samples_per_step = t.batch_size
        window_start, window_steps = time.perf_counter(), 0
        try:
            while self.step < plan.total_steps:
                epoch, in_epoch = divmod(self.step, plan.steps_per_epoch)
                self.dataset.set_epoch(epoch)
                loader = pair_loader(self.dataset, plan.micro_batch, rank=world.rank, world_size=world.world_size,
                                     start_batch=in_epoch * t.grad_accum,
                                     pin_memory=world.device.type == "cuda")
                # the loader draws its workers' base seed from its own generator, not the global
                # RNG, so the training RNG stream does not depend on where a run was resumed
                loader.generator = torch.Generator().manual_seed(config.seed * 100003 + epoch)
                if pending_rng is not None:
                    set_rng_state(pending_rng, world.device)
                    pending_rng = None
                iterator = iter(loader)
                for _ in range(in_epoch, plan.steps_per_epoch):
                    terms = self.train_step(ddp_model, iterator)
                    self.step += 1
                    window_steps += 1
                    bar.update(1)
                    metrics = None
                    if self.step % t.log_every == 0 or self.step == plan.total_steps:
                        now = time.perf_counter()
                        rate = window_steps * samples_per_step / max(now - window_start, 1e-9)
                        window_start, window_steps = now, 0
                        metrics = self._log(terms, epoch, rate, time.perf_counter() - start_time)
                        bar.set_postfix(loss=f"{metrics['loss']:.4f}", samples_s=f"{rate:.1f}")
                    if self.step % t.checkpoint_every == 0 or self.step == plan.total_steps:
                        last_saved = self.save(epoch)
                    if self.on_step is not None:
                        self.on_step(self.step, metrics)
                del iterator, loader
            final_checkpoint = last_saved or ckpt.latest_checkpoint(self.run_dir)
        finally:
            bar.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
        return RunResult(self.run_dir, self.step, time.perf_counter() - start_time, final_checkpoint,
                         self.last_metrics, world.world_size, sum(p.numel() for p in self.trainable))

    def _wrap(self) -> nn.Module:
        if self.world.world_size == 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.world.device.index] if self.world.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=device_ids)

    def progress_at(self, step: int) -> float:
        return step / self.plan.total_steps

    def train_step(self, ddp_model: nn.Module, iterator: Iterator[dict]) -> dict[str, torch.Tensor]:
        """One optimiser step over `grad_accum` micro-batches; returns this rank's loss terms
        (tracking terms as this rank's share of the global loss, extras as this rank's mean)."""
        config, world = self.config, self.world
        t = config.train
        device = world.device
        model = self.model
        model.train()
        progress = self.progress_at(self.step)
        tracking: dict[str, torch.Tensor] = {}
        extras_sum: dict[str, torch.Tensor] = {}
        for micro in range(t.grad_accum):
            try:
                batch = next(iterator)
            except StopIteration as exc:
                raise TracktuneError(f"the data loader ran out at step {self.step}: fewer batches than planned") from exc
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            count = all_reduce_sum(self.count_fn(batch).to(device).float(), world)
            last = micro == t.grad_accum - 1
            sync = contextlib.nullcontext() if (last or world.world_size == 1) else ddp_model.no_sync()
            with sync:
                with autocast_context(t.amp, device):
                    outputs = ddp_model(**model_inputs(batch, device), return_blocks=self.return_blocks)
                terms = self.loss_fn(outputs, batch, normaliser=count)
                extras: dict[str, torch.Tensor] = {}
                for method in self.methods:
                    for name, value in method.extra_losses(model, batch, outputs, progress).items():
                        if name in extras or name in terms:
                            raise ConfigError(f"methods: two loss terms named {name!r}")
                        extras[name] = value.to(device).float()
                # DDP averages gradients over ranks: the tracking terms (this rank's share of a
                # global sum) are scaled back by the world size; the extras are per-rank means
                total = terms["loss"] * world.world_size + sum(extras.values(), torch.zeros((), device=device))
                total = total / t.grad_accum
                if self.scaler is not None:
                    self.scaler.scale(total).backward()
                else:
                    total.backward()
            for name, value in terms.items():
                tracking[name] = tracking.get(name, 0) + value.detach() / t.grad_accum
            for name, value in extras.items():
                extras_sum[name] = extras_sum.get(name, 0) + value.detach() / t.grad_accum
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if t.grad_clip is not None and t.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, t.grad_clip)
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, float("inf"))
        lr = self.scheduler.get_last_lr()[0] / self.optimizer.param_groups[0].get("lr_scale", 1.0)  # the base lr
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        after = self.progress_at(self.step + 1)
        for method in self.methods:
            if hasattr(method, "learning_rate"):  # SRFT's decoupled step scales with the current lr
                method.learning_rate = lr
            method.after_step(model, after)
        self.optimizer.zero_grad(set_to_none=True)
        out = {**tracking, **{f"extra/{k}": v for k, v in extras_sum.items()}}
        out["_grad_norm"] = grad_norm.detach().float()
        out["_lr"] = torch.tensor(lr)
        return out

    # ---- logging and checkpoints -------------------------------------------------------

    def _log(self, terms: dict[str, torch.Tensor], epoch: int, samples_per_s: float, seconds: float) -> dict:
        world = self.world
        names = sorted(k for k in terms if not k.startswith("_"))
        values = torch.stack([torch.as_tensor(terms[k], dtype=torch.float32).to(world.device).reshape(())
                              for k in names])
        values = all_reduce_sum(values.clone(), world)
        metrics: dict = {"step": self.step, "epoch": epoch}
        extras_total = 0.0
        for name, value in zip(names, values.tolist()):
            if name.startswith("extra/"):
                value = value / world.world_size  # per-rank means -> the global mean
                extras_total += value
                metrics[name[len("extra/"):]] = value
            else:
                metrics[name] = value
        metrics["loss"] = metrics["loss"] + extras_total
        metrics["lr"] = float(terms["_lr"])
        metrics["grad_norm"] = float(terms["_grad_norm"])
        metrics["samples_per_s"] = samples_per_s
        metrics["seconds"] = seconds
        if not math.isfinite(metrics["loss"]):
            raise TracktuneError(f"non-finite loss {metrics['loss']} at step {self.step} ({metrics}); "
                                 "lower train.lr or use train.amp: bf16 / none")
        self.last_metrics = metrics
        if world.is_main:
            with open(self.run_dir / METRICS_FILE, "a") as handle:
                handle.write(json.dumps(metrics) + "\n")
            if self.tensorboard is not None:
                for key, value in metrics.items():
                    if key not in ("step", "epoch"):
                        self.tensorboard.add_scalar(f"train/{key}", value, self.step)
        return metrics

    def _open_tensorboard(self) -> None:
        if not self.config.train.tensorboard:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("train.tensorboard is on but the tensorboard package is not installed; "
                           "metrics go to %s only", self.run_dir / METRICS_FILE)
            return
        self.tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))

    def manifest(self, epoch: int) -> dict:
        import tracktune

        m = self.config.model
        return {
            "epoch": epoch,
            "world_size": self.world.world_size,
            "config": to_dict(self.config),
            "base": {"pretrained": m.pretrained, "format": m.pretrained_format, "base": m.pretrained_base,
                     "stored": m.pretrained is None},
            "trainable_params": sum(p.numel() for p in self.trainable),
            "versions": {"tracktune": tracktune.__version__, "torch": torch.__version__},
        }

    def save(self, epoch: int) -> Optional[Path]:
        world = self.world
        own_rng = rng_state(world.device)
        if world.world_size > 1:
            gathered: list = [None] * world.world_size
            dist.all_gather_object(gathered, own_rng)
        else:
            gathered = [own_rng]
        path = None
        if world.is_main:
            state = {
                "step": self.step,
                "epoch": epoch,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "rng": [_cpu(s) for s in gathered],
                "methods": {name: saved for name, saved in ((m.name, m.state_dict()) for m in self.methods) if saved},
            }
            path = ckpt.save_checkpoint(self.run_dir, self.step, self.model, state, self.manifest(epoch),
                                        keep_last=self.config.train.keep_last,
                                        include_frozen=self.config.model.pretrained is None)
        if world.world_size > 1:
            dist.barrier()
        return path if path is not None else self.run_dir / ckpt.CHECKPOINTS / ckpt.step_name(self.step)

    def close(self) -> None:
        if self.world.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _cpu(state: dict) -> dict:
    return {k: (v.cpu() if isinstance(v, torch.Tensor) else _cpu(v) if isinstance(v, dict) else v)
            for k, v in state.items()}


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics logged after `step` (a killed run may have logged past its last checkpoint).
    A torn last line (a run killed while writing it) is dropped and said; a bad line before
    the last is an error naming it."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    kept = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_step = record.get("step", 0) if isinstance(record, dict) else None
        except ValueError:
            record_step = None
        if record_step is None:
            if i == last:
                _note(at_line(path, i + 1, "dropped a torn last line (the run was killed while logging)"))
                continue
            raise DataError(at_line(path, i + 1, "not a metrics record (one JSON object per line); only a torn "
                                                 "last line is dropped on --resume"))
        if record_step <= step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def train(config: ExperimentConfig, run_dir: str | Path, progress: bool = True, resume: bool = False,
          sources=None, on_step: Optional[Callable[[int, Optional[dict]], None]] = None,
          overwrite: bool = False) -> RunResult:
    """Train `config` into `run_dir`; with `resume`, continue from its latest checkpoint.

    `sources` (a list of `data.pairs.PairSource`) replaces `config.data.train` (tests, the demo);
    `on_step(step, metrics_or_None)` is called on every rank after each step.
    """
    # the run directory belongs to this run (rank 0 of torchrun holds it) before anything is written
    lock = DirectoryLock(run_dir, "tracktune train") if os.environ.get("RANK", "0") == "0" else None
    if lock is not None:
        lock.acquire()
    try:
        if lock is not None:
            ckpt.claim_run_dir(run_dir, resume=resume, overwrite=overwrite, notes=_note)
        if resume and ckpt.latest_checkpoint(run_dir) is None:
            raise ConfigError(f"--resume {run_dir}: no checkpoint under {Path(run_dir) / ckpt.CHECKPOINTS}")
        if not resume and ckpt.latest_checkpoint(run_dir) is not None:
            raise ConfigError(f"{run_dir} already holds checkpoints; resume it (--resume) or choose another --out")
        checkpoint = None
        if resume:  # the newest checkpoint whose files verify, found before any model is built
            checkpoint, skipped = ckpt.latest_verified_checkpoint(run_dir)
            if checkpoint is None:
                raise ckpt.CheckpointError(f"--resume {run_dir}: no checkpoint that verifies ({'; '.join(skipped)})")
            if lock is not None:
                for note in skipped:
                    _note(f"{run_dir}: {note}")
                if skipped:
                    _note(f"{run_dir}: resuming from {checkpoint.name}")
        trainer = Trainer(config, run_dir, sources=sources, progress=progress, on_step=on_step)
        try:
            trainer.build()
            if resume:
                trainer.resume(checkpoint)
            return trainer.run()
        finally:
            trainer.close()
    finally:
        if lock is not None:
            lock.release()


def resume_run(run_dir: str | Path, progress: bool = True, sources=None, on_step=None) -> RunResult:
    """Continue the run in `run_dir` with its saved `config.yaml`."""
    from tracktune.config import load_config

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run directory)")
    return train(load_config(path), run_dir, progress=progress, resume=True, sources=sources, on_step=on_step)


__all__ = ["train", "resume_run", "Trainer", "RunResult", "parameter_groups", "build_optimizer", "build_scheduler",
           "WarmupCosine", "StepPlan"]
