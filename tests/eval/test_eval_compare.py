"""`tracktune compare`: the bootstrap against a plain loop written here, the permutation
test's level and power by simulation, wins / losses / ties by hand, errors a user can
cause, and the command on the golden LasHeR results and on a synthetic-style tree."""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tracktune.errors import ConfigError, DataError, TracktuneError
from tracktune.eval import commands, compare_command, evaluate
from tracktune.eval.compare import compare, permutation_test, sign_test, wins_losses_ties

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
GOLDEN = SHARED / "golden" / "lasher"


def _scores(values: np.ndarray, metric="SR", prefix="s") -> dict:
    return {f"{prefix}{i:03d}": {metric: float(v)} for i, v in enumerate(values)}


def _quantile(sorted_values: list[float], q: float) -> float:
    """numpy's default ("linear") quantile, by hand."""
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _rescaled(runs):
    """Each run's deviation from the per-sequence mean over runs times sqrt(R / (R - 1))."""
    if len(runs) < 2:
        return runs
    n, r_count = len(runs[0]), len(runs)
    centre = [sum(run[s] for run in runs) / r_count for s in range(n)]
    c = math.sqrt(r_count / (r_count - 1))
    return [[centre[s] + c * (run[s] - centre[s]) for s in range(n)] for run in runs]


def _loop_bootstrap(x, y, resamples, seed, hierarchy="crossed", rescale=True):
    """The documented draws, replayed with Python loops. x, y: lists of runs (lists of values)."""
    rng = np.random.default_rng(seed)
    n = len(x[0])
    if rescale and hierarchy == "paired" and len(x) > 1:
        d = _rescaled([[a - b for a, b in zip(xr, yr)] for xr, yr in zip(x, y)])
        x, y = d, [[0.0] * n for _ in d]
    elif rescale:
        x, y = _rescaled(x), _rescaled(y)
    seqs = rng.integers(0, n, size=(resamples, n))
    reps = []
    if len(x) == 1 and len(y) == 1:
        for b in range(resamples):
            reps.append(sum(x[0][s] - y[0][s] for s in seqs[b]) / n)
        return reps
    if hierarchy == "crossed":
        jx = rng.integers(0, len(x), size=(resamples, len(x)))
        jy = rng.integers(0, len(y), size=(resamples, len(y)))
        for b in range(resamples):
            total = 0.0
            for s in seqs[b]:
                total += sum(x[j][s] for j in jx[b]) / len(x) - sum(y[k][s] for k in jy[b]) / len(y)
            reps.append(total / n)
        return reps
    if hierarchy == "paired":
        j = rng.integers(0, len(x), size=(resamples, len(x)))
        for b in range(resamples):
            total = 0.0
            for s in seqs[b]:
                total += sum(x[r][s] - y[r][s] for r in j[b]) / len(x)
            reps.append(total / n)
        return reps
    jx = rng.integers(0, len(x), size=(resamples, n, len(x)))
    jy = rng.integers(0, len(y), size=(resamples, n, len(y)))
    for b in range(resamples):
        total = 0.0
        for i, s in enumerate(seqs[b]):
            total += sum(x[j][s] for j in jx[b, i]) / len(x) - sum(y[k][s] for k in jy[b, i]) / len(y)
        reps.append(total / n)
    return reps


# ---- the bootstrap against an independent computation -----------------------------------


def test_bootstrap_ci_equals_a_plain_loop_with_the_same_draws_and_differs_only_by_mc_error_across_seeds():
    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 0.8, 40)
    method = np.clip(base + rng.normal(0.03, 0.08, 40), 0, 1)
    result = compare({"base": _scores(base), "new": _scores(method)}, resamples=4000, seed=11)
    row = result.row("new", "SR")
    reps = sorted(_loop_bootstrap([list(method)], [list(base)], 4000, 11))
    assert row.ci[0] == pytest.approx(_quantile(reps, 0.025), abs=1e-12)
    assert row.ci[1] == pytest.approx(_quantile(reps, 0.975), abs=1e-12)
    assert row.mean_diff == pytest.approx(float(np.mean(method - base)), abs=1e-15)
    # another seed: other draws; each endpoint's Monte Carlo s.e. is about
    # sqrt(q (1 - q) / B) / density(q), ~2.7 sd / sqrt(B) for a normal bootstrap law
    other = compare({"base": _scores(base), "new": _scores(method)}, resamples=4000, seed=12).row("new", "SR")
    assert other.ci != row.ci
    mc_se = math.sqrt(0.025 * 0.975 / 4000) / (math.exp(-1.96 ** 2 / 2) / math.sqrt(2 * math.pi)) * np.std(reps)
    for a, b in zip(row.ci, other.ci):
        assert abs(a - b) < 4 * math.sqrt(2) * mc_se


