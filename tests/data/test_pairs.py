"""Training pairs: consistent RGB/aux augmentation, visible-only sampling, per-index
determinism, labels checked by hand. (Crop geometry: test_crops.py.)"""

from __future__ import annotations

import dataclasses
import logging

import cv2
import numpy as np
import pytest
import torch

from tracktune.config import DataConfig
from tracktune.data.pairs import PairDataset, PairSource, ShardSampler, pair_loader
from tracktune.data.sequence import Sequence
from tracktune.errors import ConfigError, DataError

TARGET = (230, 40, 30)  # RGB colour of the drawn target

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def quiet(**changes) -> DataConfig:
    """A DataConfig with every random augmentation off unless asked for."""
    base = dict(modality="thermal", scale_jitter=0.0, center_jitter=0.0, flip_prob=0.0, color_jitter=0.0,
                grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0, samples_per_epoch=64, max_gap=100)
    base.update(changes)
    return DataConfig(**base)


def background(width: int, height: int, seed: int) -> np.ndarray:
    """Left-right asymmetric, per-channel different RGB background (so a flip shows)."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(0, 1, width)[None, :, None]
    ys = np.linspace(0, 1, height)[:, None, None]
    base = np.concatenate([40 + 150 * xs**2 + 0 * ys, 60 + 100 * ys + 0 * xs, 90 + 60 * xs * ys], axis=2)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def make_sequence(root, name, boxes, visible=None, size=(96, 72), aux=True, seed=0, draw=None):
    """Write PNG frames: RGB with the target drawn in visible frames; aux (thermal) = the RGB
    frame's red channel, so an aux crop must equal the RGB crop's red channel."""
    boxes = np.asarray(boxes, dtype=np.float64)
    vis = np.isfinite(boxes).all(1) if visible is None else np.asarray(visible, bool)
    draw = vis if draw is None else np.asarray(draw, bool)
    rgb_paths, aux_paths = [], []
    for i, box in enumerate(boxes):
        frame = background(size[0], size[1], seed * 1000 + i)
        if draw[i]:
            x, y, w, h = (int(round(v)) for v in box)
            frame[y : y + h, x : x + w] = TARGET
        rgb_path = root / name / "rgb" / f"{i:04d}.png"
        aux_path = root / name / "thermal" / f"{i:04d}.png"
        rgb_path.parent.mkdir(parents=True, exist_ok=True)
        aux_path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(rgb_path), frame[:, :, ::-1])
        assert cv2.imwrite(str(aux_path), frame[:, :, 0])
        rgb_paths.append(rgb_path)
        aux_paths.append(aux_path)
    frames = {"rgb": rgb_paths}
    if aux:
        frames["thermal"] = aux_paths
    return Sequence(name, frames, boxes, visible=visible)


def moving_boxes(n, seed=0, size=(96, 72)):
    rng = np.random.default_rng(seed)
    w, h = rng.uniform(10, 20), rng.uniform(8, 16)
    xs = np.linspace(5, size[0] - w - 5, n) + rng.normal(0, 1, n)
    ys = np.linspace(size[1] - h - 5, 5, n) + rng.normal(0, 1, n)
    return np.stack([np.round(xs), np.round(ys), np.full(n, round(w)), np.full(n, round(h))], 1)


def dataset(sources, data, seed=0, template=112, search=224, patch=14):
    return PairDataset(sources, data, template, search, patch, seed=seed)


# --------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    return [make_sequence(root, f"seq{i}", moving_boxes(12, seed=i), seed=i) for i in range(2)]


def test_labels_by_hand(tmp_path):
    seq = make_sequence(tmp_path, "hand", [[85, 69, 30, 12]] * 2, size=(200, 150))
    item = dataset([PairSource("hand", [seq])], quiet())[0]
    # template side ceil(2 sqrt(360)) = 38: box x in [4/38, 34/38], y in [13/38, 25/38]
    np.testing.assert_allclose(item["template_box"].numpy(), [4 / 38, 13 / 38, 34 / 38, 25 / 38], atol=1e-6)
    expected_mask = np.zeros((8, 8), bool)
    expected_mask[2:6, :] = True  # rows whose [k/8, (k+1)/8] overlaps [0.342, 0.658]; all columns
    np.testing.assert_array_equal(item["template_mask"].numpy(), expected_mask)
    # search side 76: x in [23/76, 53/76], y in [32/76, 44/76]; centres (k + 0.5)/16 inside
    np.testing.assert_allclose(item["search_box"].numpy(), [23 / 76, 32 / 76, 53 / 76, 44 / 76], atol=1e-6)
    expected_positive = np.zeros((16, 16), bool)
    expected_positive[7:9, 5:11] = True
    np.testing.assert_array_equal(item["search_positive"].numpy(), expected_positive)
    assert item["aux_valid"].item() is True


def test_batch_shapes_and_types(two_sequences):
    ds = dataset([PairSource("a", two_sequences)], DataConfig(samples_per_epoch=8))
    batch = next(iter(pair_loader(ds, batch_size=4, num_workers=0)))
    shapes = {k: (tuple(v.shape), v.dtype) for k, v in batch.items()}
    assert shapes == {
        "template_rgb": ((4, 3, 112, 112), torch.uint8), "search_rgb": ((4, 3, 224, 224), torch.uint8),
        "template_aux": ((4, 3, 112, 112), torch.uint8), "search_aux": ((4, 3, 224, 224), torch.uint8),
        "template_box": ((4, 4), torch.float32), "search_box": ((4, 4), torch.float32),
        "template_mask": ((4, 8, 8), torch.bool), "search_positive": ((4, 16, 16), torch.bool),
        "aux_valid": ((4,), torch.bool),
    }
    assert ((batch["search_box"] >= 0) & (batch["search_box"] <= 1)).all()
    assert batch["template_mask"].any(dim=(1, 2)).all()
    rgb_only = dataset([PairSource("a", two_sequences)], DataConfig(modality="rgb", samples_per_epoch=2))
    assert "template_aux" not in rgb_only[0] and rgb_only[0]["aux_valid"].item() is False


def test_flip_is_shared_by_rgb_and_aux(two_sequences):
    ds = dataset([PairSource("a", two_sequences)], quiet(flip_prob=0.5, scale_jitter=0.25, center_jitter=3.0))
    flips = set()
    for i in range(16):
        item, info = ds.sample(i)
        flips.add(info.flipped)
        for role in ("template", "search"):
            rgb, aux = item[f"{role}_rgb"], item[f"{role}_aux"]
            # aux frames are the RGB frames' red channel: the same warp gives the same pixels
            assert torch.equal(aux, rgb[:1].expand_as(aux)), (i, role)
    assert flips == {False, True}
    # flipping mirrors both crops and the boxes
    plain = dataset([PairSource("a", two_sequences)], quiet(flip_prob=0.0))
    mirrored = dataset([PairSource("a", two_sequences)], quiet(flip_prob=1.0))
    a, b = plain[3], mirrored[3]
    for key in ("template_rgb", "search_rgb", "template_aux", "search_aux"):
        diff = (a[key].flip(-1).int() - b[key].int()).abs()
        assert diff.max() <= 1, key  # OpenCV's fixed-point coordinates may round differently
    for key in ("template_box", "search_box"):
        x0, y0, x1, y1 = a[key]
        torch.testing.assert_close(b[key], torch.stack([1 - x1, y0, 1 - x0, y1]))
    torch.testing.assert_close(b["search_positive"], a["search_positive"].flip(-1))


def test_photometric_changes_rgb_only_and_blur_both(two_sequences):
    plain = dataset([PairSource("a", two_sequences)], quiet(flip_prob=0.5, scale_jitter=0.25, center_jitter=3.0))
    colour = dataset([PairSource("a", two_sequences)],
                     quiet(flip_prob=0.5, scale_jitter=0.25, center_jitter=3.0, color_jitter=0.4,
                           grayscale_prob=0.3, solarize_prob=0.3))
    blurred = dataset([PairSource("a", two_sequences)],
                      quiet(flip_prob=0.5, scale_jitter=0.25, center_jitter=3.0, blur_prob=1.0))
    rgb_changed = aux_blurred = 0
    for i in range(10):
        a, b, c = plain[i], colour[i], blurred[i]
        for key in ("template_aux", "search_aux", "template_box", "search_box", "search_positive"):
            assert torch.equal(a[key], b[key]), key  # geometry and aux untouched by colour augmentation
        rgb_changed += not torch.equal(a["search_rgb"], b["search_rgb"])
        for role in ("template", "search"):
            assert torch.equal(c[f"{role}_aux"], c[f"{role}_rgb"][:1].expand(3, -1, -1))  # same blur
            aux_blurred += not torch.equal(c[f"{role}_aux"], a[f"{role}_aux"])  # sigma 0.1 may change nothing
    assert rgb_changed >= 8 and aux_blurred >= 15


def test_sampler_never_emits_an_invisible_target(tmp_path):
    n = 60
    boxes = moving_boxes(n, seed=5)
    visible = np.zeros(n, bool)
    visible[[4, 17, 19, 21, 22, 34, 40]] = True  # 17-22 is exactly max_gap apart, 34-40 one more
    boxes[np.arange(n) % 3 == 0] = np.nan  # absent: NaN boxes, including frame 21 flagged visible
    # the other invisible frames keep a box (occluded) but the target is not drawn
    drawn = visible & np.isfinite(boxes).all(1)
    seq = make_sequence(tmp_path, "occluded", boxes, visible=visible, draw=drawn)
    ds = dataset([PairSource("occ", [seq])], quiet(max_gap=5, samples_per_epoch=200))
    seen = set()
    for i in range(len(ds)):
        item, info = ds.sample(i)
        seen.add((info.template_frame, info.search_frame))
        # the target is at the template crop's centre: a frame where it is drawn was read
        centre = item["template_rgb"][:, 56, 56].tolist()
        assert centre == list(TARGET), (info, centre)
    # brute force: every (t, s) with both visible and |t - s| <= 5
    usable = np.flatnonzero(drawn)
    valid = {(t, s) for t in usable for s in usable if abs(t - s) <= 5}
    assert len(valid) == 12 and seen == valid


def test_per_index_determinism_and_worker_independence(two_sequences):
    data = DataConfig(samples_per_epoch=8)  # every augmentation on
    ds = dataset([PairSource("a", two_sequences)], data, seed=3)
    again = dataset([PairSource("a", two_sequences)], data, seed=3)
    for i in (0, 5):
        a, b = ds[i], again[i]
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(ds[0]["search_rgb"], ds[1]["search_rgb"])
    other_seed = dataset([PairSource("a", two_sequences)], data, seed=4)
    assert not torch.equal(ds[0]["search_rgb"], other_seed[0]["search_rgb"])
    first = ds[2]
    ds.set_epoch(1)
    assert not torch.equal(first["search_rgb"], ds[2]["search_rgb"])
    serial = list(pair_loader(ds, batch_size=2, num_workers=0))
    parallel = list(pair_loader(ds, batch_size=2, num_workers=2))
    assert len(serial) == len(parallel) == 4
    for x, y in zip(serial, parallel):
        assert all(torch.equal(x[k], y[k]) for k in x)
    # rank 1 of 2, resumed after its first batch, gets exactly what an uninterrupted run gives
    shard = list(pair_loader(ds, batch_size=2, num_workers=0, rank=1, world_size=2))
    resumed = list(pair_loader(ds, batch_size=2, num_workers=0, rank=1, world_size=2, start_batch=1))
    assert all(torch.equal(shard[1][k], resumed[0][k]) for k in shard[1])
    expected = torch.stack([ds[5]["search_rgb"], ds[7]["search_rgb"]])
    assert torch.equal(shard[1]["search_rgb"], expected)


def test_shards_partition_the_epoch():
    parts = [list(ShardSampler(10, r, 3)) for r in range(3)]
    assert parts == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert list(ShardSampler(10, 1, 3, start=2)) == [7]
    with pytest.raises(ConfigError):
        ShardSampler(10, 3, 3)


def test_mixture_weights_and_rgb_only_sources(tmp_path, two_sequences):
    rgb_seq = make_sequence(tmp_path, "coco_like", moving_boxes(4, seed=9), aux=False, seed=9)
    data = quiet(samples_per_epoch=400)
    ds = dataset([PairSource("x", two_sequences, weight=3.0), PairSource("rgb", [rgb_seq], weight=1.0)], data)
    from_rgb = 0
    for i in range(len(ds)):
        item, info = ds.sample(i)
        is_rgb = info.source == "rgb"
        from_rgb += is_rgb
        assert item["aux_valid"].item() is (not is_rgb)
        if is_rgb:
            assert not item["search_aux"].any() and not item["template_aux"].any()
    assert 0.25 - 0.07 < from_rgb / len(ds) < 0.25 + 0.07  # binomial sd is 0.022
    dup = dataset([PairSource("rgb", [rgb_seq], rgb_only="duplicate")], data)
    item = dup[0]
    assert item["aux_valid"].item() is True and torch.equal(item["search_aux"], item["search_rgb"])


def test_unreadable_frames_raise_or_are_skipped_and_counted(tmp_path, caplog):
    seq = make_sequence(tmp_path, "broken", moving_boxes(5, seed=2), seed=2)
    seq.frames["rgb"][2].write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    strict = dataset([PairSource("b", [seq])], quiet(max_gap=1, samples_per_epoch=40))
    with pytest.raises(DataError, match="0002.png"):
        for i in range(len(strict)):
            strict[i]
    lenient = dataset([PairSource("b", [seq])], quiet(max_gap=1, samples_per_epoch=40, skip_unreadable=True))
    with caplog.at_level(logging.WARNING, logger="tracktune.data.pairs"):
        infos = [lenient.sample(i)[1] for i in range(len(lenient))]
    assert all(2 not in (info.template_frame, info.search_frame) for info in infos)
    assert lenient.skipped_frames > 0
    skipped_lines = [r for r in caplog.records if "0002.png" in r.getMessage()]
    assert len(skipped_lines) == lenient.skipped_frames


def test_bad_settings_are_config_errors(two_sequences):
    with pytest.raises(ConfigError, match="template_size=100"):
        dataset([PairSource("a", two_sequences)], DataConfig(), template=100)
    with pytest.raises(ConfigError, match="grayscale_prob"):
        dataset([PairSource("a", two_sequences)], dataclasses.replace(DataConfig(), grayscale_prob=0.6, blur_prob=0.6))
    empty = Sequence("empty", {"rgb": two_sequences[0].frames["rgb"]}, np.full((12, 4), np.nan))
    with pytest.raises(DataError, match="no sequence has a visible target"):
        dataset([PairSource("e", [empty])], DataConfig())
