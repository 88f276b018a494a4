"""Typed experiment configuration: dataclasses <-> YAML, dotted overrides, validation.

A YAML file sets any field of `ExperimentConfig`; `--set lora.rank=16` overrides one
from the command line (the value is parsed as YAML). An unknown key is an error naming the
key and the closest valid one; a value of the wrong type is an error naming the key. The
resolved config is written beside every run (`save_config`).

Each section's dataclass sits here, grouped by the part of tracktune that reads it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from tracktune.errors import ConfigError
from tracktune.files import atomic_write_text
from tracktune.suggest import did_you_mean

# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


@dataclass
class LoraConfig:
    """LoRA on the frozen Linear layers of the blocks (docs/methods.md#lora)."""

    rank: int = 64
    alpha: float = 64.0
    dropout: float = 0.0
    init: Literal["lorat", "zero_b", "pissa"] = "lorat"
    targets: list[str] = field(default_factory=lambda: ["q", "k", "v", "proj", "fc1", "fc2"])
    rslora: bool = False  # scaling alpha / sqrt(rank) instead of alpha / rank (peft's use_rslora)
    dora: bool = False  # weight-decomposed LoRA (peft's use_dora); merges exactly too

    def check(self, where: str = "lora") -> None:
        in_range(where, "rank", self.rank, low=1)
        in_range(where, "alpha", self.alpha, low=0, low_open=True)
        in_range(where, "dropout", self.dropout, low=0, high=1, high_open=True)
        if not self.targets:
            raise ConfigError(f"{where}.targets: empty; list at least one of {', '.join(LORA_TARGETS)}",
                              f"{where}.targets")
        for i, target in enumerate(self.targets):
            if target not in LORA_TARGETS:
                raise ConfigError(f"{where}.targets.{i}: {target!r} is not one of {', '.join(LORA_TARGETS)}"
                                  f"{did_you_mean(str(target), LORA_TARGETS)}", f"{where}.targets.{i}")


@dataclass
class SRFTConfig:
    """SRFT significance regularisation (docs/methods.md#srft; adapt/srft/)."""

    lambda_p: float = 1.0  # prior (steep-direction) strength
    lambda_t: float = 1.0  # transfer (gradient-significance) damping strength
    schedule: Literal["cosine", "linear", "constant"] = "cosine"  # kappa(t): prior weight
    kappa_constant: float = 0.5  # kappa for schedule "constant"
    n_batches: int = 200  # batches of the target data's RGB stream for the prior
    prior_batch_size: int = 2
    energy: float = 0.99  # spectral energy each K-FAC factor's kept directions hold
    mode: Literal["kfac", "diag"] = "kfac"
    ema: float = 0.9  # transfer significance EMA decay
    hoyer: bool = False  # multiply transfer significance by its Hoyer sparsity
    coupled: bool = False  # also add the prior penalty to the loss (besides the decoupled step)
    decoupled: bool = True  # the post-step prior shrink
    cache_dir: Optional[str] = "~/.cache/tracktune/srft"  # null: never cache
    # the transfer step: "proximal" (ours: damp by 1 + c T) or "rank" (the released code's: each
    # non-head element keeps 1 - m of its step, m linear in the rank of its recent squared
    # gradient over rank_range; adapt/srft/rank.py)
    transfer: Literal["proximal", "rank"] = "proximal"
    rank_range: list[float] = field(default_factory=lambda: [0.25, 0.65])  # m of the least / most sensitive element

    def check(self, where: str = "srft") -> None:
        in_range(where, "lambda_p", self.lambda_p, low=0)
        in_range(where, "lambda_t", self.lambda_t, low=0)
        in_range(where, "kappa_constant", self.kappa_constant, low=0, high=1)
        in_range(where, "n_batches", self.n_batches, low=1)
        in_range(where, "prior_batch_size", self.prior_batch_size, low=1)
        in_range(where, "energy", self.energy, low=0, high=1, low_open=True)
        in_range(where, "ema", self.ema, low=0, high=1, high_open=True)


@dataclass
class FCTLConfig:
    """FCTL feature correction toward a frozen RGB teacher (docs/methods.md#fctl; adapt/fctl.py).
    What the student reads is degraded by `data.degrade`, shared with the baselines."""

    lambda_eansdl: float = 1.0  # lambda: weight of EANSDL beside the tracking loss
    alpha: float = 3.0  # decay exp(-alpha * progress^beta) of the extended-area term
    beta: float = 1.0
    r0: int = 8  # extended-area radius of level 0; level l uses max(1, r0 // 2**l)
    weighting: Literal["detached", "raw"] = "detached"  # w = exp(-dS) detached, or the literal form
    blocks: list[int] = field(default_factory=lambda: [3, 6, 9, 12])  # 1-based, level 0 first
    blocks_depth: Optional[int] = 12  # the ViT depth `blocks` refer to (scaled to the model's); null: exact
    teacher: Optional[str] = None  # the RGB tracker's weights; null: model.pretrained
    teacher_format: Literal["auto", "dinov2", "timm", "mae", "ostrack", "lorat", "tracktune"] = "auto"

    def check(self, where: str = "fctl") -> None:
        in_range(where, "lambda_eansdl", self.lambda_eansdl, low=0)
        in_range(where, "alpha", self.alpha, low=0)
        in_range(where, "beta", self.beta, low=0, low_open=True)
        in_range(where, "r0", self.r0, low=0)
        in_range(where, "blocks_depth", self.blocks_depth, low=1, optional=True)
        if not self.blocks:
            raise ConfigError(f"{where}.blocks: empty; list at least one 1-based block", f"{where}.blocks")
        top = self.blocks_depth
        for i, block in enumerate(self.blocks):
            in_range(where, f"blocks.{i}", block, low=1, high=top)


@dataclass
class PATrackConfig:
    """PATrack progressive adapters on the dual-stream fusion (docs/methods.md#patrack; adapt/patrack.py)."""

    mea_layers: list[int] = field(default_factory=lambda: [3, 6, 9])  # 0-based blocks with the entangled adapter
    mda_layers: Optional[list[int]] = None  # 0-based blocks with the dependent adapter; null: all others
    mda_dim: int = 8  # MDA bottleneck channels (half high-, half low-frequency)
    mea_dim: int = 192  # MEA projection width (single-head attention dimension)
    ta_dim: int = 192  # task-level adapter hidden width
    ta_dropout: float = 0.1
    ta_residual: bool = True  # head reads tokens + TA(tokens); false: TA(tokens) alone, as the released code
    mea_scale: bool = True  # scale MEA attention logits by 1/sqrt(mea_dim) (the released code does not)
    init: Literal["zero", "released"] = "zero"  # zero: output projections start at 0 (model == base at step 0)
    train_head: bool = False  # also train the prediction head (released: frozen)

    def check(self, where: str = "patrack") -> None:
        for name in ("mea_layers", "mda_layers"):
            for i, layer in enumerate(getattr(self, name) or []):
                in_range(where, f"{name}.{i}", layer, low=0)
        in_range(where, "mda_dim", self.mda_dim, low=2)
        if self.mda_dim % 2:
            raise ConfigError(f"{where}.mda_dim: {self.mda_dim} is odd; expected an even number (half high-, "
                              "half low-frequency channels)", f"{where}.mda_dim")
        in_range(where, "mea_dim", self.mea_dim, low=1)
        in_range(where, "ta_dim", self.ta_dim, low=1)
        in_range(where, "ta_dropout", self.ta_dropout, low=0, high=1, high_open=True)


@dataclass
class ModelConfig:
    """The tracker network: backbone size, input sizes, base design and fusion scheme."""

    design: Literal["lorat", "ostrack"] = "lorat"
    size: Literal["tiny", "small", "base", "large", "giant"] = "base"
    patch_size: int = 14
    template_size: int = 112
    search_size: int = 224
    fusion: Literal["rgb", "early_add", "dual_stream", "token_concat", "dual_branch"] = "rgb"
    drop_path: float = 0.0
    pretrained: Optional[str] = None
    pretrained_format: Literal["auto", "dinov2", "timm", "mae", "ostrack", "lorat", "tracktune"] = "auto"
    # format lorat: the DINOv2 file the LoRAT trainable-only checkpoint (`pretrained`) sits on
    pretrained_base: Optional[str] = None
    # OSTrack's candidate elimination (design ostrack, fusion rgb / early_add): 0-based blocks
    # after whose attention search tokens are dropped (released OSTrack-256: [3, 6, 9]), the
    # keep ratio at each ([0.7, 0.7, 0.7]); the training warm-up as fractions of training
    # (OSTrack: CE_START_EPOCH 20 and CE_WARM_EPOCH 80 of 300 epochs)
    ce_loc: list[int] = field(default_factory=list)
    ce_keep_ratio: list[float] = field(default_factory=list)
    ce_start: float = 20 / 300
    ce_warm: float = 80 / 300
    # overrides of the named size's shape (tiny demo and test models); null keeps the size's
    embed_dim: Optional[int] = None
    depth: Optional[int] = None
    num_heads: Optional[int] = None

    def shape(self) -> tuple[int, int, int]:
        """(embed_dim, depth, num_heads) of the backbone: the size's, with the overrides."""
        dim, depth, heads = VIT_SIZES[self.size]
        return self.embed_dim or dim, self.depth or depth, self.num_heads or heads

    def check(self, where: str = "model") -> None:
        for name in ("patch_size", "template_size", "search_size"):
            in_range(where, name, getattr(self, name), low=1)
        for name in ("template_size", "search_size"):
            size = getattr(self, name)
            if size % self.patch_size:
                raise ConfigError(f"{where}.{name}: {size} is not a multiple of {where}.patch_size "
                                  f"{self.patch_size}", (f"{where}.{name}", f"{where}.patch_size"))
        if self.design == "lorat" and self.template_size > self.search_size:
            raise ConfigError(f"{where}.template_size: {self.template_size} exceeds {where}.search_size "
                              f"{self.search_size}; the LoRAT design needs template_size <= search_size",
                              (f"{where}.template_size", f"{where}.search_size"))
        in_range(where, "drop_path", self.drop_path, low=0, high=1, high_open=True)
        for name in ("embed_dim", "depth", "num_heads"):
            in_range(where, name, getattr(self, name), low=1, optional=True)
        dim, _, heads = self.shape()
        if dim % heads:
            raise ConfigError(f"{where}.embed_dim: {dim} is not divisible by {where}.num_heads {heads} "
                              f"(size {self.size!r}: embed_dim must be a multiple of num_heads)",
                              (f"{where}.embed_dim", f"{where}.num_heads", f"{where}.size"))


@dataclass
class DatasetEntry:
    """One dataset of a training or evaluation mixture."""

    name: str = "synthetic"
    root: Optional[str] = None
    split: Optional[str] = "train"
    weight: float = 1.0
    rgb_only: Literal["zero", "duplicate"] = "zero"

    def check(self, where: str = "data.train.0") -> None:
        if not self.name.strip():
            raise ConfigError(f"{where}.name: empty; expected a benchmark name", f"{where}.name")
        in_range(where, "weight", self.weight, low=0, low_open=True)


@dataclass
class DataConfig:
    """What the model reads: the auxiliary modality, datasets, crops and augmentation."""

    modality: Literal["rgb", "thermal", "depth", "event"] = "thermal"
    train: list[DatasetEntry] = field(default_factory=lambda: [DatasetEntry()])
    template_factor: float = 2.0
    search_factor: float = 4.0
    max_gap: int = 100
    scale_jitter: float = 0.25
    center_jitter: float = 3.0
    samples_per_epoch: int = 8000
    num_workers: int = 2
    skip_unreadable: bool = False
    # augmentation (data/pairs.py): flip is shared by a pair's crops and their aux crops;
    # colour jitter, grayscale and solarize touch RGB only; blur touches RGB and aux alike
    flip_prob: float = 0.5
    color_jitter: float = 0.2  # brightness, contrast, saturation factors drawn from [1-j, 1+j]
    grayscale_prob: float = 0.05  # the one-of grayscale / blur / solarize, per crop
    blur_prob: float = 0.05
    solarize_prob: float = 0.05
    # non-ideal RGB (data/degrade.py), e.g. ["low_light:2-5", "fog"]: per pair, with probability
    # degrade_prob, one spec (kind:severity range) degrades both RGB crops alike; the clean crops
    # travel beside them as template_rgb_clean / search_rgb_clean (FCTL's teacher reads them)
    degrade: list[str] = field(default_factory=list)
    degrade_prob: float = 1.0

    def check(self, where: str = "data") -> None:
        if not self.train:
            raise ConfigError(f"{where}.train: empty; list at least one dataset", f"{where}.train")
        for name in ("template_factor", "search_factor"):
            in_range(where, name, getattr(self, name), low=0, low_open=True)
        in_range(where, "max_gap", self.max_gap, low=0)
        in_range(where, "scale_jitter", self.scale_jitter, low=0, high=1, high_open=True)
        in_range(where, "center_jitter", self.center_jitter, low=0)
        in_range(where, "samples_per_epoch", self.samples_per_epoch, low=1)
        in_range(where, "num_workers", self.num_workers, low=0)
        for name in ("flip_prob", "color_jitter", "grayscale_prob", "blur_prob", "solarize_prob", "degrade_prob"):
            in_range(where, name, getattr(self, name), low=0, high=1)
        if self.degrade:
            from tracktune.data.degrade import parse_spec

            for i, spec in enumerate(self.degrade):
                if str(spec).strip() == "all":
                    continue
                try:
                    parse_spec(spec, f"{where}.degrade.{i}")
                except ConfigError as exc:
                    raise ConfigError(str(exc), f"{where}.degrade.{i}") from None


@dataclass
class TrainConfig:
    """Optimisation: schedule, precision, accumulation, checkpoints."""

    epochs: int = 10
    batch_size: int = 32  # the global batch of one optimiser step (split over processes x grad_accum)
    lr: float = 1e-4
    head_lr_scale: float = 1.0
    weight_decay: float = 0.1
    layer_decay: Optional[float] = None
    warmup_fraction: float = 0.05
    grad_clip: Optional[float] = 1.0
    # autocast: auto is bf16 where the device computes bf16 natively (CUDA; a CPU with AVX512-BF16
    # or AMX), fp16 on a CUDA device without bf16, none on other CPUs (`precision.resolve_train_amp`)
    amp: Literal["auto", "none", "bf16", "fp16"] = "auto"
    grad_accum: int = 1
    deterministic: bool = False
    # intra-op threads of a training process on CPU (null: torch's default). The data loader's
    # workers share the cores: on 2 cores with 2 workers, 1 thread ran 1.35x the steps of 2.
    # A set number, never derived from the worker count, so the workers never change a result
    threads: Optional[int] = None
    checkpoint_every: int = 1000
    keep_last: int = 3
    log_every: int = 10
    tensorboard: bool = False
    device: Optional[str] = None  # "cpu", "cuda", "cuda:1"; null: CUDA when available (torchrun: cuda:LOCAL_RANK)
    # frozen Linear weights (LoRA's base) stored in the autocast dtype when amp is on: the matmuls
    # see the same values autocast would cast them to, with half the memory and no per-step casts
    frozen_dtype: Literal["float32", "amp"] = "amp"

    def check(self, where: str = "train") -> None:
        in_range(where, "epochs", self.epochs, low=1)
        in_range(where, "batch_size", self.batch_size, low=1)
        in_range(where, "lr", self.lr, low=0, low_open=True)
        in_range(where, "head_lr_scale", self.head_lr_scale, low=0)
        in_range(where, "weight_decay", self.weight_decay, low=0)
        in_range(where, "layer_decay", self.layer_decay, low=0, high=1, low_open=True, optional=True)
        in_range(where, "warmup_fraction", self.warmup_fraction, low=0, high=1)
        in_range(where, "grad_clip", self.grad_clip, low=0, low_open=True, optional=True)
        in_range(where, "grad_accum", self.grad_accum, low=1)
        in_range(where, "threads", self.threads, low=1, optional=True)
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"{where}.batch_size: {self.batch_size} is not a multiple of {where}.grad_accum "
                              f"{self.grad_accum}", (f"{where}.batch_size", f"{where}.grad_accum"))
        in_range(where, "checkpoint_every", self.checkpoint_every, low=1)
        in_range(where, "keep_last", self.keep_last, low=0)
        in_range(where, "log_every", self.log_every, low=1)
        if self.device is not None and not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"{where}.device: {self.device!r} is not a device name; expected cpu, cuda, "
                              "cuda:N or mps (or null: CUDA when available)", f"{where}.device")


