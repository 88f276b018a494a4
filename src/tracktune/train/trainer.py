"""The training loop: accumulation, autocast, DDP, method hooks, checkpoints, logging.

One code path for one process and for N processes under `torchrun` (`train/distributed.py`):
each rank reads its shard of every global batch (`data.pairs.ShardSampler`), the loss terms
are normalised by the positive count summed over ranks, and DDP averages gradients, so N
processes reproduce one process with the same global batch (up to float summation order).
The optimiser, schedule and step plan are `train/optim.py`'s.

- Gradient clipping by global norm; bf16 autocast (CPU and CUDA) or fp16 + GradScaler (CUDA)
  (`tracktune.precision`).
- Adaptation methods (`config.methods`, built and checked by `tracktune.adapt.build_methods`)
  through their hooks, in order: `prepare` (when the model is built), `prepare_precision`
  (with train.amp), `load_state_dict` (on resume), `before_training` (an iterable of training
  batches; rank 0 first under DDP when a method declares `before_training_rank0_first`),
  `return_blocks` (union passed to the forward), then per step `extra_losses(model, batch,
  outputs, StepInfo)` for each micro-batch and `after_step(model, StepInfo)` after the
  optimiser step, before the gradients are cleared; `state_dict` at each checkpoint. The
  trainer reads the methods' declarations, never their names.
- Checkpoints (`tracktune/runs.py`) every `checkpoint_every` steps and at the end, the last
  `keep_last` kept; `resume` continues from the latest: weights, optimiser, scheduler, scaler,
  RNG states, each method's `state_dict()` (SRFT's transfer EMA and prior mapping; its
  previous weights are the loaded ones) and the data position (pairs are seeded by (seed,
  epoch, index)), so a resumed run ends bitwise equal to an uninterrupted one on CPU in
  deterministic mode.
- `metrics.jsonl`: one JSON object per logged step; progress (`tracktune.progress`) on rank 0;
  TensorBoard under `RUN/tensorboard` when `train.tensorboard` and the package is installed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch
import torch.distributed as dist
from torch import nn

import tracktune
from tracktune import runs as ckpt
from tracktune.adapt import StepInfo, before_training_rank0_first, reads_frozen_weights
from tracktune.config import ExperimentConfig, load_config, save_config, to_dict
from tracktune.data.pairs import PairDataset, pair_loader, sources_from_config
from tracktune.errors import ConfigError, DataError, TracktuneError, at_line
from tracktune.files import atomic_write_text
from tracktune.locks import DirectoryLock
from tracktune.model.losses import POSITIVE_COUNTS, loss_for, model_inputs
from tracktune.precision import AMP_DTYPES, autocast_context, emulated_bf16, resolve_train_amp
from tracktune.progress import progress_bar
from tracktune.train.distributed import (all_reduce_sum, configure_determinism, cpu_state, rng_state,
                                         seed_everything, set_rng_state, setup_distributed)
from tracktune.train.optim import StepPlan, build_optimizer, build_scheduler, cast_frozen_linears

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


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
        # the autocast this run uses (train.amp, "auto" resolved for this device); the config keeps
        # what was asked, so a run resumed on another machine resolves again there
        self.amp = resolve_train_amp(config.train.amp, self.world.device)
        if config.train.amp == "auto":
            logger.info("train.amp auto: %s on %s", self.amp, self.world.device)
        elif emulated_bf16(self.amp, self.world.device):
            logger.warning("train.amp bf16 on a CPU without native bf16 (AVX512-BF16 or AMX): oneDNN emulates it, "
                           "about ten times slower than fp32; train.amp auto (or none) trains in fp32 here")
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
        if t.frozen_dtype == "amp" and self.amp != "none" and not reads_frozen_weights(self.methods):
            cast_frozen_linears(self.model, AMP_DTYPES[self.amp])
        if self.amp != "none":
            for method in self.methods:
                method.prepare_precision(self.model)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.return_blocks = tuple(sorted({i for m in self.methods for i in m.return_blocks(self.model)}))
        self.optimizer = build_optimizer(self.model, t, world.device)
        self.scheduler = build_scheduler(self.optimizer, self.plan.total_steps, t.warmup_fraction)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == "fp16" and world.device.type == "cuda" else None
        autocast_context(world.device, self.amp)  # validate early

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
        self.dataset.set_epoch(0)
        yield from pair_loader(self.dataset, self.plan.micro_batch, rank=0, world_size=1)

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> RunResult:
        start_time = time.perf_counter()
        config, world, plan = self.config, self.world, self.plan
        t = config.train
        if world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / "config.yaml")
            self._open_tensorboard()
        self.before_training()
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
        threads_before = torch.get_num_threads()
        if t.threads is not None and world.device.type == "cpu":
            torch.set_num_threads(t.threads)
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
            torch.set_num_threads(threads_before)
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

    def before_training(self) -> None:
        """Each method's `before_training`; under DDP, rank 0 first when a method declares it
        (what rank 0 caches, the other ranks then read)."""
        world = self.world
        turns = (0, 1) if world.world_size > 1 and before_training_rank0_first(self.methods) else (None,)
        for turn in turns:
            if turn is None or (world.rank == 0) == (turn == 0):
                for method in self.methods:
                    method.before_training(self.model, self._batches_for_methods())
            if world.world_size > 1:
                dist.barrier()

    def step_info(self, step: int, lr: float) -> StepInfo:
        return StepInfo(step=step, total_steps=self.plan.total_steps, lr=lr)

    def train_step(self, ddp_model: nn.Module, iterator: Iterator[dict]) -> dict[str, torch.Tensor]:
        """One optimiser step over `grad_accum` micro-batches; returns this rank's loss terms
        (tracking terms as this rank's share of the global loss, extras as this rank's mean)."""
        config, world = self.config, self.world
        t = config.train
        device = world.device
        model = self.model
        model.train()
        lr = self.scheduler.get_last_lr()[0] / self.optimizer.param_groups[0].get("lr_scale", 1.0)  # the base lr
        info = self.step_info(self.step, lr)
        model.set_keep_ratio(info.progress)  # OSTrack's candidate-elimination warm-up (no effect without CE)
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
                with autocast_context(device, self.amp):
                    outputs = ddp_model(**model_inputs(batch, device), return_blocks=self.return_blocks)
                terms = self.loss_fn(outputs, batch, normaliser=count)
                extras: dict[str, torch.Tensor] = {}
                for method in self.methods:
                    for name, value in method.extra_losses(model, batch, outputs, info).items():
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
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        after = self.step_info(self.step + 1, lr)
        for method in self.methods:
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
                "rng": [cpu_state(s) for s in gathered],
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
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run directory)")
    return train(load_config(path), run_dir, progress=progress, resume=True, sources=sources, on_step=on_step)


__all__ = ["train", "resume_run", "Trainer", "RunResult"]
