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


# --------------------------------------------------------------------------------------
# Clean twins: the same sequence with the condition's RGB degradation off
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", ["night", "fog", "over_exposure"])
def test_twin_is_the_clean_rendering_of_the_same_plan(condition):
    import dataclasses

    (spec,) = S.plan(1, 5, 11, (96, 72), [f"{condition}:4"], (1, 0))
    degraded = S.render(spec)
    clean = S.render(dataclasses.replace(spec, condition="clean"))  # the oracle: the clean renderer itself
    assert len(degraded.rgb_clean) == len(clean.rgb) == 5
    for twin, frame in zip(degraded.rgb_clean, clean.rgb):
        np.testing.assert_array_equal(twin, frame)
    np.testing.assert_array_equal(degraded.boxes, clean.boxes)  # same scene and motion
    # the condition acts on every RGB frame, and only there
    assert all(not np.array_equal(twin, rgb) for twin, rgb in zip(degraded.rgb_clean, degraded.rgb))
    assert clean.rgb_clean is None


def test_twin_of_fast_motion_keeps_the_motion_without_the_blur():
    seq = render("fast_motion", 5, frames=6)

    def sharpness(image):
        return cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()

    assert all(sharpness(twin) > 1.5 * sharpness(rgb) for twin, rgb in zip(seq.rgb_clean[1:], seq.rgb[1:]))


@pytest.mark.parametrize("condition", ["clean", "occlusion", "distractors", "scale_change", "out_of_view"])
def test_conditions_that_leave_rgb_alone_have_no_separate_twin(condition):
    assert render(condition, 3, frames=3).rgb_clean is None


def test_twins_written_and_read_back_by_the_lasher_loader(tmp_path):
    root = S.synthesise(tmp_path / "set", sequences=3, frames=4, size=(64, 48), seed=2,
                        conditions=["clean", "night:5", "occlusion"], splits=(3, 0), workers=1, twins=True)
    sequences = {s.name: s for s in lasher.load(root, split="train")}
    night, clean = sequences["s0001_night"], sequences["s0000_clean"]
    assert night.frames["rgb_clean"][0].parent.name == "rgb_clean"
    assert clean.frames["rgb_clean"] == clean.frames["rgb"]  # undegraded: the twin is the frame itself
    assert night.aux_modality == "thermal"
    assert night.frame(0, "rgb_clean").mean() > 2 * night.frame(0).mean()  # the night frame is dark, its twin is not
    assert not (root / "s0000_clean" / "rgb_clean").exists() and not (root / "s0002_occlusion" / "rgb_clean").exists()
    plain = S.synthesise(tmp_path / "plain", sequences=3, frames=4, size=(64, 48), seed=2,
                         conditions=["clean", "night:5", "occlusion"], splits=(3, 0), workers=1)
    assert all("rgb_clean" not in s.frames for s in lasher.load(plain, split="train"))
    with pytest.raises(ConfigError, match="twins"):
        S.synthesise(tmp_path / "depth", modality="depth", sequences=1, frames=2, size=(64, 48), twins=True)


def test_pairs_take_the_twin_as_the_teacher_input(tmp_path):
    """A pair cut from a night sequence with a twin: its clean crops are exactly the crops the
    same sample gives when the twin frames are the RGB frames (an independent pipeline run)."""
    import dataclasses

    import torch

    from tracktune.config import DataConfig
    from tracktune.data.pairs import PairDataset, PairSource

    root = S.synthesise(tmp_path / "set", sequences=1, frames=8, size=(96, 72), seed=4, conditions=["night:5"],
                        splits=(1, 0), workers=1, twins=True)
    (night,) = lasher.load(root, split="train")
    swapped = dataclasses.replace(night, frames={"rgb": night.frames["rgb_clean"], "thermal": night.frames["thermal"]})

    def dataset(sequence, **changes):
        data = DataConfig(modality="thermal", samples_per_epoch=6, color_jitter=0.2, blur_prob=0.3, **changes)
        return PairDataset([PairSource("s", [sequence])], data, template_size=32, search_size=64, patch_size=16, seed=1)

    with_twin = dataset(night, degrade=["fog:3"], degrade_prob=0.0)  # the clean crops travel, nothing more degrades
    reference = dataset(swapped)
    student = dataset(night)
    for index in range(6):
        item, ref, plain = with_twin[index], reference[index], student[index]
        for role in ("template", "search"):
            assert torch.equal(item[f"{role}_rgb_clean"], ref[f"{role}_rgb"])
            assert torch.equal(item[f"{role}_rgb"], plain[f"{role}_rgb"])  # the student still reads the night frame
            assert f"{role}_rgb_twin" not in item


def test_a_split_in_step_with_the_conditions_is_reported():
    seven = ["clean", "night", "fog", "occlusion", "distractors", "over_exposure", "fast_motion"]
    specs = S.plan(196, 5, 0, conditions=seven, splits=(56, 140))
    assert {s.condition for s in specs if s.split == "test"} == set(seven) - {"clean", "occlusion"}  # by hand
    warnings = S.check_split_coverage(specs)
    assert len(warnings) == 2 and "in step" in warnings[0]
    for train, test in ((56, 56), (140, 140), (105, 35)):
        specs = S.plan(train + test, 5, 0, conditions=seven, splits=(train, test))
        assert S.check_split_coverage(specs) == []
        for split in ("train", "test"):
            assert {s.condition for s in specs if s.split == split} == set(seven)