@pytest.mark.parametrize("rescale", [True, False])
@pytest.mark.parametrize("hierarchy", ["crossed", "nested", "paired"])
def test_hierarchical_bootstrap_over_runs_equals_a_plain_loop(hierarchy, rescale):
    rng = np.random.default_rng(3)
    n = 12
    x = [list(rng.uniform(0, 1, n)) for _ in range(3)]
    y = [list(rng.uniform(0, 1, n)) for _ in range(3 if hierarchy == "paired" else 2)]
    result = compare({"base": [_scores(r) for r in y], "new": [_scores(r) for r in x]}, resamples=500, seed=5,
                     hierarchy=hierarchy, rescale_runs=rescale)
    row = result.row("new", "SR")
    reps = sorted(_loop_bootstrap(x, y, 500, 5, hierarchy, rescale))
    assert row.ci == pytest.approx((_quantile(reps, 0.025), _quantile(reps, 0.975)), abs=1e-12)
    assert row.mean_diff == pytest.approx(np.mean(np.mean(x, axis=0) - np.mean(y, axis=0)), abs=1e-15)
    assert result.runs == {"base": len(y), "new": 3}


def test_paired_runs_cancel_a_seed_shared_by_both_methods_and_crossed_runs_do_not():
    # run r of both methods starts from the same base (seed r): a large offset shared by the
    # pair, a small one of their own; the effect is a constant +0.01 on every sequence
    rng = np.random.default_rng(1)
    n, runs = 50, 3
    scene = rng.uniform(0.3, 0.7, n)
    shared = rng.normal(0, 0.10, runs)
    y = [scene + shared[r] + rng.normal(0, 0.002) + rng.normal(0, 0.005, n) for r in range(runs)]
    x = [scene + shared[r] + 0.01 + rng.normal(0, 0.002) + rng.normal(0, 0.005, n) for r in range(runs)]
    data = {"b": [_scores(r) for r in y], "m": [_scores(r) for r in x]}
    paired = compare(data, resamples=2000, hierarchy="paired").row("m", "SR").ci
    crossed = compare(data, resamples=2000, hierarchy="crossed").row("m", "SR").ci
    assert paired[0] > 0  # resolved: the shared seed offset cancels within each pair
    assert crossed[0] < 0 < crossed[1]  # the shared offsets, redrawn independently, swamp the effect
    assert (crossed[1] - crossed[0]) > 5 * (paired[1] - paired[0])


@pytest.mark.parametrize("runs", [2, 3, 5])
def test_rescaled_runs_give_the_unbiased_run_variance(runs):
    # every sequence differs by its run's offset alone: the replicate is a mean of R offsets
    # drawn with replacement, whose variance is var_pop / R unscaled and var_unbiased / R
    # (= var_pop / (R - 1)) rescaled; B = 40000 draws: the variance's Monte Carlo s.e. is 0.7 %
    from tracktune.eval.compare import bootstrap_means

    rng = np.random.default_rng(runs)
    offsets = rng.normal(0, 0.05, runs)
    scene = rng.uniform(0.2, 0.8, 30)
    x, y = np.stack([scene + o for o in offsets]), np.stack([scene] * runs)
    unbiased = float(np.var(offsets, ddof=1)) / runs
    for hierarchy in ("paired", "crossed"):
        reps = bootstrap_means(x, y, 40000, 1, hierarchy)
        assert np.var(reps) == pytest.approx(unbiased, rel=0.04)
        plain = bootstrap_means(x, y, 40000, 1, hierarchy, rescale_runs=False)
        assert np.var(plain) == pytest.approx(unbiased * (runs - 1) / runs, rel=0.04)
        assert np.mean(reps) == pytest.approx(float(offsets.mean()), abs=0.01 * offsets.std())


