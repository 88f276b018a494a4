"""`tracktune study`: pooling, the table, the claims' verdicts and the sizing arithmetic on
fake scores with known answers; one micro study end to end (two seeds, the demo rerun
gives identical numbers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tracktune import study as S
from tracktune.errors import ConfigError

CONDITIONS = {f"s{i:03d}": ("clean", "night", "fog")[i % 3] for i in range(30)}


def fake_runs(base: np.ndarray, shift: float = 0.0, noise: float = 0.0, seeds: int = 1, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    names = sorted(CONDITIONS)
    return [{n: {"SR": float(np.clip(base[i] + shift + noise * rng.standard_normal(), 0, 1))}
             for i, n in enumerate(names)} for _ in range(seeds)]


def pooled_fake():
    base = np.random.default_rng(1).uniform(0.3, 0.7, len(CONDITIONS))
    return {"rgbt": {"rgb": fake_runs(base, seeds=2), "lora": fake_runs(base, shift=0.05, seeds=2),
                     "other": fake_runs(base, noise=0.01, seeds=2, seed=3)}}


def test_table_marks_a_constant_shift_and_not_noise():
    text, numbers = S.method_table(pooled_fake(), S.condition_groups(CONDITIONS), "rgb", resamples=500)
    lora = numbers["lora"]["vs_baseline"]
    assert lora["diff"] == pytest.approx(0.05) and lora["ci"] == pytest.approx([0.05, 0.05]) and lora["significant"]
    assert all(numbers["lora"]["conditions"][c]["significant"] for c in ("clean", "night", "fog"))
    other = numbers["other"]["vs_baseline"]
    assert other["ci"][0] < 0 < other["ci"][1] and not other["significant"]
    line = next(l for l in text.splitlines() if l.startswith("lora"))
    assert "+5.0 [+5.0, +5.0]*" in line
    assert next(l for l in text.splitlines() if l.startswith("other")).count("*") == 0
    # the method's own mean: the hand average of the fake scores
    hand = np.mean([[v["SR"] for v in run.values()] for run in pooled_fake()["rgbt"]["lora"]])
    assert numbers["lora"]["mean"] == pytest.approx(hand)
    with pytest.raises(ConfigError, match="baseline"):
        S.method_table(pooled_fake(), S.condition_groups(CONDITIONS), "nope")


def test_verdicts():
    better, no_loss = S.Claim("x", "", "a", "b"), S.Claim("y", "", "a", "b", kind="no_loss")
    assert S.verdict(better, 0.03, (0.01, 0.05)) == "holds"
    assert S.verdict(better, -0.03, (-0.05, -0.01)).startswith("refuted")
    assert S.verdict(better, 0.0, (-0.015, 0.015)).startswith("no effect")
    assert S.verdict(better, 0.0, (-0.05, 0.05)) == "unresolved"
    assert S.verdict(no_loss, -0.01, (-0.019, 0.0)) == "holds"
    assert S.verdict(no_loss, -0.05, (-0.07, -0.03)) == "refuted"
    assert S.verdict(no_loss, -0.02, (-0.04, 0.0)) == "unresolved"


def test_claims_not_run_are_listed_and_run_ones_carry_their_numbers():
    pooled = pooled_fake()
    pooled["rgbt"]["lora"] = [{k: {"SR": v["SR"]} for k, v in run.items()} for run in pooled["rgbt"]["lora"]]
    results = {r["claim"]: r for r in S.evaluate_claims(pooled, S.condition_groups(CONDITIONS), resamples=300)}
    assert results["a-night"]["verdict"] == "holds" and results["a-night"]["n"] == 10
    assert results["a-night"]["diff"] == pytest.approx(0.05)
    assert results["b-rgb"]["verdict"] == "not run" and results["d"]["verdict"] == "not run"
    assert "not run" in S.claims_table(list(results.values()))


def test_variance_parts_and_sequences_needed_by_hand():
    names = [f"q{i}" for i in range(4)]
    d0 = np.array([0.1, -0.1, 0.3, -0.1])  # paired differences of seed 0
    d1 = np.array([0.2, -0.1, 0.1, 0.0])  # of seed 1
    a = [{n: {"SR": 0.5 + x} for n, x in zip(names, d)} for d in (d0, d1)]
    b = [{n: {"SR": 0.5} for n in names}] * 2
    one = S.variance_parts(a[:1], b[:1])
    assert one["diff"] == pytest.approx(0.05) and one["sd_noise"] == 0.0 and one["sd_run"] == 0.0
    assert one["sd_int"] == pytest.approx(math.sqrt((0.05 ** 2 + 0.15 ** 2 + 0.25 ** 2 + 0.15 ** 2) / 3))
    two = S.variance_parts(a, b)
    var = lambda x: float(np.sum((x - x.mean()) ** 2) / (len(x) - 1))  # by hand, ddof 1
    noise = var(d0 - d1) / 2
    assert two["sd_noise"] ** 2 == pytest.approx(noise)
    assert two["sd_int"] ** 2 == pytest.approx((var(d0) + var(d1)) / 2 - noise)
    assert two["sd_run"] ** 2 == pytest.approx(max(0.0, var(np.array([d0.mean(), d1.mean()])) - noise / 4))
    # closed form without run spread: S = ceil((sd_int^2 + sd_noise^2 / R) (1.96 / target)^2)
    parts = {"sd_int": 0.06, "sd_noise": 0.08, "sd_run": 0.0}
    assert S.sequences_needed(parts, 1) == math.ceil((0.06 ** 2 + 0.08 ** 2) * (1.96 / 0.02) ** 2)
    assert S.sequences_needed(parts, 4) == math.ceil((0.06 ** 2 + 0.08 ** 2 / 4) * (1.96 / 0.02) ** 2)
    assert S.sequences_needed({**parts, "sd_run": 0.02}, 1) is None  # a run's shift alone is wider than the target
    parts = {"sd_int": 0.05, "sd_noise": 0.09, "sd_run": 0.004}
    n = S.sequences_needed(parts, 3)
    assert S.half_width(parts, n, 3) <= 0.02 < S.half_width(parts, n - 1, 3)


def test_pool_keeps_views_every_seed_has():
    one = {"per_sequence": {"rgbt": {"rgb": {"a": {"SR": 0.1}}, "lora": {"a": {"SR": 0.2}}},
                            "clean_rgb": {"rgb": {"a": {"SR": 0.3}}}}}
    two = {"per_sequence": {"rgbt": {"rgb": {"a": {"SR": 0.4}}, "lora": {"a": {"SR": 0.5}}}}}
    pooled = S.pool([one, two])
    assert set(pooled) == {"rgbt"} and pooled["rgbt"]["lora"] == [{"a": {"SR": 0.2}}, {"a": {"SR": 0.5}}]


def test_micro_study_two_seeds_and_a_rerun_gives_identical_numbers(tmp_path, monkeypatch):
    from test_demo import micro_recipe
    from tracktune.demo import run_demo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACKTUNE_SYNTHETIC", raising=False)
    lines = []
    result = S.run_study(micro_recipe(), ["rgb", "lora"], [0, 1], tmp_path / "study", progress=False,
                         log=lines.append, resamples=200)
    written = json.loads((tmp_path / "study" / "study.json").read_text())
    assert written["seeds"] == [0, 1] and written["methods"]["lora"]["seeds"] == 2
    assert {"rgbt", "rgb_only", "clean_rgb"} <= set(written["scores"])
    assert any(line.startswith("lora") for line in "\n".join(lines).splitlines())
    assert len(written["base"]["clean_condition"]["per_seed"]) == 2 and any(l.startswith("base rgb SR per seed") for l in lines)
    assert {c["claim"]: c["verdict"] for c in result["claims"]}["b-rgb"] == "not run"
    # the two seeds scored the same test sequences (data fixed), with other weights (the training seed)
    first, second = written["scores"]["rgbt"]["lora"]
    assert first.keys() == second.keys()
    from tracktune.runs import load_tracker_model

    a, b = (load_tracker_model(tmp_path / "study" / f"seed-{s}" / "runs" / "lora").state_dict() for s in (0, 1))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    again = run_demo(micro_recipe(), ["rgb", "lora"], tmp_path / "again", progress=False, log=lambda _: None)
    assert again["per_sequence"]["rgbt"]["lora"] == first  # same seed, same machine: the same numbers


def test_base_quality_per_seed_by_hand():
    pooled = {"rgbt": {"rgb": [{"a": {"SR": 0.6}, "b": {"SR": 0.8}, "c": {"SR": 0.1}},
                               {"a": {"SR": 0.7}, "b": {"SR": 0.9}, "c": {"SR": 0.2}}]},
              "clean_rgb": {"rgb": [{"a": {"SR": 0.5}, "c": {"SR": 0.3}}, {"a": {"SR": 0.5}, "c": {"SR": 0.5}}]}}
    groups = {"condition=clean": ["a", "b"], "condition=night": ["c"]}
    base = S.base_quality(pooled, groups)
    assert base["clean_condition"]["per_seed"] == pytest.approx([0.7, 0.8])
    assert base["clean_condition"]["spread"] == pytest.approx(0.1) and base["clean_condition"]["sequences"] == 2
    assert base["clean_twins"]["per_seed"] == pytest.approx([0.4, 0.5])
    assert "70.0 / 80.0 (spread 10.0)" in S.base_line(base)
    assert S.base_quality({"rgbt": {}}, groups) == {} and S.base_line({}).endswith("not run")


def test_study_reuses_finished_seeds_of_the_same_recipe_only(tmp_path, monkeypatch):
    import dataclasses

    from test_demo import micro_recipe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TRACKTUNE_SYNTHETIC", raising=False)
    ran = []
    real_run_demo = S.run_demo

    def counting_run_demo(recipe, methods, out, **kwargs):
        ran.append((recipe.seed, tuple(methods)))
        return real_run_demo(recipe, methods, out, **kwargs)

    monkeypatch.setattr(S, "run_demo", counting_run_demo)
    out = tmp_path / "study"
    first = S.run_study(micro_recipe(), ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200)
    lines = []
    second = S.run_study(micro_recipe(), ["rgb", "lora"], [0, 1], out, progress=False, log=lines.append,
                         resamples=200)
    assert ran == [(0, ("rgb", "lora")), (1, ("rgb", "lora"))]  # seed 0 read back, seed 1 run
    assert any("reusing" in line and "seed-0" in line for line in lines)
    assert second["scores"]["rgbt"]["lora"][0] == first["scores"]["rgbt"]["lora"][0]
    # a subset of the methods is read from the same runs, and only that subset is pooled
    subset = S.run_study(micro_recipe(), ["rgb"], [0, 1], out, progress=False, log=lambda _: None, resamples=200)
    assert len(ran) == 2 and set(subset["scores"]["rgbt"]) == {"rgb"}
    # another recipe, a method not run before, or --fresh: the seed runs again
    changed = dataclasses.replace(micro_recipe(), adapt_steps=3)
    S.run_study(changed, ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200)
    S.run_study(changed, ["rgb", "lora", "full"], [0], out, progress=False, log=lambda _: None, resamples=200)
    S.run_study(changed, ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200, reuse=False)
    assert ran[2:] == [(0, ("rgb", "lora")), (0, ("rgb", "lora", "full")), (0, ("rgb", "lora"))]
    # a run written under another DEMO_FORMAT (the recipe meant something else) runs again
    monkeypatch.setattr(S, "DEMO_FORMAT", S.DEMO_FORMAT + 1)
    S.run_study(changed, ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200)
    assert len(ran) == 6
    monkeypatch.setattr(S, "DEMO_FORMAT", S.DEMO_FORMAT - 1)  # back to the format run_demo writes
    S.run_study(changed, ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200)
    assert len(ran) == 6  # reused
    # a run made in another precision (another machine: bf16 against fp32) runs again
    other = "fp32" if S.demo_precision() == "bf16" else "bf16"
    monkeypatch.setattr(S, "demo_precision", lambda: other)
    S.run_study(changed, ["rgb", "lora"], [0], out, progress=False, log=lambda _: None, resamples=200)
    assert len(ran) == 7


def test_study_refuses_a_garbled_seed_summary(tmp_path):
    from test_demo import micro_recipe

    seed_out = tmp_path / "seed-0"
    seed_out.mkdir()
    (seed_out / "summary.json").write_text("{not json")
    with pytest.raises(ConfigError, match="summary.json.*unreadable"):
        S.finished_seed(seed_out, micro_recipe(), ["rgb"])
