"""Processes, devices and random state of a training run.

One process, or N under `torchrun` (gloo on CPU, nccl on CUDA): `setup_distributed` reads
torchrun's environment and joins the process group. `configure_determinism` turns on
`torch.use_deterministic_algorithms` (`train.deterministic`); the RNG helpers save and restore
the global torch / numpy / Python streams as tensors and numbers, so checkpoints load with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist

from tracktune.errors import ConfigError


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


def cpu_state(state: dict) -> dict:
    """A nested dict of tensors moved to the CPU (RNG states gathered for a checkpoint)."""
    return {k: (v.cpu() if isinstance(v, torch.Tensor) else cpu_state(v) if isinstance(v, dict) else v)
            for k, v in state.items()}