def test_paired_needs_equal_run_counts():
    one, two = _scores(np.full(5, 0.5)), _scores(np.full(5, 0.6))
    with pytest.raises(ConfigError, match="hierarchy paired.*m 1"):
        compare({"b": [one, two], "m": [two]}, hierarchy="paired")


def test_crossed_resampling_keeps_the_spread_of_a_run_that_is_good_on_every_sequence():
    # each run shifts all its sequences by one offset (seed luck): the nested scheme
    # averages that offset away across sequences, the crossed one keeps it
    rng = np.random.default_rng(0)
    n, runs = 60, 4
    scene = rng.uniform(0.3, 0.7, n)
    x = [scene + rng.normal(0, 0.05) + rng.normal(0, 0.01, n) for _ in range(runs)]
    y = [scene + rng.normal(0, 0.05) + rng.normal(0, 0.01, n) for _ in range(runs)]
    widths = {}
    for h in ("crossed", "nested"):
        ci = compare({"b": [_scores(r) for r in y], "m": [_scores(r) for r in x]}, resamples=2000, hierarchy=h).row("m", "SR").ci
        widths[h] = ci[1] - ci[0]
    assert widths["crossed"] > 3 * widths["nested"]


# ---- the permutation test: level under the null, power under a shift ------------------------


@pytest.mark.parametrize("n, exact", [(10, True), (24, False)])
def test_permutation_test_rejects_at_the_nominal_rate_under_the_null_and_has_power(n, exact):
    rng = np.random.default_rng(2024 + n)
    trials, alpha = 600, 0.05
    null = [permutation_test(rng.standard_t(3, n), permutations=400, seed=i) for i in range(trials)]
    assert all(e == exact for _, e in null)
    rate = np.mean([p <= alpha for p, _ in null])
    # binomial(600, 0.05): s.d. 0.0089; +-3.5 s.d.
    assert abs(rate - alpha) < 3.5 * math.sqrt(alpha * (1 - alpha) / trials), rate
    # a shift of 3.5 standard errors: a z-test would reject 94 % of the time
    shifted = [permutation_test(rng.normal(3.5 / math.sqrt(n), 1.0, n), permutations=400, seed=i)[0] for i in range(200)]
    assert np.mean(np.array(shifted) <= alpha) > 0.75


def test_permutation_test_exact_by_hand_and_monte_carlo_agrees():
    # |mean| of +-1 +-2 +-3 over the 8 patterns: 2, 4/3, 2/3, 0, 0, 2/3, 4/3, 2; observed 2
    assert permutation_test(np.array([1.0, 2.0, 3.0])) == (0.25, True)
    assert permutation_test(np.zeros(5)) == (1.0, True)
    d = np.random.default_rng(1).normal(0.3, 1, 14)
    exact, _ = permutation_test(d)
    mc, is_exact = permutation_test(d, permutations=20000, exact_max=0)
    assert not is_exact and abs(mc - exact) < 4 * math.sqrt(exact * (1 - exact) / 20000) + 1e-4


# ---- wins / losses / ties and the sign test, by hand -----------------------------------------


def test_wins_losses_ties_and_sign_test_by_hand():
    base = np.full(6, 0.5)
    d = np.array([0.02, -0.03, 0.0005, -0.001, 0.0011, 0.0])  # W, L, T, T (at the tolerance), W, T
    row = compare({"b": _scores(base), "m": _scores(base + d)}).row("m", "SR")
    assert (row.wins, row.losses, row.ties) == (2, 1, 3)
    assert row.p_sign == pytest.approx(1.0)  # 2 wins, 1 loss: 2 * (1 + 3) / 8
    assert wins_losses_ties(d, tolerance=0.0) == (3, 2, 1)
    assert sign_test(8, 1) == pytest.approx(2 * (1 + 9) / 512)
    assert sign_test(0, 0) == 1.0 and sign_test(5, 5) == 1.0
    assert sign_test(10, 0) == pytest.approx(2 / 1024)