@dataclass
class TrackConfig:
    """Inference on full frames (docs/tracking.md#tracker)."""

    # how frames become crops and score maps become boxes (track/tracker.py): the design's
    # reference tracker when null ("lorat" for model.design lorat, "ostrack" for ostrack), or
    # "square" (tracktune's own continuous square crop); training pairs crop by the same rule
    pipeline: Optional[Literal["lorat", "ostrack", "square"]] = None
    window_influence: float = 0.45  # pipelines lorat / square: score * (1 - w) + window * w
    search_factor: float = 4.0
    template_factor: float = 2.0
    online_template: bool = False
    # weights and kernels of the tracking model (`tracktune.precision.resolve_track_precision`):
    # auto = bf16 where the device computes bf16 natively (else fp32 on CPU, fp16 on CUDA); int8
    # (CPU) is opt-in. The tracker runs a prepared copy (`model.inference.inference_copy`).
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = "auto"
    # legacy name (autocast dtype, before track.precision): read only while precision is auto,
    # none -> fp32, bf16 -> bf16, fp16 -> fp16; configs saved before precision existed set it
    amp: Optional[Literal["none", "bf16", "fp16"]] = None
    # CUDA only: batch-1 steps replay a captured CUDA graph of the forward (one launch per step)
    cuda_graphs: bool = True

    def check(self, where: str = "track") -> None:
        in_range(where, "window_influence", self.window_influence, low=0, high=1)
        in_range(where, "search_factor", self.search_factor, low=0, low_open=True)
        in_range(where, "template_factor", self.template_factor, low=0, low_open=True)


