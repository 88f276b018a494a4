"""Typed experiment configuration: dataclasses <-> YAML, dotted overrides, validation.

A YAML file sets any field of `ExperimentConfig`; `--set lora.rank=16` overrides one
from the command line (the value is parsed as YAML). An unknown key is an error naming the
key and the closest valid one; a value of the wrong type is an error naming the key. The
resolved config is written beside every run (`save_config`).

Each section's dataclass sits here, grouped by the part of tracktune that reads it.
"""

from __future__ import annotations

import dataclasses
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


@dataclass
class DatasetEntry:
    """One dataset of a training or evaluation mixture."""

    name: str = "synthetic"
    root: Optional[str] = None
    split: Optional[str] = "train"
    weight: float = 1.0
    rgb_only: Literal["zero", "duplicate"] = "zero"


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
    amp: Literal["none", "bf16", "fp16"] = "bf16"
    grad_accum: int = 1
    deterministic: bool = False
    checkpoint_every: int = 1000
    keep_last: int = 3
    log_every: int = 10
    tensorboard: bool = False
    device: Optional[str] = None  # "cpu", "cuda", "cuda:1"; null: CUDA when available (torchrun: cuda:LOCAL_RANK)
    # frozen Linear weights (LoRA's base) stored in the autocast dtype when amp is on: the matmuls
    # see the same values autocast would cast them to, with half the memory and no per-step casts
    frozen_dtype: Literal["float32", "amp"] = "amp"


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
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {_type_name(tp)}")
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where}: {value!r} is not one of {choices}{did_you_mean(str(value), map(str, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        val_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
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
            raise ConfigError(f"unknown config key '{path}'{did_you_mean(str(key), names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def to_dict(config: Any) -> dict:
    """The plain-data form of a config (what `save_config` writes)."""
    return dataclasses.asdict(config)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


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


def merge_overrides(data: dict, overrides: typing.Iterable[str]) -> dict:
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    return data


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


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
    defaults), apply `key=value` overrides, validate."""
    data = read_yaml(resolve_config(path)) if path is not None else {}
    merge_overrides(data, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from exc
        raise


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically) and return its path."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
