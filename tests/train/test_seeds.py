"""`seed` drives a training run: the same seed gives bitwise identical weights on one machine
(default settings: `train.deterministic` off, bf16 autocast, data-loader workers, two
threads), another seed gives other weights (initialisation and pair sampling both move)."""

from __future__ import annotations

import pytest
import torch

from train_fixtures import memory_sources, tiny_config
from tracktune.data.pairs import PairDataset
from tracktune.runs import load_tracker_model
from tracktune.train.trainer import train


@pytest.fixture(autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def trained_weights(tmp_path, name: str, seed: int, workers: int) -> dict[str, torch.Tensor]:
    config = tiny_config(amp="bf16", deterministic=False, checkpoint_every=100)
    config.seed = seed
    config.data.num_workers = workers
    config.data.color_jitter = 0.2  # augmentation draws in the pairs, too
    train(config, tmp_path / name, progress=False, sources=memory_sources())
    return {k: v.detach().clone() for k, v in load_tracker_model(tmp_path / name).state_dict().items()}


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    first = trained_weights(tmp_path, "a", seed=5, workers=2)
    again = trained_weights(tmp_path, "b", seed=5, workers=2)
    other = trained_weights(tmp_path, "c", seed=6, workers=2)
    assert first.keys() == again.keys() == other.keys()
    assert [k for k in first if not torch.equal(first[k], again[k])] == []
    changed = [k for k in first if not torch.equal(first[k], other[k])]
    assert len(changed) > 0.9 * len(first)  # essentially every tensor moves with the seed


def test_worker_count_does_not_change_the_weights(tmp_path):
    in_process = trained_weights(tmp_path, "w0", seed=5, workers=0)
    workers = trained_weights(tmp_path, "w2", seed=5, workers=2)
    assert [k for k in in_process if not torch.equal(in_process[k], workers[k])] == []


def test_pairs_follow_the_seed():
    config = tiny_config()
    sources = memory_sources()
    draws = {}
    for seed in (1, 1, 2):
        config.seed = seed
        dataset = PairDataset.from_config(config, sources)
        dataset.set_epoch(0)
        draws.setdefault(seed, []).append([dataset.sample(i)[1] for i in range(8)])
    assert draws[1][0] == draws[1][1]
    assert draws[1][0] != draws[2][0]
