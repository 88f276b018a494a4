"""Non-ideal image synthesis: severity monotone in a measured statistic, determinism, specs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tracktune.data import degrade as D
from tracktune.errors import ConfigError


def scene(size: int = 96, seed: int = 0) -> np.ndarray:
    """A fixed test image: smooth colour ramps, a checkerboard and fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * np.sin(6 * x + 4 * y)], axis=2)
    check = ((np.floor(x * 8) + np.floor(y * 8)) % 2)[:, :, None] * 0.25
    texture = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 1.0)[:, :, None] * 0.3
    return (np.clip(base * 0.6 + check + texture - 0.1, 0, 1) * 255).astype(np.uint8)


IMAGE = scene()


def psnr_reference(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))  # OpenCV's own PSNR (peak 255), independent of ours


@pytest.mark.parametrize("kind", list(D.KINDS))
@pytest.mark.parametrize("seed", [0, 1])
def test_psnr_falls_with_severity(kind, seed):
    values = [psnr_reference(IMAGE, D.degrade(IMAGE, kind, s, np.random.default_rng(seed))) for s in D.SEVERITIES]
    assert all(a > b for a, b in zip(values, values[1:])), f"{kind}: PSNR by severity {values}"
    assert values[0] < 45.0, f"{kind} at severity 1 barely changes the image ({values[0]:.1f} dB)"


def test_fog_local_contrast_falls_with_severity():
    values = [D.local_contrast(D.degrade(IMAGE, "fog", s, np.random.default_rng(3))) for s in D.SEVERITIES]
    assert D.local_contrast(IMAGE) > values[0]
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_low_light_darkens_and_over_exposure_brightens():
    dark = [D.degrade(IMAGE, "low_light", s, np.random.default_rng(0)).mean() for s in D.SEVERITIES]
    bright = [D.degrade(IMAGE, "over_exposure", s, np.random.default_rng(0)).mean() for s in D.SEVERITIES]
    assert IMAGE.mean() > dark[0] and all(a > b for a, b in zip(dark, dark[1:]))
    assert IMAGE.mean() < bright[0] and all(a < b for a, b in zip(bright, bright[1:]))


def test_low_light_scale_range_is_split_by_severity():
    scales = [[D.draw("low_light", s, np.random.default_rng(i)).params["scale"] for i in range(20)] for s in D.SEVERITIES]
    assert min(min(v) for v in scales) >= 0.1 - 1e-12 and max(max(v) for v in scales) <= 0.3 + 1e-12
    assert all(min(a) >= max(b) for a, b in zip(scales, scales[1:]))  # darker (smaller scale) with severity


def test_fog_follows_atmospheric_scattering():
    """I = J t + A (1 - t): a black image becomes A (1 - t), so t can be read back per row."""
    black = np.zeros((50, 40, 3), np.uint8)
    fog = D.draw("fog", 3, np.random.default_rng(0))
    out = fog(black).astype(np.float64) / 255
    p = fog.params
    depth = np.clip(np.linspace(1.0, p["near"], 50)[:, None] + np.linspace(-0.5, 0.5, 40)[None] * p["tilt"], 0, 1)
    expected = p["airlight"] * (1 - np.exp(-p["beta"] * depth))
    np.testing.assert_allclose(out[:, :, 0], expected, atol=1 / 255)
    assert out[0].mean() > out[-1].mean()  # far (top) foggier than near (bottom)