def test_per_attribute_rows_use_only_that_attributes_sequences():
    base = np.array([0.5, 0.5, 0.5, 0.5])
    new = np.array([0.6, 0.7, 0.4, 0.5])
    result = compare({"b": _scores(base), "m": _scores(new)}, attributes={"condition=night": ["s000", "s001"]},
                     resamples=200)
    night = result.row("m", "SR", "condition=night")
    assert night.sequences == ["s000", "s001"] and night.mean_diff == pytest.approx(0.15)
    assert (night.wins, night.losses, night.ties) == (2, 0, 0)
    assert result.row("m", "SR").mean_diff == pytest.approx(0.05)
    data = json.loads(result.to_json())
    assert {(c["group"], c["n"]) for c in data["comparisons"]} == {("all", 4), ("condition=night", 2)}


# ---- errors a user can cause ------------------------------------------------------------------


def test_errors_name_what_is_wrong():
    a, b = _scores([0.5, 0.6]), _scores([0.4, 0.7])
    with pytest.raises(ConfigError, match="at least 2 result sets"):
        compare({"a": a})
    with pytest.raises(ConfigError, match="unknown baseline 'c'; the methods are: a, b"):
        compare({"a": a, "b": b}, baseline="c")
    with pytest.raises(DataError, match=r"runs/b2: sequence set differs from runs/a: 1 missing \(s001\)"):
        compare({"a": a, "b": [b, {"s000": {"SR": 0.1}}]}, sources={"a": ["runs/a"], "b": ["runs/b1", "runs/b2"]})
    with pytest.raises(ConfigError, match="unknown metric"):
        compare({"a": a, "b": b}, metrics=["AUC"])
    assert issubclass(ConfigError, TracktuneError) and issubclass(DataError, TracktuneError)


# ---- the command ----------------------------------------------------------------------------


def _run(argv, capsys, module=compare_command):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    code = module.main(parser.parse_args([str(a) for a in argv]))
    out = capsys.readouterr()
    return code, out.out, out.err


def _jitter_folder(src: Path, dst: Path, sigma: float, seed: int, names=None) -> Path:
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True)
    for path in sorted(src.glob("*.txt")):
        if names is not None and path.stem not in names:
            continue
        boxes = np.atleast_2d(np.loadtxt(path, delimiter="," if "," in path.read_text()[:200] else None))
        boxes[:, :2] += rng.normal(0, sigma, (len(boxes), 2))
        np.savetxt(dst / path.name, boxes, fmt="%.2f", delimiter=",")
    return dst


def test_cli_on_the_golden_lasher_results(tmp_path, capsys):
    if not GOLDEN.is_dir():
        pytest.skip("../shared/golden/lasher not present")
    apfnet = GOLDEN / "results" / "APFNet"
    trackers = sorted(p for p in (GOLDEN / "results").iterdir() if p.is_dir())
    other = trackers[1] if len(trackers) > 1 else _jitter_folder(apfnet, tmp_path / "APFNet_jitter", 3.0, 0)
    plot = tmp_path / "diff.png"
    argv = ["--protocol", "lasher", "--gt", GOLDEN / "gt", "--sequences", GOLDEN / "testingsetList.txt",
            "--results", apfnet, other, "--resamples", 2000, "--json", "--plot", plot]
    code, out, err = _run(argv, capsys)
    assert code == 0 and plot.stat().st_size > 0
    data = json.loads(out)
    assert data["protocol"] == "lasher" and data["sequences"] == 245 and data["baseline"] == "APFNet"
    rows = {r["metric"]: r for r in data["comparisons"] if r["group"] == "all"}
    assert {m: round(100 * rows[m]["baseline"], 1) for m in ("PR", "NPR", "SR")} == {"PR": 50.0, "NPR": 43.9, "SR": 36.2}
    # lasher averages sequences: the mean per-sequence difference is the difference of the scores
    _, ev, _ = _run(["--protocol", "lasher", "--gt", GOLDEN / "gt", "--results", apfnet, other, "--json"], capsys,
                    commands)
    scores = json.loads(ev)["trackers"]
    for m, r in rows.items():
        assert r["mean_diff"] == pytest.approx(scores[other.name][m] - scores["APFNet"][m], abs=1e-12)
        assert r["ci_low"] <= r["mean_diff"] <= r["ci_high"] and len(r["per_sequence"]) == 245
        assert r["wins"] + r["losses"] + r["ties"] == 245
    # the table, baseline named; a result folder short of a sequence names it
    code, out, _ = _run(argv[:-3] + ["--baseline", other.name, "--metrics", "SR"], capsys)
    assert "against baseline " + other.name in out and "all (245)" in out
    short = _jitter_folder(apfnet, tmp_path / "short", 1.0, 1, names={"2girl", "3men"})
    with pytest.raises(DataError, match=f"no result file for sequence '.*' in {short}"):
        _run(["--protocol", "lasher", "--gt", GOLDEN / "gt", "--results", apfnet, short], capsys)


