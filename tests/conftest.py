"""Shared fixtures: a tiny experiment config, tiny in-memory synthetic sequences, tiny RGB weights.

The plain functions live in `tests/train/train_fixtures.py` (a module, because the torchrun
worker `tests/train/train_worker.py` imports them in a subprocess); this file puts that folder
on the import path once for every test and wraps them as fixtures.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))

from train_fixtures import memory_sources, tiny_config  # noqa: E402


@pytest.fixture
def tiny_experiment():
    """Factory: `tiny_experiment(**train_overrides)` -> a 2-block, 32-wide LoRAT-design config."""
    return tiny_config


@pytest.fixture
def synthetic_sources():
    """Factory: `synthetic_sources(count=4, length=12)` -> in-memory RGB-T training sources."""
    return memory_sources


@pytest.fixture(scope="session")
def rgb_weights(tmp_path_factory) -> Path:
    """A tiny RGB tracker's weights (`tiny_config()`'s model with fusion rgb, seed 0): the
    'pretrained' file that methods needing one (srft, fctl) start from."""
    from tracktune.model import build_model
    from tracktune.model.pretrained import save_model_weights

    config = tiny_config()
    rgb = dataclasses.replace(config, model=dataclasses.replace(config.model, fusion="rgb"))
    state = torch.get_rng_state()
    torch.manual_seed(0)
    try:
        return save_model_weights(build_model(rgb), tmp_path_factory.mktemp("rgb") / "rgb.safetensors")
    finally:
        torch.set_rng_state(state)
