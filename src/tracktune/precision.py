"""Numeric precision names (`none`, `bf16`, `fp16`) -> torch dtypes and autocast contexts.

One mapping for training, tracking, SRFT's prior measurement and inference preparation.
"""

from __future__ import annotations

import contextlib

import torch

from tracktune.errors import ConfigError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("none", *AMP_DTYPES)


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