@pytest.mark.parametrize("kind", list(D.KINDS))
def test_determinism_by_seed(kind):
    a = D.degrade(IMAGE, kind, 3, np.random.default_rng(7))
    b = D.degrade(IMAGE, kind, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and a.shape == IMAGE.shape
    c = D.degrade(IMAGE, kind, 3, np.random.default_rng(8))
    assert not np.array_equal(a, c)


def test_pair_shares_parameters():
    template, search = IMAGE[:48, :48].copy(), IMAGE
    rng = np.random.default_rng(5)
    t_out, s_out, drawn = D.degrade_pair(template, search, "fog", 4, rng)
    # fog has no per-pixel randomness: the template equals the same drawn fog applied alone
    np.testing.assert_array_equal(t_out, drawn(template, 0))
    np.testing.assert_array_equal(s_out, drawn(search, 1))
    noise = D.draw("low_light", 2, np.random.default_rng(1))
    # same parameters, independent noise per crop stream
    assert not np.array_equal(noise(IMAGE, 0), noise(IMAGE, 1))
    np.testing.assert_array_equal(noise(IMAGE, 1), noise(IMAGE, 1))


def test_parse_specs():
    assert D.parse_spec("fog:3") == D.DegradeSpec("fog", 3, 3)
    assert D.parse_spec("rain:2-4") == D.DegradeSpec("rain", 2, 4)
    assert D.parse_spec("noise") == D.DegradeSpec("noise", 1, 5)
    assert [str(s) for s in D.parse_specs("fog:3, motion_blur:1-2")] == ["fog:3", "motion_blur:1-2"]
    assert len(D.parse_specs(["all"])) == len(D.KINDS)
    with pytest.raises(ConfigError, match="did you mean 'fog'"):
        D.parse_spec("fgo:3")
    for bad in ("fog:6", "fog:0", "fog:x", "fog:4-2"):
        with pytest.raises(ConfigError):
            D.parse_spec(bad)


def test_spec_draws_within_range_and_degrader_probability():
    spec = D.DegradeSpec("noise", 2, 3)
    severities = {spec.draw(np.random.default_rng(i)).severity for i in range(40)}
    assert severities == {2, 3}
    degrader = D.PairDegrader([D.DegradeSpec("fog"), D.DegradeSpec("rain")], prob=0.25)
    drawn = [degrader.draw(np.random.default_rng(i)) for i in range(400)]
    clean = sum(d is None for d in drawn)
    assert 240 < clean < 360  # about 300 of 400
    assert {d.kind for d in drawn if d is not None} == {"fog", "rain"}
    with pytest.raises(ConfigError):
        D.PairDegrader([], 1.0)


# --------------------------------------------------------------------------------------
# The training pair pipeline with degradation on (data/pairs.py, `data.degrade`)
# --------------------------------------------------------------------------------------


def _pair_dataset(tmp_path, **data_changes):
    from tracktune.config import DataConfig
    from tracktune.data.pairs import PairDataset, PairSource
    from tracktune.data.sequence import Sequence

    paths = []
    for i in range(4):
        frame = scene(64, seed=i)
        frame[20:36, 24:44] = (230, 40, 30)
        path = tmp_path / f"{i:04d}.png"
        cv2.imwrite(str(path), frame[:, :, ::-1])
        paths.append(path)
    boxes = np.array([[24, 20, 20, 16]] * 4, dtype=np.float64)
    sequence = Sequence("toy", {"rgb": paths}, boxes)
    data = DataConfig(modality="rgb", samples_per_epoch=8, color_jitter=0.1, **data_changes)
    return PairDataset([PairSource("toy", [sequence])], data, template_size=28, search_size=56, patch_size=14, seed=3)


def test_pairs_carry_clean_and_degraded_crops(tmp_path):
    plain = _pair_dataset(tmp_path)
    fogged = _pair_dataset(tmp_path, degrade=["fog:3", "low_light:5"])
    for index in range(4):
        clean_item = plain[index]
        item = fogged[index]
        assert "template_rgb_clean" not in clean_item
        # the clean crops are exactly what the pipeline gives without degradation
        for role in ("template", "search"):
            assert torch.equal(item[f"{role}_rgb_clean"], clean_item[f"{role}_rgb"])
            assert not torch.equal(item[f"{role}_rgb"], clean_item[f"{role}_rgb"])
            assert torch.equal(item[f"{role}_box"], clean_item[f"{role}_box"])
        # both crops carry the same drawn degradation: redo it by hand from the clean crops
        drawn = fogged.degrader.draw(np.random.default_rng([3, 0, index, 1]))
        for stream, role in enumerate(("template", "search")):
            hwc = item[f"{role}_rgb_clean"].numpy().transpose(1, 2, 0).copy()
            np.testing.assert_array_equal(item[f"{role}_rgb"].numpy().transpose(1, 2, 0), drawn(hwc, stream))


def test_pairs_degrade_probability_zero_keeps_keys(tmp_path):
    dataset = _pair_dataset(tmp_path, degrade=["rain"], degrade_prob=0.0)
    item = dataset[0]
    assert torch.equal(item["search_rgb"], item["search_rgb_clean"])  # collation needs the same keys


def test_pairs_bad_degrade_spec_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.degrade\[1\]"):
        _pair_dataset(tmp_path, degrade=["fog:2", "smog:2"])


def test_degrade_sequence_degrades_rgb_frames_only(tmp_path):
    from tracktune.data.sequence import Sequence

    rgb, thermal = [], []
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"v{i}.png"), scene(32, seed=i)[:, :, ::-1])
        cv2.imwrite(str(tmp_path / f"t{i}.png"), scene(32, seed=5 + i)[:, :, 0])
        rgb.append(tmp_path / f"v{i}.png")
        thermal.append(tmp_path / f"t{i}.png")
    sequence = Sequence("s", {"rgb": rgb, "thermal": thermal}, np.array([[4, 4, 8, 8]] * 2, float))
    noise = D.draw("noise", 4, np.random.default_rng(0))
    degraded = D.degrade_sequence(sequence, noise, condition="noise4")
    assert degraded.name == "s_noise4" and degraded.meta["degradation"] == "noise:4" and len(degraded) == 2
    for i in range(2):
        np.testing.assert_array_equal(degraded.frame(i), noise(sequence.frame(i), i))
        np.testing.assert_array_equal(degraded.frame(i, "thermal"), sequence.frame(i, "thermal"))
    assert not np.array_equal(degraded.frame(0) - sequence.frame(0), degraded.frame(1) - sequence.frame(1))