def _synthetic_tree(tmp_path, n=8):
    """A LasHeR-layout tree as `tracktune data synth` writes it (empty frame folders, so it
    is read by the benchmark module), conditions.json, and results of two methods (two
    runs of one)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "rgbt"
    names, conditions = [], {}
    for i in range(n):
        name = f"seq{i:03d}"
        folder = root / name
        for sub in ("visible", "infrared"):
            (folder / sub).mkdir(parents=True)
        frames = 30
        gt = np.column_stack([rng.uniform(20, 200, frames), rng.uniform(20, 150, frames),
                              rng.uniform(15, 40, frames), rng.uniform(15, 40, frames)])
        for f in ("visible.txt", "infrared.txt"):
            np.savetxt(folder / f, gt, fmt="%.2f", delimiter=",")
        names.append(name)
        conditions[name] = {"condition": ("night", "fog")[i % 2], "severity": 3}
    (root / "testingsetList.txt").write_text("\n".join(names) + "\n")
    (root / "conditions.json").write_text(json.dumps({"sequences": conditions}))
    runs = {}
    for label, sigma in (("rgb", 9.0), ("lora_s0", 4.0), ("lora_s1", 5.0)):
        out = tmp_path / label
        out.mkdir()
        for name in names:
            gt = np.loadtxt(root / name / "visible.txt", delimiter=",")
            np.savetxt(out / f"{name}.txt", gt + rng.normal(0, sigma, gt.shape) * [1, 1, 0, 0], fmt="%.2f",
                       delimiter=",")
        runs[label] = out
    return root, runs


def test_cli_runs_per_method_attributes_and_evaluate_json_input_agree(tmp_path, capsys):
    root, runs = _synthetic_tree(tmp_path)
    folders = ["--protocol", "lasher", "--gt", root, "--resamples", 500,
               "--results", runs["rgb"], f"lora={runs['lora_s0']},{runs['lora_s1']}"]
    code, out, _ = _run(folders, capsys)
    assert code == 0
    assert "lora 2" in out and "crossed bootstrap" in out
    for group in ("all (8)", "condition=night (4)", "condition=fog (4)", "severity=3 (8)"):
        assert group in out
    _, by_folder, _ = _run(folders + ["--json"], capsys)
    # the same scores through `evaluate --json --per-sequence`: one file per seed
    files = []
    for seed in ("s0", "s1"):
        _, ev, _ = _run(["--protocol", "lasher", "--gt", root, "--results", runs["rgb"], runs[f"lora_{seed}"],
                         "--json", "--per-sequence"], capsys, commands)
        data = json.loads(ev)
        data["per_sequence"]["lora"] = data["per_sequence"].pop(f"lora_{seed}")
        if seed == "s1":
            del data["per_sequence"]["rgb"]
        files.append(tmp_path / f"{seed}.json")
        files[-1].write_text(json.dumps(data))
    _, by_json, _ = _run(["--results", *files, "--resamples", 500, "--json"], capsys)
    a, b = json.loads(by_folder), json.loads(by_json)
    assert a["runs"] == b["runs"] == {"rgb": 1, "lora": 2}
    assert a["comparisons"] == b["comparisons"]
    # --no-rescale-runs: recorded, the same difference, a CI no wider (two runs: half the run variance)
    _, plain, _ = _run(folders + ["--json", "--no-rescale-runs"], capsys)
    plain = json.loads(plain)
    assert a["settings"]["rescale_runs"] is True and plain["settings"]["rescale_runs"] is False
    first, other = ([r for r in d["comparisons"] if r["metric"] == "SR" and r["group"] == "all"][0] for d in (a, plain))
    assert other["mean_diff"] == first["mean_diff"]
    assert other["ci_high"] - other["ci_low"] < first["ci_high"] - first["ci_low"]
    # errors: one result set; two folders with one name
    with pytest.raises(ConfigError, match="at least 2 result sets"):
        _run(["--protocol", "lasher", "--gt", root, "--results", runs["rgb"]], capsys)
    (tmp_path / "again").mkdir()
    twin = _jitter_folder(runs["rgb"], tmp_path / "again" / "rgb", 1.0, 2)
    with pytest.raises(ConfigError, match="both named 'rgb'"):
        _run(["--protocol", "lasher", "--gt", root, "--results", runs["rgb"], twin], capsys)
    with pytest.raises(ConfigError, match="unknown baseline 'full'; the methods are: rgb, lora"):
        _run(folders + ["--baseline", "full"], capsys)


def test_cli_registered():
    from tracktune.cli import COMMANDS, main

    assert COMMANDS["compare"][0] == "tracktune.eval.compare_command"
    assert main(["compare", "--results", "x"]) == 1  # one result set: a clear error, not a traceback


def test_compare_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys, tracktune.eval.compare, tracktune.eval.compare_command; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reports_as_input_one_per_seed_and_notes():
    rng = np.random.default_rng(4)
    gt = {f"q{i}": np.column_stack([rng.uniform(20, 100, (25, 2)), rng.uniform(10, 30, (25, 2))]) for i in range(6)}

    def results(sigma):
        return {s: b + rng.normal(0, sigma, b.shape) * [1, 1, 0, 0] for s, b in gt.items()}

    attrs = {s: {"condition": "night" if i < 3 else "fog"} for i, s in enumerate(gt)}
    seeds = [evaluate("lasher", gt, {"rgb": results(8), "lora": results(3)}, attributes=attrs) for _ in range(2)]
    one = compare(seeds[0], baseline="rgb", resamples=300)
    assert one.methods == ["lora"] and one.protocol == "lasher" and one.metrics == ["PR", "NPR", "SR"]
    assert one.row("lora", "SR").mean_diff == pytest.approx(
        seeds[0].trackers["lora"].metrics["SR"] - seeds[0].trackers["rgb"].metrics["SR"], abs=1e-12)
    both = compare(seeds, baseline="rgb", resamples=300)
    assert both.runs == {"rgb": 2, "lora": 2}
    assert set(both.attributes) == {"condition=fog", "condition=night"}
    assert "runs: rgb 2, lora 2 (crossed bootstrap)" in both.table()
    # a sequence without a value is left out of that metric, and said
    scores = {"a": _scores([0.5, 0.6, 0.7]), "b": _scores([0.4, float("nan"), 0.9])}
    result = compare(scores, resamples=100, protocol="gtot")
    assert result.row("b", "SR").sequences == ["s000", "s002"]
    assert any("1 sequence(s) without a value (NaN) left out: s001" in n for n in result.notes)
    assert any("pools frames" in n for n in result.notes)


def test_the_order_sequences_come_in_changes_no_number():
    rng = np.random.default_rng(9)
    a, b = _scores(rng.uniform(0, 1, 30)), _scores(rng.uniform(0, 1, 30))
    order = list(rng.permutation(list(a)))
    shuffled = {"a": {s: a[s] for s in order}, "b": {s: b[s] for s in reversed(order)}}
    assert compare({"a": a, "b": b}, resamples=500).to_dict() == compare(shuffled, resamples=500).to_dict()