@dataclass
class ExperimentConfig:
    """Everything one run needs; saved as `config.yaml` in the run directory."""

    name: str = "experiment"
    seed: int = 0
    methods: list[str] = field(default_factory=lambda: ["lora"])
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    srft: SRFTConfig = field(default_factory=SRFTConfig)
    fctl: FCTLConfig = field(default_factory=FCTLConfig)
    patrack: PATrackConfig = field(default_factory=PATrackConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    track: TrackConfig = field(default_factory=TrackConfig)

    def check(self, where: str = "") -> None:
        """Constraints across sections (each section checked its own fields when it was read)."""
        prefix = f"{where}." if where else ""
        if not self.name.strip() or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise ConfigError(f"{prefix}name: {self.name!r} is not usable as a folder name (runs/<name>)",
                              f"{prefix}name")
        in_range(where, "seed", self.seed, low=0, high=2**32 - 1)
        if not self.methods:
            raise ConfigError(f"{prefix}methods: empty; list at least one of {', '.join(METHOD_NAMES)}",
                              f"{prefix}methods")
        for i, method in enumerate(self.methods):
            if method not in METHOD_NAMES:
                raise ConfigError(f"{prefix}methods.{i}: {method!r} is not one of {', '.join(METHOD_NAMES)}"
                                  f"{did_you_mean(str(method), METHOD_NAMES)}", f"{prefix}methods.{i}")
            if method in self.methods[:i]:
                raise ConfigError(f"{prefix}methods.{i}: {method!r} is listed twice", f"{prefix}methods.{i}")
        _, depth, _ = self.model.shape()
        if "patrack" in self.methods:
            for name in ("mea_layers", "mda_layers"):
                for i, layer in enumerate(getattr(self.patrack, name) or []):
                    if layer >= depth:
                        raise ConfigError(f"{prefix}patrack.{name}.{i}: block {layer} does not exist in a "
                                          f"{depth}-block model (0-based: 0..{depth - 1})",
                                          (f"{prefix}patrack.{name}.{i}", f"{prefix}model.depth"))


# --------------------------------------------------------------------------------------
# Validation at load
# --------------------------------------------------------------------------------------
# Each section's `check(where)` tests its fields' ranges and the constraints between them;
# `from_dict` calls it as soon as the section is read, so a bad value stops `load_config`
# before any data is read or model built. Errors name the key, the value and what is
# accepted; `load_config` then says where the key came from (the YAML file's line, or the
# `--set` override).

# (embed_dim, depth, num_heads) of the named ViT sizes: the one table, read by `tracktune.model.vit`
# (it lives here because config reads no torch)
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "giant": (1536, 40, 24),
}
# the adaptation methods of `tracktune.adapt.METHODS` and LoRA's targets of
# `tracktune.adapt.lora.TARGET_MODULES` (tests keep them equal)
METHOD_NAMES = ("full", "frozen", "lora", "srft", "fctl", "patrack")
LORA_TARGETS = ("q", "k", "v", "proj", "fc1", "fc2")
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")


