"""Numeric precision names (`none`, `bf16`, `fp16`) -> torch dtypes and autocast contexts.

One mapping for training, tracking, SRFT's prior measurement and inference preparation.
"""

from __future__ import annotations

import contextlib

import torch

from tracktune.errors import ConfigError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("none", *AMP_DTYPES)
TRAIN_AMPS = ("auto", *PRECISIONS)  # what `train.amp` names; auto: `resolve_train_amp`


def amp_dtype(amp: str) -> torch.dtype | None:
    """The autocast dtype of a precision name (None for `none`)."""
    if amp == "none":
        return None
    if amp not in AMP_DTYPES:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, not {amp!r}")
    return AMP_DTYPES[amp]


def autocast_context(device: torch.device | str, amp: str):
    """`torch.autocast` for `amp` on `device` (a null context for `none`). fp16 autocast is
    CUDA-only: on CPU it is refused with a ConfigError rather than silently run slowly."""
    dtype = amp_dtype(amp)
    if dtype is None:
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if dtype == torch.float16 and device_type != "cuda":
        raise ConfigError("amp fp16 needs a CUDA device; use bf16 on CPU")
    return torch.autocast(device_type=device_type, dtype=dtype)


# ---- tracking (inference) precisions -------------------------------------------------------

# what `track.precision` names: the weights and kernels the tracker runs (model.inference)
INFERENCE_PRECISIONS = ("fp32", "bf16", "fp16", "int8")
TRACK_PRECISIONS = ("auto", *INFERENCE_PRECISIONS)
# the legacy `track.amp` names (autocast over fp32 weights) -> the precision that replaces them
AMP_TO_PRECISION = {"none": "fp32", "bf16": "bf16", "fp16": "fp16"}


def cpu_has_fast_bf16() -> bool:
    """The CPU multiplies bf16 natively (AVX512-BF16 or AMX); without it oneDNN emulates bf16
    and fp32 is faster."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_train_amp(amp: str, device: torch.device | str) -> str:
    """The autocast a training run uses: `amp` unless it is "auto"; "auto" is bf16 on a CUDA
    device with bf16 (fp16 without), bf16 on a CPU with native bf16 and none on a CPU without:
    there oneDNN emulates bf16, and a forward and backward of the demo's tracker (batch 32, one
    thread, an AVX2-only EPYC) took 4.9 s in bf16 against 0.43 s in fp32."""
    if amp not in TRAIN_AMPS:
        raise ConfigError(f"train.amp must be one of {list(TRAIN_AMPS)}, not {amp!r}")
    if amp != "auto":
        return amp
    return native_half_precision(device) or "none"


def native_half_precision(device: torch.device | str) -> str | None:
    """The 16-bit precision `device` computes natively: bf16 on a CUDA device with bf16 (fp16
    without) and on a CPU with native bf16; None elsewhere (what both `auto`s fall back from)."""
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return None


def emulated_bf16(amp_or_precision: str, device: torch.device | str) -> bool:
    """bf16 asked for on a CPU that would emulate it (an order of magnitude slower than fp32)."""
    return amp_or_precision == "bf16" and torch.device(device).type == "cpu" and not cpu_has_fast_bf16()


def slow_cpu_precision(precision: str) -> str | None:
    """Why `precision` runs far below fp32's speed on this CPU, or None. Measured on a 2-core
    AVX2-only EPYC (`tracktune bench track tiny_rgbt --threads 1`): fp32 87 FPS, bf16 21 FPS
    (emulated), int8 0.27 FPS (oneDNN's u8 x s8 GEMM without VNNI)."""
    cpu = getattr(torch, "cpu", None)
    if precision == "bf16" and not cpu_has_fast_bf16():
        return "this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 is emulated"
    if precision == "int8" and not getattr(cpu, "_is_vnni_supported", lambda: False)():
        return "this CPU has no VNNI (AVX512-VNNI or AVX-VNNI), so int8 runs without its fast kernels"
    return None


def resolve_track_precision(precision: str, amp: str | None, device: torch.device | str) -> str:
    """The precision a tracker runs in: `precision` unless it is "auto"; "auto" takes the legacy
    `amp` when a config sets it, else bf16 on a CUDA device with bf16 (fp16 without) and on a
    CPU with native bf16 (fp32 without). int8 is never chosen automatically: how much accuracy
    it costs depends on the tracker (measure it with `tracktune run` + `tracktune evaluate`)."""
    if precision not in TRACK_PRECISIONS:
        raise ConfigError(f"track.precision must be one of {list(TRACK_PRECISIONS)}, not {precision!r}")
    if amp is not None and amp not in AMP_TO_PRECISION:
        raise ConfigError(f"track.amp must be one of {list(AMP_TO_PRECISION)}, not {amp!r}")
    if precision != "auto":
        return precision
    if amp is not None:
        return AMP_TO_PRECISION[amp]
    return native_half_precision(device) or "fp32"
