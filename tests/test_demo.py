"""The demo end to end at a micro scale: summary shape, plots, GIF, the pretraining cache."""

import json
import os

import pytest

from tracktune.demo import DemoRecipe, METHOD_RECIPES, parse_methods, run_demo, table
from tracktune.errors import ConfigError


def micro_recipe() -> DemoRecipe:
    return DemoRecipe(frame_size=(96, 72), frames=6, pretrain_sequences=3, target_sequences=6, test_sequences=2,
                      conditions=("clean", "night"), embed_dim=32, depth=2, num_heads=2, batch_size=4,
                      pretrain_steps=2, adapt_steps=2, lora_rank=2)


def test_micro_demo_writes_summary_plots_gif_and_caches_pretraining(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACKTUNE_SYNTHETIC", raising=False)
    lines = []
    summary = run_demo(micro_recipe(), ["rgb", "lora"], tmp_path / "out", progress=False, log=lines.append)

    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["methods"].keys() == {"rgb", "lora"}
    for name, entry in written["methods"].items():
        assert set(entry) >= {"overall", "conditions", "trainable_params", "train_seconds"}
        assert set(entry["overall"]) == {"SR", "PR", "NPR"}
        assert all(0.0 <= v <= 1.0 for v in entry["overall"].values())
        assert set(entry["conditions"]) == {"clean", "night"}  # the test split holds one of each
    assert written["methods"]["rgb"]["trainable_params"] == 0
    assert written["methods"]["lora"]["trainable_params"] > 0
    assert set(written["methods"]["lora"]["rgb_only"]) == {"SR", "PR", "NPR"}
    assert "rgb_only" not in written["methods"]["rgb"]
    assert written["wall_seconds"] > 0 and written["pretrain"]["cached"] is False
    assert (tmp_path / "out" / "night.gif").stat().st_size > 0
    assert list((tmp_path / "out" / "plots").glob("*.png"))
    assert any("lora" in line for line in lines)  # the table was printed
    # what `tracktune compare` reads: per-sequence scores (with the conditions) and result folders
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert set(scores["per_sequence"]) == {"rgb", "lora"}
    assert {"condition=clean", "condition=night"} <= set(scores["attributes"])
    assert sorted(p.name for p in (tmp_path / "out" / "results").iterdir()) == ["lora", "rgb"]
    assert len(list((tmp_path / "out" / "results" / "lora").glob("*.txt"))) == 2
    from tracktune.cli import main

    assert main(["compare", "--results", str(tmp_path / "out" / "scores.json"), "--baseline", "rgb", "--resamples", "100"]) == 0

    again = run_demo(micro_recipe(), ["rgb"], tmp_path / "out2", progress=False, log=lambda _: None)
    assert again["pretrain"]["cached"] is True
    # the same RGB tracker on the same test split scores the same
    assert again["methods"]["rgb"]["overall"] == pytest.approx(summary["methods"]["rgb"]["overall"])


def test_methods_option():
    assert parse_methods("lora") == ["rgb", "lora"]
    assert parse_methods("all") == list(METHOD_RECIPES)
    with pytest.raises(ConfigError, match="lorra"):
        parse_methods("rgb,lorra")


def test_table_lists_every_method_and_condition():
    entry = lambda sr: {"overall": {"SR": sr, "PR": sr, "NPR": sr}, "trainable_params": 10, "train_seconds": 1.0,
                        "conditions": {"clean": {"SR": sr, "PR": sr, "NPR": sr}, "night": {"SR": sr / 2, "PR": 0, "NPR": 0}}}
    text = table({"methods": {"rgb": entry(0.5), "lora": entry(0.25)}})
    header, _, rgb, lora = text.splitlines()
    assert header.split()[:6] == ["method", "SR", "PR", "NPR", "clean", "night"]
    assert rgb.split()[:6] == ["rgb", "50.0", "50.0", "50.0", "50.0", "25.0"]
    assert lora.split()[5] == "12.5"


def test_every_method_recipe_runs(tmp_path, monkeypatch):
    """`--methods all` at micro scale: each recipe builds, trains and tracks."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACKTUNE_SYNTHETIC", raising=False)
    summary = run_demo(micro_recipe(), list(METHOD_RECIPES), tmp_path / "out", progress=False, log=lambda _: None)
    assert list(summary["methods"]) == list(METHOD_RECIPES)
    for name, entry in summary["methods"].items():
        assert (entry["trainable_params"] > 0) == (name != "rgb")
        assert ("rgb_only" in entry) == (not name.startswith("rgb"))  # RGB models have no aux to replace


def test_step_options_are_checked(capsys, tmp_path):
    from tracktune.cli import main

    with pytest.raises(SystemExit) as info:  # argparse's range-checked type
        main(["demo", "--adapt-steps", "0", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert "argument --adapt-steps: 0 is out of range; expected an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_the_demo_never_deletes_what_it_did_not_write(tmp_path):
    from tracktune.demo import check_demo_run, remove_dead_pretraining_runs, unreadable_weights
    from tracktune.errors import ConfigError

    run = tmp_path / "runs" / "lora"
    check_demo_run(run, "demo_lora")  # absent: fine
    run.mkdir(parents=True)
    (run / "thesis.tex").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds files the demo did not write"):
        check_demo_run(run, "demo_lora")
    (run / "config.yaml").write_text("name: my_experiment\n")
    with pytest.raises(ConfigError, match=r"no config\.yaml named 'demo_lora'"):
        check_demo_run(run, "demo_lora")
    (run / "config.yaml").write_text("name: demo_lora\n")
    check_demo_run(run, "demo_lora")  # the demo's own previous run: train(overwrite=True) replaces its files
    assert (run / "thesis.tex").read_text() == "mine"
    # debris of killed pretraining runs goes, a live one's stays
    import os
    import subprocess
    import sys

    folder = tmp_path / "cache" / "rgb-abc"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder.parent / f"rgb-abc.run-{int(dead.stdout)}").mkdir(parents=True)
    (folder.parent / f"rgb-abc.run-{os.getpid()}").mkdir()
    remove_dead_pretraining_runs(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == [f"rgb-abc.run-{os.getpid()}"]
    # a cut cached RGB tracker is found out (then pretrained again)
    cut = tmp_path / "w.safetensors"
    cut.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    assert unreadable_weights(cut) is not None


def test_twin_pass_tracks_only_twins_whose_rgb_differs(monkeypatch):
    """A twin with the test sequence's own RGB frames reuses the boxes of the pass that saw that
    input (RGB tracker: its RGB-T pass; adapted: its RGB-only pass); only the others are tracked."""
    import dataclasses

    import numpy as np

    import tracktune.demo as demo
    from tracktune.data.sequence import Sequence

    def sequence(name, degraded):
        rgb = [f"/{name}/v{i}.jpg" for i in range(3)]
        clean = [f"/{name}/rgb_clean/v{i}.jpg" for i in range(3)] if degraded else list(rgb)
        return Sequence(name=name, frames={"rgb": rgb, "thermal": rgb, "rgb_clean": clean}, boxes=np.ones((3, 4)))

    test = [sequence("a", False), sequence("b", True), sequence("c", False)]
    twins = demo.clean_twins(test)
    models = {"rgb": type("M", (), {"fusion": "rgb"})(), "lora": type("M", (), {"fusion": "early_add"})()}
    calls = []

    def fake_track(model, sequences, rgb_only=False, progress=True):
        calls.append((model.fusion, rgb_only, [s.name for s in sequences], [str(s.frames["rgb"][0]) for s in sequences]))
        return {s.name: np.full((3, 4), 9.0) for s in sequences}

    monkeypatch.setattr(demo, "track", fake_track)
    boxes = {m: {s.name: np.full((3, 4), 1.0 if m == "rgb" else 2.0) for s in test} for m in models}
    rgb_only = {"lora": {s.name: np.full((3, 4), 3.0) for s in test}}
    out = demo.track_twins(models, test, twins, boxes, rgb_only, progress=False)

    assert calls == [("rgb", False, ["b"], ["/b/rgb_clean/v0.jpg"]), ("early_add", True, ["b"], ["/b/rgb_clean/v0.jpg"])]
    assert {s: float(v[0, 0]) for s, v in out["rgb"].items()} == {"a": 1.0, "b": 9.0, "c": 1.0}
    assert {s: float(v[0, 0]) for s, v in out["lora"].items()} == {"a": 3.0, "b": 9.0, "c": 3.0}
    assert list(out["lora"]) == ["a", "b", "c"]  # the twins' order
    # no degraded twin at all: nothing tracked
    calls.clear()
    plain = [dataclasses.replace(s, frames={**s.frames, "rgb_clean": s.frames["rgb"]}) for s in test]
    demo.track_twins(models, plain, demo.clean_twins(plain), boxes, rgb_only, progress=False)
    assert calls == []


def test_the_precision_is_keyed_only_when_not_bf16(monkeypatch):
    """On a CPU without native bf16 the demo trains in fp32: another base, another cache entry.
    Under bf16 the key is the one every cache was made under before the precision was keyed
    (909bc593199a: `DemoRecipe()`'s key at DEMO_FORMAT 3 and synthetic FORMAT as now; a bump of
    either changes it on purpose)."""
    import tracktune.precision as precision
    from tracktune.demo import base_config, demo_precision

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    assert demo_precision() == "bf16" and DemoRecipe().pretrain_key() == "909bc593199a"
    bf16 = base_config(DemoRecipe(), "x", "rgb", "rgb", 1, 1e-3)
    assert bf16.train.threads == max(1, (os.cpu_count() or 1) - bf16.data.num_workers)
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert demo_precision() == "fp32" and DemoRecipe().pretrain_key() != "909bc593199a"
    config = base_config(DemoRecipe(), "x", "rgb", "rgb", 1, 1e-3)
    assert config.train.threads == (os.cpu_count() or 1)  # fp32 steps leave the workers idle: every core computes
    assert precision.resolve_train_amp(config.train.amp, "cpu") == "none"
    assert precision.resolve_track_precision(config.track.precision, config.track.amp, "cpu") == "fp32"