def _interval(low, high, low_open: bool, high_open: bool, integer: bool) -> str:
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    return f"{kind} {'<' if high_open else '<='} {high}"


def in_range(where: str, name: str, value, low=None, high=None, low_open: bool = False, high_open: bool = False,
             optional: bool = False) -> None:
    """Raise a ConfigError naming `where.name`, `value` and the accepted interval unless `value`
    is a finite number inside it (`None` passes when `optional`)."""
    key = f"{where}.{name}" if where else name
    if value is None and optional:
        return
    integer = isinstance(value, int) and not isinstance(value, bool)
    expected = _interval(low, high, low_open, high_open, integer)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: {value!r} is not a number; expected {expected}", key)
    if not math.isfinite(value):
        raise ConfigError(f"{key}: {value!r} is not finite; expected {expected}", key)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        raise ConfigError(f"{key}: {value!r} is out of range; expected {expected}", key)


# --------------------------------------------------------------------------------------
# Machinery
# --------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert) `value` against the annotation `tp`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {_type_name(tp)}",
                          _dotted(where))
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {value!r} is not one of {choices}{did_you_mean(str(value), map(str, args))}",
                              _dotted(where))
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}", _dotted(where))
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}", _dotted(where))
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}.{i}") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}", _dotted(where))
        val_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}", _dotted(where))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}", _dotted(where))
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}", _dotted(where))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}", _dotted(where))
        return value
    return value


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys with a suggestion."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in hints:
            raise ConfigError(f"unknown config key '{path}'{did_you_mean(str(key), names)}", _dotted(path))
        kwargs[key] = _coerce(value, hints[key], path)
    section = cls(**kwargs)
    if hasattr(section, "check"):
        section.check(_dotted(where))
    return section


