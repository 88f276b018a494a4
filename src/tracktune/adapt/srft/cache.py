"""The content-addressed cache of SRFT's prior factors, keyed by (RGB weights, batches, mode,
precision)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Callable, Optional

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from tracktune.adapt.srft.kfac import PriorFactors, collect_prior_factors
from tracktune.adapt.srft.priors import Eigenbasis
from tracktune.files import atomic_write_with


def model_fingerprint(model: nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        _hash_tensor(digest, name, tensor)
    return digest.hexdigest()


def _hash_tensor(digest, name: str, tensor: torch.Tensor) -> None:
    tensor = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    if tensor.numel():
        digest.update(tensor.view(torch.uint8).numpy().tobytes())


def batches_fingerprint(batches: list[dict]) -> str:
    """sha256 over the tensors of the batches the prior is measured on (keys sorted)."""
    digest = hashlib.sha256()
    for batch in batches:
        for key in sorted(batch):
            value = batch[key]
            if isinstance(value, torch.Tensor):
                digest.update(f"{key}|{tuple(value.shape)}|".encode())
                _hash_tensor(digest, key, value)
    return digest.hexdigest()


def cache_key(model_hash: str, data_hash: str, mode: str, amp: str) -> str:
    return hashlib.sha256(f"srft-prior-v1|{model_hash}|{data_hash}|{mode}|{amp}".encode()).hexdigest()


def prior_key(model: nn.Module, batches: list[dict], mode: str, amp: str) -> str:
    """What identifies a prior: the RGB model's weights, the batches, the mode and the precision."""
    return cache_key(model_fingerprint(model), batches_fingerprint(batches), mode, amp)


def save_prior_factors(path: Path, factors: PriorFactors, key: str) -> Path:
    """Write the factors as safetensors with the key in the metadata (atomically)."""
    tensors: dict[str, torch.Tensor] = {}
    for name in factors.output_eigs:
        tensors[f"linear/{name}/output_values"] = factors.output_eigs[name].values
        tensors[f"linear/{name}/output_vectors"] = factors.output_eigs[name].vectors
        tensors[f"linear/{name}/input_values"] = factors.input_eigs[name].values
        tensors[f"linear/{name}/input_vectors"] = factors.input_eigs[name].vectors
    for name, fisher in factors.diagonal.items():
        tensors[f"diagonal/{name}"] = fisher
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    stored: set[int] = set()  # layers reading one tensor (q, k, v) share A's decomposition: store copies
    for name, tensor in tensors.items():
        if tensor.numel() and tensor.untyped_storage().data_ptr() in stored:
            tensors[name] = tensor.clone()
        if tensor.numel():
            stored.add(tensors[name].untyped_storage().data_ptr())
    metadata = {"key": key, "has_bias": json.dumps(factors.has_bias), "seconds": f"{factors.seconds:.3f}"}
    # two runs may measure the same prior at once: each writes its own temporary file and
    # renames it into place, so a reader sees no file or a complete one (the last writer wins)
    return atomic_write_with(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_prior_factors(path: Path, key: str) -> Optional[PriorFactors]:
    """The cached factors if `path` exists and was written for `key`; None otherwise. A cut
    or garbled cache file is a cache miss (said on stderr): the prior is measured again and
    the file rewritten."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("key") != key:
                return None
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        has_bias = json.loads(metadata["has_bias"])
    except Exception as exc:  # safetensors' SafetensorError for a cut or garbled file, OSError, ValueError
        return _unreadable(path, f"unreadable ({exc})")
    output_eigs, input_eigs, diagonal = {}, {}, {}
    for name in has_bias:
        prefix = f"linear/{name}/"
        try:
            output_eigs[name] = Eigenbasis(tensors[prefix + "output_values"], tensors[prefix + "output_vectors"])
            input_eigs[name] = Eigenbasis(tensors[prefix + "input_values"], tensors[prefix + "input_vectors"])
        except (KeyError, TypeError) as exc:
            return _unreadable(path, f"lacks {exc}")
    for k, v in tensors.items():
        if k.startswith("diagonal/"):
            diagonal[k[len("diagonal/"):]] = v
    return PriorFactors(output_eigs, input_eigs, has_bias, diagonal, 0.0)


def _unreadable(path: Path, why: str) -> None:
    print(f"note: SRFT prior cache {path}: {why}; measuring the prior again", file=sys.stderr)
    return None


def cached_prior_factors(model: nn.Module, batches: list[dict], loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                         cache_dir: Optional[Path], mode: str = "kfac", amp: str = "none",
                         progress: Optional[Callable[[int], None]] = None, key: Optional[str] = None
                         ) -> tuple[PriorFactors, Optional[Path], bool]:
    """The prior factors for (model weights, batches, mode, amp): read from `cache_dir` when a
    file for that key exists, measured and written there otherwise. Returns
    (factors, cache path or None, whether the cache was used). `key`: `prior_key(...)` of the
    same arguments when the caller already has it."""
    if cache_dir is None:
        return collect_prior_factors(model, batches, loss_fn, mode, amp, progress), None, False
    key = key or prior_key(model, batches, mode, amp)
    path = Path(cache_dir).expanduser() / f"srft_prior_{key[:24]}.safetensors"
    cached = load_prior_factors(path, key)
    if cached is not None:
        return cached, path, True
    factors = collect_prior_factors(model, batches, loss_fn, mode, amp, progress)
    save_prior_factors(path, factors, key)
    return factors, path, False
