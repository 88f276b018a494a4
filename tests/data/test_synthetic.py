"""The synthetic RGB-X benchmark: determinism, conditions, what the pixels show."""

import argparse

import cv2
import numpy as np
import pytest

from tracktune.data import synthetic as S
from tracktune.data.benchmarks import lasher, synthetic as synthetic_loader
from tracktune.errors import ConfigError

SMALL = dict(sequences=3, frames=6, size=(64, 48))


def tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("modality", ["thermal", "depth", "event"])
def test_same_seed_gives_identical_bytes_whatever_the_workers(tmp_path, modality):
    first = S.synthesise(tmp_path / "a", modality=modality, seed=3, workers=1, **SMALL)
    second = S.synthesise(tmp_path / "b", modality=modality, seed=3, workers=2, **SMALL)
    other = S.synthesise(tmp_path / "c", modality=modality, seed=4, workers=1, **SMALL)
    a, b, c = tree_bytes(first), tree_bytes(second), tree_bytes(other)
    assert len(a) > 3 * 6 * 2 and a == b
    differing = [k for k in a if k.endswith((".jpg", ".png", ".bmp")) and a[k] != c.get(k)]
    assert differing  # another seed draws other scenes


def test_plan_cycles_conditions_and_spreads_the_test_split():
    specs = S.plan(10, 5, seed=0, conditions=["night:4", "fog:2-3", "clean"], splits=(7, 3))
    assert [s.condition for s in specs[:4]] == ["night", "fog", "clean", "night"]
    assert all(s.severity == 4 for s in specs if s.condition == "night")
    assert all(2 <= s.severity <= 3 for s in specs if s.condition == "fog")
    tests = [s.index for s in specs if s.split == "test"]
    assert len(tests) == 3 and tests != [7, 8, 9]  # spread, not the tail
    assert S.split_counts(8, (0.75, 0.25)) == (6, 2)
    with pytest.raises(ConfigError, match="did you mean 'night'"):
        S.plan(2, 5, 0, conditions=["nigth"])
    with pytest.raises(ConfigError, match="severity must be within 1..5"):
        S.plan(2, 5, 0, conditions=["fog:6"])
    with pytest.raises(ConfigError, match="do not add up"):
        S.plan(4, 5, 0, splits=(1, 1))


def render(condition, severity=5, frames=40, size=(160, 120), seed=0, modality="thermal"):
    (spec,) = S.plan(1, frames, seed, size, [f"{condition}:{severity}"], (1, 0), modality)
    return S.render(spec)


def test_thermal_target_is_the_warmest_object_inside_its_box():
    """Independent of the box bookkeeping: the hottest (blurred) thermal pixel lies in the GT box."""
    for seed in range(3):
        seq = render("clean", 1, frames=8, seed=seed)
        assert seq.visible.all()
        for thermal, box in zip(seq.aux, seq.boxes):
            smooth = cv2.GaussianBlur(thermal, (0, 0), 2.0)
            y, x = np.unravel_index(np.argmax(smooth), smooth.shape)
            assert box[0] - 1 <= x <= box[0] + box[2] + 1 and box[1] - 1 <= y <= box[1] + box[3] + 1


