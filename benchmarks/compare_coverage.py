"""Coverage of `tracktune compare`'s bootstrap CI by simulation (docs/compare.md's table).

Usage: .venv/bin/python benchmarks/compare_coverage.py [--trials 400] [--resamples 2000]
Each simulated study: `n` sequences with a base difficulty, a per-sequence true effect
(mean 0.02, s.d. 0.05), per-frame noise (s.d. 0.03) and, per run, one offset shared by all
of that run's sequences (seed luck, s.d. `run_sd`); in the last settings also an offset of
s.d. `shared_sd` that run i of both sides shares (seed i's common starting model, as in
`tracktune study`), where the `paired` hierarchy applies. Prints, per setting, how often the
95 % CI contains the true mean difference 0.02, and the CI's mean width, with the runs
rescaled (`rescale_runs`, the default) and drawn as they are (the same simulated data and
draws). About 2 min.
"""

from __future__ import annotations

import argparse

import numpy as np

from tracktune.eval.compare import bootstrap_means, percentile_interval

SETTINGS = [(56, 1, 0.0, "crossed"), (245, 1, 0.0, "crossed"), (56, 3, 0.0, "crossed"), (56, 3, 0.0, "nested"),
            (56, 3, 0.02, "crossed"), (56, 3, 0.02, "nested"), (56, 5, 0.02, "crossed"), (56, 5, 0.02, "nested"),
            (56, 3, 0.02, "paired", 0.1), (56, 3, 0.02, "crossed", 0.1), (56, 5, 0.02, "paired", 0.1),
            (140, 3, 0.02, "paired", 0.1)]
TRUE_DIFF = 0.02


def coverage(rng, n, runs, run_sd, hierarchy, trials, resamples, shared_sd=0.0):
    """{rescale_runs: (coverage, mean width)} over `trials` simulated studies."""
    hits, widths = {True: 0, False: 0}, {True: [], False: []}
    for t in range(trials):
        scene = rng.uniform(0.2, 0.8, n)
        effect = rng.normal(TRUE_DIFF, 0.05, n)
        shared = rng.normal(0, shared_sd, runs) if shared_sd else np.zeros(runs)  # drawn only when used
        x = np.stack([scene + effect + shared[r] + rng.normal(0, run_sd) + rng.normal(0, 0.03, n) for r in range(runs)])
        y = np.stack([scene + shared[r] + rng.normal(0, run_sd) + rng.normal(0, 0.03, n) for r in range(runs)])
        for rescale in (True, False):
            lo, hi = percentile_interval(bootstrap_means(x, y, resamples, t, hierarchy, rescale))
            hits[rescale] += lo <= TRUE_DIFF <= hi
            widths[rescale].append(hi - lo)
    return {k: (hits[k] / trials, float(np.mean(widths[k]))) for k in hits}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(123)
    for n, runs, run_sd, hierarchy, *shared in SETTINGS:
        shared_sd = shared[0] if shared else 0.0
        result = coverage(rng, n, runs, run_sd, hierarchy, args.trials, args.resamples, shared_sd)
        print(f"n={n} runs={runs} run_sd={run_sd} shared_sd={shared_sd} {hierarchy}: "
              + "; ".join(f"{'rescaled' if k else 'as drawn'} coverage {c:.3f}, mean width {w:.4f}"
                          for k, (c, w) in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
