"""`tracktune study`: the demo's comparison over N seeds, with confidence intervals, marks of
significance against a named baseline, and the adaptation methods' claims tested.

Each seed runs the whole demo (`tracktune.demo.run_demo`): the RGB tracker pretrained with
that seed (cached per seed), every method adapted from it, every tracker run on the same
test split. The seed drives training only (initial weights, pair sampling, augmentation,
the data loader's workers); the synthetic sets are fixed by `data_seed` (the recipe's, else
0), so every run scores the same test sequences and the comparison is paired. The study
pools three views of each tracker's per-sequence scores:

- `rgbt`: RGB-T tracking of the test split (the RGB tracker reads RGB alone);
- `rgb_only`: an adapted tracker with its auxiliary input replaced by RGB;
- `clean_rgb`: RGB alone on the test sequences' clean twins (the condition's RGB
  degradation off; `data/synthetic.py`): what RGB skill a tracker has where RGB is good,
  the forgetting test.

Statistics: `tracktune.eval.compare.compare` (paired bootstrap over sequences with the seeds
resampled jointly, `hierarchy="paired"`: seed i pretrains the RGB base every method adapts,
so run i of two methods share that base and its luck cancels in their difference; the seeds'
deviations widened by sqrt(R/(R-1)), `compare`'s default run rescaling; sign-flip
permutation and sign tests). A method's own CI
is its comparison against an all-zero baseline (the same bootstrap, of the mean itself).

The claims (`CLAIMS`) are paired differences of one method against another on one view and
group of sequences, read against `MARGIN` (0.02 SR, the resolution the study is sized for):
- `better`: holds when the CI lies above 0, is refuted when it lies below 0, shows no
  effect as large as the margin when the CI lies within (-margin, +margin), else unresolved;
- `no_loss`: holds when the CI's lower end is above -margin, refuted when its upper end is
  below -margin, else unresolved.

Sizing (`power`, `variance_parts`): the paired difference's spread has three parts, a
persistent sequence-by-method part (sd_int), a run-to-run part per sequence (sd_noise) and
a run's shift of the whole mean (sd_run); the CI half-width with S sequences and R seeds
per method is about `1.96 sqrt(sd_int^2 / S + sd_noise^2 / (R S) + sd_run^2 / R)`;
`sequences_needed` solves it for S.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence as SequenceOf

import numpy as np

from tracktune.cli_types import int_range
from tracktune.demo import (DEFAULT_METHODS, DEMO_FORMAT, METHOD_RECIPES, DemoRecipe, demo_precision, parse_methods,
                            run_demo)
from tracktune.errors import ConfigError
from tracktune.eval.compare import compare

VIEWS = ("rgbt", "rgb_only", "clean_rgb")
MARGIN = 0.02  # SR: the difference the study is sized to resolve
ZERO = "__zero__"  # an all-zero baseline: a method's own CI
DEGRADED = ("night", "fog", "over_exposure")  # conditions that degrade RGB in the demo's test split


@dataclass(frozen=True)
class Claim:
    """One claim: `method` against `baseline` on `view`, over the sequences of `group`."""

    key: str
    text: str
    method: str
    baseline: str
    view: str = "rgbt"
    group: str = "all"  # "all" or "condition=<name>"
    kind: str = "better"  # better | no_loss
    metric: str = "SR"


CLAIMS = (
    Claim("a-night", "RGB-T adaptation (LoRA) beats the RGB tracker at night", "lora", "rgb", group="condition=night"),
    Claim("a-fog", "RGB-T adaptation (LoRA) beats the RGB tracker in fog", "lora", "rgb", group="condition=fog"),
    Claim("b-rgb", "SRFT keeps more RGB skill than full fine-tuning (clean-RGB twins)", "srft", "full",
          view="clean_rgb"),
    Claim("b-rgb-only", "SRFT keeps more RGB skill than full fine-tuning (RGB-only on the test split)", "srft",
          "full", view="rgb_only"),
    Claim("b-rgbt", "... at equal RGB-T skill (SRFT loses no RGB-T SR to full fine-tuning)", "srft", "full",
          kind="no_loss"),
    Claim("b-rank-rgb", "SRFT with the released transfer step keeps more RGB skill than full fine-tuning",
          "srft-rank", "full", view="clean_rgb"),
    Claim("c-night", "FCTL improves night over the same training without EANSDL", "lora+fctl", "lora+aug",
          group="condition=night"),
    Claim("c-fog", "FCTL improves fog over the same training without EANSDL", "lora+fctl", "lora+aug",
          group="condition=fog"),
    Claim("c-over-exposure", "FCTL improves over-exposure over the same training without EANSDL", "lora+fctl",
          "lora+aug", group="condition=over_exposure"),
    Claim("c-clean", "... without losing clean accuracy", "lora+fctl", "lora+aug", group="condition=clean",
          kind="no_loss"),
    Claim("c-rgb-degraded", "FCTL on degraded RGB alone (rgb-* rows): fog", "rgb-lora+fctl", "rgb-lora+aug",
          group="condition=fog"),
    Claim("d", "PATrack beats LoRA at a matched number of trainable parameters (309k vs 313k)", "patrack-matched",
          "lora"),
)


# --------------------------------------------------------------------------------------
# Statistics (the one place that calls the comparison API)
# --------------------------------------------------------------------------------------


def paired(runs: Mapping[str, list], baseline: str, metric: str = "SR", groups: Optional[Mapping] = None,
           resamples: int = 4000, seed: int = 0):
    """`tracktune.eval.compare.compare` of every method in `runs` (`{method: [per-sequence
    scores per seed]}`) against `baseline`, on one metric, overall and per group."""
    return compare(dict(runs), baseline=baseline, metrics=[metric], attributes=dict(groups or {}),
                   resamples=resamples, seed=seed, protocol="lasher", percent=True, hierarchy="paired")


def zero_runs(runs: list, metric: str = "SR") -> list:
    """An all-zero result set shaped like `runs` (its comparison gives a method's own CI)."""
    return [{seq: {metric: 0.0} for seq in runs[0]} for _ in runs]  # one per run: paired by seed


def only(scores: list, metric: str) -> list:
    return [{seq: {metric: float(v[metric])} for seq, v in run.items()} for run in scores]


# --------------------------------------------------------------------------------------
# Pooling and tables
# --------------------------------------------------------------------------------------


def pool(summaries: SequenceOf[Mapping]) -> dict:
    """`{view: {method: [per-sequence scores, one per seed]}}` from the demo summaries of
    the seeds (a view a seed lacks is left out for every seed)."""
    pooled: dict = {}
    for view in VIEWS:
        methods = None
        for summary in summaries:
            have = set(summary.get("per_sequence", {}).get(view, {}))
            methods = have if methods is None else methods & have
        if methods:
            order = [m for m in summaries[0]["per_sequence"][view] if m in methods]
            pooled[view] = {m: [s["per_sequence"][view][m] for s in summaries] for m in order}
    return pooled


def condition_groups(test_sequences: Mapping[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for seq, condition in sorted(test_sequences.items()):
        groups.setdefault(f"condition={condition}", []).append(seq)
    return groups


def method_table(pooled: Mapping, groups: Mapping[str, list[str]], baseline: str, metric: str = "SR",
                 resamples: int = 4000) -> tuple[str, dict]:
    """The study's table: one row per method of the `rgbt` view; mean over seeds and
    sequences with its 95 % CI, the difference from `baseline` with its CI (`*`: the CI
    excludes 0), the per-condition means (`*` likewise), and the `clean_rgb` / `rgb_only`
    means where present. Returns (text, the numbers as a dict)."""
    rgbt = {m: only(r, metric) for m, r in pooled["rgbt"].items()}
    if baseline not in rgbt:
        raise ConfigError(f"study: baseline '{baseline}' is not among the methods ({', '.join(rgbt)})")
    own = {}
    for m, runs in rgbt.items():
        row = paired({m: runs, ZERO: zero_runs(runs, metric)}, ZERO, metric, resamples=resamples).row(m, metric)
        own[m] = (row.method_mean, row.ci)
    versus = paired(rgbt, baseline, metric, groups, resamples=resamples) if len(rgbt) > 1 else None
    conditions = sorted((g.split("=", 1)[1] for g in groups), key=lambda c: (c != "clean", c))
    numbers: dict = {}
    head = ["method", "seeds", f"{metric} [95% CI]", f"vs {baseline} [95% CI]"] + conditions
    extra_views = [v for v in ("clean_rgb", "rgb_only") if v in pooled]
    head += [{"clean_rgb": "clean-RGB", "rgb_only": "RGB-only"}[v] for v in extra_views]
    rows = []
    for m in rgbt:
        mean, ci = own[m]
        entry = {"seeds": len(rgbt[m]), "mean": mean, "ci": list(ci), "conditions": {}}
        cells = [m, str(len(rgbt[m])), f"{100 * mean:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"]
        if m == baseline or versus is None:
            cells.append("-")
        else:
            r = versus.row(m, metric)
            entry["vs_baseline"] = {"diff": r.mean_diff, "ci": list(r.ci), "significant": r.significant(),
                                    "p_permutation": r.p_permutation}
            cells.append(f"{100 * r.mean_diff:+.1f} [{100 * r.ci[0]:+.1f}, {100 * r.ci[1]:+.1f}]"
                         + ("*" if r.significant() else ""))
        for c in conditions:
            seqs = groups[f"condition={c}"]
            value = float(np.mean([[run[s][metric] for s in seqs] for run in rgbt[m]]))
            mark = ""
            if m != baseline and versus is not None:
                r = versus.row(m, metric, f"condition={c}")
                mark = "*" if r.significant() else ""
                entry["conditions"][c] = {"mean": value, "diff": r.mean_diff, "ci": list(r.ci),
                                          "significant": r.significant()}
            else:
                entry["conditions"][c] = {"mean": value}
            cells.append(f"{100 * value:.1f}{mark}")
        for v in extra_views:
            runs = pooled[v].get(m)
            if runs:
                value = float(np.mean([[s[metric] for s in run.values()] for run in runs]))
                entry[v] = value
                cells.append(f"{100 * value:.1f}")
            else:
                cells.append("-")
        numbers[m] = entry
        rows.append(cells)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    text = "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])
    return text, numbers


def verdict(claim: Claim, diff: float, ci: tuple[float, float], margin: float = MARGIN) -> str:
    low, high = ci
    if claim.kind == "no_loss":
        if low > -margin:
            return "holds"
        if high < -margin:
            return "refuted"
        return "unresolved"
    if low > 0:
        return "holds"
    if high < 0:
        return "refuted (reversed)"
    if low > -margin and high < margin:
        return f"no effect >= {margin:g} (refuted)"
    return "unresolved"


def evaluate_claims(pooled: Mapping, groups: Mapping[str, list[str]], claims: SequenceOf[Claim] = CLAIMS,
                resamples: int = 4000, margin: float = MARGIN) -> list[dict]:
    """Each claim whose methods the study ran: difference, CI, p-values and verdict; the
    others listed as not run."""
    out = []
    for claim in claims:
        runs = pooled.get(claim.view, {})
        missing = [m for m in (claim.method, claim.baseline) if m not in runs]
        if claim.group != "all" and claim.group not in groups:
            missing.append(claim.group)  # a condition the test split does not hold
        if missing:
            out.append({"claim": claim.key, "text": claim.text, "verdict": "not run", "needs": missing,
                        "view": claim.view})
            continue
        group_map = {} if claim.group == "all" else {claim.group: groups[claim.group]}
        comparison = paired({claim.method: only(runs[claim.method], claim.metric),
                             claim.baseline: only(runs[claim.baseline], claim.metric)},
                            claim.baseline, claim.metric, group_map, resamples=resamples)
        row = comparison.row(claim.method, claim.metric, claim.group)
        out.append({"claim": claim.key, "text": claim.text, "method": claim.method, "baseline": claim.baseline,
                    "view": claim.view, "group": claim.group, "n": len(row.sequences),
                    "seeds": [len(runs[claim.method]), len(runs[claim.baseline])], "method_mean": row.method_mean,
                    "baseline_mean": row.baseline_mean, "diff": row.mean_diff, "ci": list(row.ci),
                    "p_permutation": row.p_permutation, "wins_losses_ties": [row.wins, row.losses, row.ties],
                    "verdict": verdict(claim, row.mean_diff, row.ci, margin)})
    return out


def claims_table(results: SequenceOf[Mapping]) -> str:
    lines = []
    for r in results:
        if r["verdict"] == "not run":
            lines.append(f"{r['claim']:<16} not run (needs {', '.join(r['needs'])})  {r['text']}")
            continue
        lines.append(f"{r['claim']:<16} {r['method']} - {r['baseline']} ({r['view']}, {r['group']}, n={r['n']}, "
                     f"seeds {r['seeds'][0]}/{r['seeds'][1]}): {100 * r['diff']:+.1f} "
                     f"[{100 * r['ci'][0]:+.1f}, {100 * r['ci'][1]:+.1f}] -> {r['verdict']}  {r['text']}")
    return "\n".join(lines)


def base_quality(pooled: Mapping, groups: Mapping[str, list[str]], method: str = "rgb", metric: str = "SR") -> dict:
    """The RGB base per seed: its mean on the clean test condition (`rgbt` view, the clean
    sequences) and on every test sequence's clean twin (`clean_rgb`), and each one's spread
    across seeds (max - min): what the issue's "competent base" is read against."""
    def per_seed(runs: list, sequences: list[str]) -> dict:
        means = [float(np.mean([run[s][metric] for s in sequences])) for run in runs]
        return {"per_seed": means, "spread": max(means) - min(means), "sequences": len(sequences)}

    out: dict = {}
    clean = groups.get("condition=clean", [])
    runs = pooled.get("rgbt", {}).get(method)
    if runs and clean:
        out["clean_condition"] = per_seed(runs, clean)
    twins = pooled.get("clean_rgb", {}).get(method)
    if twins:
        out["clean_twins"] = per_seed(twins, list(twins[0]))
    return out


def base_line(base: Mapping, method: str = "rgb") -> str:
    parts = []
    for key, label in (("clean_condition", "clean test condition"), ("clean_twins", "clean twins of every test sequence")):
        if key in base:
            b = base[key]
            parts.append(f"{label} ({b['sequences']} seq) " + " / ".join(f"{100 * v:.1f}" for v in b["per_seed"])
                         + f" (spread {100 * b['spread']:.1f})")
    return f"base {method} SR per seed: " + ("; ".join(parts) if parts else "not run")


# --------------------------------------------------------------------------------------
# Power: sequences and seeds needed to resolve a paired difference
# --------------------------------------------------------------------------------------


def variance_parts(a_runs: list, b_runs: list, metric: str = "SR") -> dict:
    """The spread of the paired difference a - b, split in three, from runs paired by seed
    (run k of each side trained with seed k; sequences in name order):

    d_k[s] = a_k[s] - b_k[s], D_k = mean_s d_k[s];
    sd_noise: the run-to-run part of one sequence's difference, var_s(d_j - d_k) / 2 averaged
        over seed pairs (needs two seeds; 0 with one);
    sd_int: the persistent sequence-by-method part, which more seeds do not average away:
        mean_k var_s(d_k) - sd_noise**2 (with one seed it holds the whole per-sequence spread);
    sd_run: a run's shift of the whole mean difference (training luck common to all
        sequences), var_k(D_k) - sd_noise**2 / S, clipped at 0 (0 with one seed: unknown).
    """
    seqs = sorted(a_runs[0])
    if len(a_runs) != len(b_runs):
        raise ConfigError(f"variance_parts: {len(a_runs)} runs against {len(b_runs)}; runs are paired by seed")
    a = np.array([[run[s][metric] for s in seqs] for run in a_runs], float)
    b = np.array([[run[s][metric] for s in seqs] for run in b_runs], float)
    d = a - b  # R x S
    runs, n = d.shape
    total = float(np.mean(np.var(d, axis=1, ddof=1))) if n > 1 else 0.0
    noise = 0.0
    if runs > 1:
        pairs = [(j, k) for j in range(runs) for k in range(j + 1, runs)]
        noise = float(np.mean([np.var(d[j] - d[k], ddof=1) / 2.0 for j, k in pairs]))
    interaction = max(0.0, total - noise)
    run = max(0.0, float(np.var(d.mean(axis=1), ddof=1)) - noise / n) if runs > 1 else 0.0
    return {"sequences": n, "runs": runs, "diff": float(d.mean()), "sd_total": math.sqrt(total),
            "sd_int": math.sqrt(interaction), "sd_noise": math.sqrt(noise), "sd_run": math.sqrt(run)}


def half_width(parts: Mapping, sequences: int, runs: int, z: float = 1.96) -> float:
    """Approximate 95 % half-width of the mean paired difference over `sequences` sequences
    and `runs` seeds per method: z sqrt(sd_int^2 / S + sd_noise^2 / (R S) + sd_run^2 / R)."""
    return z * math.sqrt(parts["sd_int"] ** 2 / sequences + parts["sd_noise"] ** 2 / (runs * sequences)
                         + parts["sd_run"] ** 2 / runs)


def sequences_needed(parts: Mapping, runs: int, target: float = MARGIN, z: float = 1.96) -> Optional[int]:
    """The fewest sequences giving a half-width <= target with `runs` seeds per method (None:
    the run-to-run shift alone exceeds the target at this many seeds)."""
    room = (target / z) ** 2 - parts["sd_run"] ** 2 / runs
    if room <= 0:
        return None
    return int(math.ceil((parts["sd_int"] ** 2 + parts["sd_noise"] ** 2 / runs) / room))


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def run_study(recipe, methods: list[str], seeds: SequenceOf[int], out: Path, baseline: str = "rgb",
              progress: bool = True, log: Callable[[str], None] = print, resamples: int = 4000,
              reuse: bool = True) -> dict:
    """Run the demo once per seed (data fixed), pool, tabulate, test the claims; writes
    `out/study.json` and returns it. With `reuse`, a seed whose folder already holds a
    finished run of the same recipe and methods is read, not rerun (a study stopped part way
    resumes at the first unfinished seed; adding seeds runs only the new ones)."""
    start = time.perf_counter()
    data_seed = recipe.data_seed if recipe.data_seed is not None else recipe.seed
    summaries = []
    for seed in seeds:
        r = dataclasses.replace(recipe, seed=int(seed), data_seed=data_seed)
        seed_out = out / f"seed-{seed}"
        done = finished_seed(seed_out, r, methods) if reuse else None
        if done is not None:
            log(f"== seed {seed} ({len(summaries) + 1}/{len(seeds)}): reusing {seed_out / 'summary.json'} "
                "(same recipe and methods; --fresh reruns it)")
            summaries.append(done)
            continue
        log(f"== seed {seed} ({len(summaries) + 1}/{len(seeds)})")
        summaries.append(run_demo(r, methods, seed_out, progress=progress, log=log))
    pooled = pool(summaries)
    groups = condition_groups(summaries[0]["test_sequences"])
    text, numbers = method_table(pooled, groups, baseline, resamples=resamples)
    claims = evaluate_claims(pooled, groups, resamples=resamples)
    base = base_quality(pooled, groups)
    power = {}
    for a, b in (("lora", "rgb"), ("srft", "full"), ("lora+fctl", "lora+aug"), ("patrack-matched", "lora"),
                 ("full", "lora")):
        if a in pooled["rgbt"] and b in pooled["rgbt"]:
            parts = variance_parts(pooled["rgbt"][a], pooled["rgbt"][b])
            parts["sequences_needed"] = {str(k): sequences_needed(parts, k) for k in (1, 3, 5)}
            power[f"{a} - {b}"] = parts
    study = {"seeds": list(map(int, seeds)), "data_seed": data_seed, "baseline": baseline, "methods": numbers,
             "claims": claims, "base": base, "power": power, "test_sequences": len(summaries[0]["test_sequences"]),
             "recipe": dataclasses.asdict(recipe), "wall_seconds": time.perf_counter() - start,
             "scores": pooled}
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(study, indent=1, default=list) + "\n")
    log("")
    log(text)
    log(f"\nSR in %, mean over {len(seeds)} seed(s) and {study['test_sequences']} test sequences; CI: 95 % paired "
        f"bootstrap over sequences and seeds (paired by seed); * the CI excludes 0 (vs {baseline})")
    log(base_line(base))
    log("\nclaims:\n" + claims_table(claims))
    for pair, parts in power.items():
        log(f"power {pair}: sd sequence x method {parts['sd_int']:.3f}, run-to-run per sequence {parts['sd_noise']:.3f}, "
            f"run shift {parts['sd_run']:.3f}; sequences for "
            f"a +-{MARGIN:g} CI with 1/3/5 seeds: " + ", ".join(str(v) for v in parts["sequences_needed"].values()))
    log(f"wrote {out / 'study.json'}; study took {study['wall_seconds']:.0f} s")
    return study


def finished_seed(seed_out: Path, recipe, methods: SequenceOf[str]) -> Optional[dict]:
    """The summary of a finished demo run in `seed_out` made with exactly `recipe` (a
    `DemoRecipe`), the current `DEMO_FORMAT`, this machine's precision and every one of `methods`, else None. A summary that cannot be read
    is an error (the study wrote it whole, atomically: something else changed it)."""
    path = seed_out / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); remove it or run the study with --fresh") from exc
    wanted = json.loads(json.dumps(dataclasses.asdict(recipe), default=list))  # tuples as JSON lists
    if not isinstance(summary, dict) or summary.get("recipe") != wanted:
        return None
    # the recipe's meaning (DEMO_FORMAT); summaries written before it was recorded were format 3
    if summary.get("demo_format", 3) != DEMO_FORMAT:
        return None
    # made in this machine's precision (summaries written before it was recorded were bf16)
    if summary.get("precision", "bf16") != demo_precision():
        return None
    if not set(methods) <= set(summary.get("methods", {})):
        return None
    # only the requested methods, as a fresh run of them would have written
    summary["methods"] = {name: summary["methods"][name] for name in methods}
    summary["per_sequence"] = {view: {name: scores for name, scores in per_method.items() if name in methods}
                               for view, per_method in summary.get("per_sequence", {}).items()}
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated methods, or all (known: {', '.join(METHOD_RECIPES)})")
    parser.add_argument("--seeds", type=int_range(1), default=3, help="training seeds 0..N-1 (default 3)")
    parser.add_argument("--baseline", default="rgb", help="the method every other is compared with (default rgb)")
    parser.add_argument("--test-sequences", type=int_range(1), default=None,
                        help="test sequences, a multiple of the 7 conditions (as many more train the methods; "
                             "default the demo's)")
    parser.add_argument("--out", default="runs/study", help="output folder (default runs/study)")
    parser.add_argument("--adapt-steps", type=int_range(1), default=None, help="optimiser steps per method")
    parser.add_argument("--resamples", type=int_range(100), default=4000, help="bootstrap resamples (default 4000)")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun every seed (default: a seed folder holding a finished run of the same recipe "
                             "and methods is reused)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    recipe = DemoRecipe()
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    if args.adapt_steps is not None:
        if args.adapt_steps < 1:
            raise ConfigError(f"--adapt-steps must be at least 1, got {args.adapt_steps}")
        recipe.adapt_steps = args.adapt_steps
    if args.test_sequences is not None:
        n = len(recipe.conditions)
        if args.test_sequences < n or args.test_sequences % n:
            raise ConfigError(f"--test-sequences must be a positive multiple of the {n} conditions, "
                              f"got {args.test_sequences}")
        # as many training sequences as test ones: a split fraction whose period (2) is prime to
        # the 7 cycled conditions, so both splits hold every condition
        recipe.target_sequences = 2 * args.test_sequences
        recipe.test_sequences = args.test_sequences
    methods = parse_methods(args.methods)
    if args.baseline not in methods:
        raise ConfigError(f"--baseline {args.baseline} is not among --methods ({', '.join(methods)})")
    run_study(recipe, methods, list(range(args.seeds)), Path(args.out), baseline=args.baseline,
              progress=not args.no_progress, resamples=args.resamples, reuse=not args.fresh)
    return 0