def test_night_darkens_rgb_only():
    clean, night = render("clean", 1, frames=4), render("night", 5, frames=4)
    assert np.mean(night.rgb[0]) < 0.5 * np.mean(clean.rgb[0])
    for seq in (clean, night):  # thermal: the target stands out from the background in both
        x, y, w, h = seq.boxes[0].astype(int)
        inside = seq.aux[0][y + h // 3: y + 2 * h // 3, x + w // 3: x + 2 * w // 3].mean()
        assert inside > np.median(seq.aux[0]) + 80


def test_occlusion_and_out_of_view_hide_the_target():
    occluded, gone, clean = render("occlusion", 5, frames=60), render("out_of_view", 5, frames=60), render("clean", 5, frames=60)
    for seq in (occluded, gone):
        assert 0 < (~seq.visible).sum() < 60
        assert np.isnan(seq.boxes[~seq.visible]).all() and np.isfinite(seq.boxes[seq.visible]).all()
    assert clean.visible.all()
    assert (gone.boxes[gone.visible][:, :2] >= 1).all()  # boxes clipped to the frame, never a 0 coordinate
    right = gone.boxes[gone.visible][:, 0] + gone.boxes[gone.visible][:, 2]
    assert (right <= 159).all()


def test_scale_change_and_fast_motion():
    scaled = render("scale_change", 5, frames=30)
    areas = scaled.boxes[:, 2] * scaled.boxes[:, 3]
    assert areas.max() / areas.min() > 4
    fast, slow = render("fast_motion", 5, frames=20), render("clean", 1, frames=20)
    step = lambda s: np.median(np.abs(np.diff(s.boxes[:, :2], axis=0)).sum(axis=1))  # noqa: E731
    assert step(fast) > 3 * step(slow)


def test_depth_and_event_frames():
    depth = render("clean", 1, frames=3, modality="depth")
    assert depth.aux[0].dtype == np.uint16 and 1000 <= np.median(depth.aux[0]) <= 12000
    x, y, w, h = depth.boxes[0].astype(int)  # the target's depth plane is nearer than the floor behind it
    assert np.median(depth.aux[0][y + h // 3: y + 2 * h // 3, x + w // 3: x + 2 * w // 3]) <= 4500
    event = render("fast_motion", 5, frames=3, modality="event")
    first, second = event.aux[0], event.aux[1]
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    colours = {tuple(c) for c in second.reshape(-1, 3)}
    assert colours <= {(255, 255, 255), (255, 0, 0), (0, 0, 255)} and len(colours) == 3
    assert (second != 255).any(axis=2).mean() > (first != 255).any(axis=2).mean()  # motion makes events


def test_synthetic_loader_generates_once_and_reads_through_lasher(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACKTUNE_SYNTHETIC", raising=False)
    train = synthetic_loader.load(split="train", workers=1, sequences=4, frames=5, size=(64, 48))
    test = synthetic_loader.load(split="test", workers=1, sequences=4, frames=5, size=(64, 48))
    assert len(train) == 3 and len(test) == 1 and len(train[0]) == 5
    (root,) = (tmp_path / "cache" / "tracktune" / "synthetic").iterdir()
    assert root.name.startswith("thermal-")
    stamp = (root / "conditions.json").stat().st_mtime_ns
    again = synthetic_loader.load(split="train", workers=1, sequences=4, frames=5, size=(64, 48))
    assert (root / "conditions.json").stat().st_mtime_ns == stamp and [s.name for s in again] == [s.name for s in train]
    assert train[0].attributes["condition"] == "clean"
    from tracktune.data.benchmarks import load

    assert [s.name for s in load("synthetic", root, "test")] == [s.name for s in lasher.load(root, "test")]


def test_cli_synth_and_show(tmp_path, capsys):
    from tracktune.data.show import show_command

    args = argparse.Namespace(out=str(tmp_path / "set"), modality="thermal", sequences=2, frames=4, seed=0,
                              size="64x48", workers=1, conditions="night:5,fog")
    assert S.synth_command(args) == 0
    sequences = lasher.load(tmp_path / "set")
    assert [s.attributes["condition"] for s in sequences] == ["night", "fog"]
    show = argparse.Namespace(root=str(tmp_path / "set"), dataset=None, sequence=None, degrade="noise:2", frames=3,
                              out=str(tmp_path / "sheet.png"))
    assert show_command(show) == 0
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[0] >= 2 * 120 and sheet.shape[1] >= 3 * 2 * 160


def test_training_mixture_reads_a_synthetic_root_in_the_configured_modality(tmp_path):
    from tracktune.config import DataConfig, DatasetEntry
    from tracktune.data.pairs import sources_from_config
    from tracktune.errors import DataError

    S.synthesise(tmp_path / "event", modality="event", workers=1, **SMALL)
    data = DataConfig(modality="event", train=[DatasetEntry("synthetic", str(tmp_path / "event"), "train")])
    (source,) = sources_from_config(data)
    assert all(seq.aux_modality == "event" for seq in source.sequences) and len(source.sequences) == 2
    with pytest.raises(DataError, match="holds event data, not depth"):
        sources_from_config(DataConfig(modality="depth", train=data.train))