def _dotted(where: str) -> str:
    """`data.train[0].weight` -> `data.train.0.weight` (the form `--set` takes)."""
    return re.sub(r"\[(\d+)\]", r".\1", where)


def to_dict(config: Any) -> dict:
    """The plain-data form of a config (what `save_config` writes)."""
    return dataclasses.asdict(config)


def _list_index(node: list, part: str, done: str, text: str) -> int:
    if not re.fullmatch(r"\d+", part):
        raise ConfigError(f"override '{text}': {done} is a list; expected an item number, got '{part}'", done)
    index = int(part)
    if index > len(node):
        raise ConfigError(f"override '{text}': {done} has {len(node)} items (0..{len(node) - 1}); "
                          f"{index} is out of range ({len(node)} appends one)", done)
    return index


def _set_dotted(data: dict, dotted: str, value: Any, defaults: Any = None, text: str = "") -> None:
    """Set `a.b.c` in `data`; a part that is a number picks (or, one past the end, appends)
    an item of a list, which is first copied from `defaults` when `data` does not have it."""
    node, default = data, defaults
    parts = dotted.split(".")
    text = text or dotted
    for depth, part in enumerate(parts):
        done = ".".join(parts[:depth + 1])
        last = depth == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, ".".join(parts[:depth]), text)
            default = default[index] if isinstance(default, list) and index < len(default) else None
            if index == len(node):
                node.append({} if not last else value)
            if last:
                node[index] = value
                return
            child = node[index]
            if not isinstance(child, (dict, list)):
                raise ConfigError(f"override '{text}': {done} is {child!r}, not a section or list", done)
            node = child
            continue
        default = default.get(part) if isinstance(default, dict) else None
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, (dict, list)):
            child = copy.deepcopy(default) if isinstance(default, list) else {}
            node[part] = child
        node = child


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=c` -> ("a.b", parsed c); the value is read as YAML (`1e-4`, `[a, b]`, `null`)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML ({exc})") from exc
    return key, value


def merge_overrides(data: dict, overrides: typing.Iterable[str], cls: type = ExperimentConfig) -> dict:
    """Apply `key=value` overrides to the plain data of a `cls` config (list items by number:
    `data.train.0.root=/x`); errors are prefixed with the override, `--set KEY=VALUE: ...`."""
    defaults = to_dict(cls())
    for text in overrides:
        try:
            key, value = parse_override(text)
            _set_dotted(data, key, value, defaults, text)
        except ConfigError as exc:
            raise ConfigError(f"--set {text}: {exc}", exc.keys) from exc
    return data


def override_keys(overrides: typing.Iterable[str]) -> dict[str, str]:
    """{dotted key: override text} of `--set` overrides (the last wins)."""
    keys = {}
    for text in overrides:
        key, _ = parse_override(text)
        keys[key] = text
    return keys


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + ".")


def blame(exc: ConfigError, path: str | Path | None, lines: dict[str, int], overrides: dict[str, str]) -> ConfigError:
    """The error `exc` prefixed with where its key was set: `--set k=v` when an override set it
    (or a section holding it), else `FILE:LINE` of its YAML entry (or of the nearest enclosing
    one), else the file."""
    for key in exc.keys:
        for override_key, text in overrides.items():
            if _covers(override_key, key) or _covers(key, override_key):
                return ConfigError(f"--set {text}: {exc}", exc.keys)
    if path is None:
        return exc
    for key in exc.keys:
        parts = key.split(".")
        while parts:
            line = lines.get(".".join(parts))
            if line is not None:
                return ConfigError(f"{path}:{line}: {exc}", exc.keys)
            parts.pop()
    return ConfigError(f"{path}: {exc}", exc.keys)


def require_sections(overrides: typing.Iterable[str], sections: typing.Iterable[str], why: str) -> None:
    """An override outside `sections` is an error (a command that reads only part of a config
    must not accept, and then ignore, a setting of another part)."""
    sections = tuple(sections)
    for key, text in override_keys(overrides).items():
        if not any(_covers(section, key) for section in sections):
            raise ConfigError(f"--set {text}: {key} does not apply here: {why}", key)


def _key_lines(node: yaml.Node, path: Path, prefix: str, lines: dict[str, int]) -> None:
    """Record the 1-based line of every key (`a.b.0.c`) under `node`; a key given twice in one
    mapping is an error (YAML would silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            dotted = f"{prefix}.{key}" if prefix else key
            if key in seen:
                raise ConfigError(f"{path}:{line}: duplicate key '{dotted}' (first given on line {seen[key]})",
                                  dotted)
            seen[key] = line
            lines[dotted] = line
            _key_lines(value_node, path, dotted, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            dotted = f"{prefix}.{i}" if prefix else str(i)
            lines[dotted] = item.start_mark.line + 1
            _key_lines(item, path, dotted, lines)


def read_yaml_lines(path: str | Path) -> tuple[dict, dict[str, int]]:
    """A YAML config's mapping and {dotted key: line}. Not a file, not UTF-8, not YAML, a
    duplicate key, or a top level that is not a mapping: a ConfigError naming the file (and line)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; expected a YAML config file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save the config as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[str, int] = {}
        if node is not None:
            _key_lines(node, path, "", lines)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, found {type(data).__name__}")
    return data, lines


def read_yaml(path: str | Path) -> dict:
    return read_yaml_lines(path)[0]


# the configs that ship inside the package (package data): `tracktune configs` lists them
SHIPPED_CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DESCRIPTION_PREFIX = "# description:"


def shipped_configs() -> dict[str, Path]:
    """Name (file stem) -> path of every config shipped with the package, sorted by name."""
    return {p.stem: p for p in sorted(SHIPPED_CONFIG_DIR.glob("*.yaml"))}


def config_description(path: str | Path) -> str:
    """A config's one-line description: its first line `# description: ...` ("" when absent)."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline().strip()
    return first[len(DESCRIPTION_PREFIX):].strip() if first.startswith(DESCRIPTION_PREFIX) else ""


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file from a path, or from a shipped config's name (`lorat_b224_rgbt`, with or
    without `.yaml`; `configs/NAME.yaml`, the path in a clone before configs became package
    data, still names the shipped one). An existing file always wins over a shipped name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    bare = path.suffix in ("", ".yaml", ".yml") and path.parent in (Path("."), Path("configs"))
    if bare and path.stem in shipped:
        return shipped[path.stem]
    if path.exists():
        raise ConfigError(f"config is not a file: {path}")
    from tracktune.suggest import did_you_mean

    raise ConfigError(f"config not found: {path} is neither a file nor a shipped config's name"
                      f"{did_you_mean(path.stem, shipped)} (`tracktune configs` lists them)")


def load_config(path: str | Path | None = None, overrides: typing.Iterable[str] = (), cls: type = ExperimentConfig):
    """Read a YAML config (a path or a shipped config's name, `resolve_config`; or start from
    defaults), apply `key=value` overrides, validate every section (`check`). Errors name the
    key, the value, what is accepted and where the key was set: `FILE:LINE: ...` or
    `--set KEY=VALUE: ...`."""
    overrides = list(overrides)
    path = resolve_config(path) if path is not None else None
    data, lines = read_yaml_lines(path) if path is not None else ({}, {})
    merge_overrides(data, overrides, cls)
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise blame(exc, path, lines, override_keys(overrides)) from None


def config_from_dict(data: dict, source: str, overrides: typing.Iterable[str] = (),
                     cls: type = ExperimentConfig):
    """`from_dict(cls, data)` (validated) with `--set` overrides applied; errors name the
    override, or `source` (e.g. a checkpoint's manifest) for the rest."""
    overrides = list(overrides)
    data = merge_overrides(copy.deepcopy(data), overrides, cls)
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        error = blame(exc, None, {}, override_keys(overrides))
        if error is exc:
            error = ConfigError(f"{source}: {exc}", exc.keys)
        raise error from None


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return its path."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
