"""Paired comparisons of trackers: differences per sequence, bootstrap CIs, permutation
and sign tests, wins / losses / ties, overall and per attribute. numpy only, no torch.

    from tracktune.eval.compare import compare
    comparison = compare(report, baseline="rgb")            # a Report from `evaluate`
    comparison = compare([report_seed0, report_seed1])      # one Report per seed: runs
    comparison = compare({"lora": [scores_a, scores_b], "rgb": scores_c}, baseline="rgb",
                         metrics=["SR"], attributes={"condition=night": ["seq1", "seq7"]})
    print(comparison.table()); comparison.to_json(); comparison.plot("diff.png")
    row = comparison.row("lora", "SR")                      # overall; group="condition=night"
    row.mean_diff, row.ci, row.p_permutation, row.p_sign, row.wins, row.losses, row.ties

Per-sequence scores are `{seq: {metric: value}}` (`Report.per_sequence(tracker)`). What is
computed, exactly (docs/compare.md says it in prose):

- `x[m][r, s]`: metric value of method `m`, run (seed) `r`, sequence `s`. The per-sequence
  difference is `d[s] = mean_r x[m][r, s] - mean_r x[base][r, s]`; the reported difference
  is `mean_s d[s]`.
- Bootstrap (percentile interval, Efron & Tibshirani 1993, ch. 13). Every bootstrap, for
  every method, metric and group, starts from `rng = numpy.random.default_rng(seed)` and
  draws `I = rng.integers(0, n, size=(resamples, n))`: row `b` is replicate `b`'s
  sequences. With one run per method the replicate is `mean(d[I[b]])`. With several runs
  (`hierarchy="crossed"`, the default) the same `rng` then draws, per replicate, one
  resample of each side's runs, `J = rng.integers(0, R_m, size=(resamples, R_m))` for the
  method and then `K` likewise for the baseline, shared by all sequences of the replicate
  (a run is one trained model that scored every sequence, so its luck moves all of them
  together); the replicate is `mean_s [mean_j x[m][J[b, j], I[b, s]] - mean_k x[base][K[b, k], I[b, s]]]`.
  `hierarchy="nested"` instead draws fresh runs for every resampled sequence
  (`rng.integers(0, R, size=(resamples, n, R))`, method then baseline): the textbook
  two-stage scheme, which treats each sequence's runs as independent of the others' and
  so understates the spread that comes from a run being good or bad on all sequences.
  `hierarchy="paired"` (equal run counts, run `i` of every method trained from the same
  seed, e.g. from one shared pretrained base per seed, as `tracktune study` does) draws one
  `J = rng.integers(0, R, size=(resamples, R))` for both sides, so a seed's luck shared by
  both methods cancels: `mean_s mean_j (x[m][J[b, j], I[b, s]] - x[base][J[b, j], I[b, s]])`.
  The interval is the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of the
  replicates (`numpy.quantile`, linear interpolation).
- Run rescaling (`rescale_runs=True`, the default; with `R >= 2` runs on a side): before
  drawing, each side's values are moved away from their per-sequence mean over runs by
  `c = sqrt(R / (R - 1))`, `x[r, s] <- xbar[s] + c (x[r, s] - xbar[s])` (paired: the
  differences `x[m] - x[base]`, likewise). Drawing R runs with replacement gives a run-level
  variance of `(R - 1) / R` of the unbiased `s^2 / R` (two thirds with 3 seeds); the rescaling
  restores it (Davison & Hinkley 1997, "Bootstrap Methods and their Application", sec. 3.8,
  adjusting the top stage of a two-stage resample). The per-sequence means, so the reported
  difference, are unchanged. It does not give the t distribution's heavier tails: with 3 runs
  the CI still covers less than 95 % when the runs' spread dominates (docs/compare.md).
- Permutation test (two-sided, sign flip): the statistic is `|mean_s d[s]|`; under the
  null each `d[s]` is as likely negative as positive. Exact (all `2**n` sign patterns)
  when `n <= exact_max` (16); otherwise `permutations` random patterns from
  `numpy.random.default_rng([seed, 1])`, `p = (1 + #{|T*| >= |T|}) / (1 + permutations)`.
  Runs enter through their mean: the tests take the runs as given; only the bootstrap
  accounts for seed-to-seed spread.
- Wins / losses / ties: `d[s] > tol`, `d[s] < -tol`, `|d[s]| <= tol`, with
  `tol = tie_tolerance` (default 0.001: 0.1 point on a percent scale, the resolution of
  a published table). Sign test: two-sided exact binomial on wins vs losses, ties dropped.
- Per attribute: the same on the sequences having the attribute (`Report.attributes`).
- Sequences are indexed in name order (`sorted`), so the order they were listed or read
  in changes no number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tracktune.errors import ConfigError, DataError

ALL = "all"  # the group name of the whole sequence set
TIE_TOLERANCE = 0.001
EXACT_MAX = 16
HIERARCHIES = ("crossed", "nested", "paired")


# ---- the statistics, on arrays -------------------------------------------------------


def rescaled_runs(x: np.ndarray) -> np.ndarray:
    """`x` (R, n) with each run's deviation from the per-sequence mean over runs scaled by
    `sqrt(R / (R - 1))` (unchanged when R == 1): see "Run rescaling" above."""
    runs = len(x)
    if runs < 2:
        return x
    centre = x.mean(axis=0, keepdims=True)
    return centre + math.sqrt(runs / (runs - 1)) * (x - centre)


def bootstrap_means(x: np.ndarray, y: np.ndarray, resamples: int = 10000, seed: int = 0,
                    hierarchy: str = "crossed", rescale_runs: bool = True) -> np.ndarray:
    """Bootstrap replicates of `mean_s (mean_r x[r, s] - mean_r y[r, s])`.

    `x`: (R_x, n) method values, `y`: (R_y, n) baseline values (runs by sequences; a 1-D
    array is one run). Draws as the module docstring says; returns (resamples,)."""
    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.atleast_2d(np.asarray(y, dtype=np.float64))
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} sequences, y {y.shape[1]}")
    if hierarchy not in HIERARCHIES:
        raise ConfigError(f"unknown hierarchy '{hierarchy}' (known: {', '.join(HIERARCHIES)})")
    if rescale_runs:  # per side; with paired this is the rescaling of x - y (it is linear)
        x, y = rescaled_runs(x), rescaled_runs(y)
    n = x.shape[1]
    rng = np.random.default_rng(seed)
    seqs = rng.integers(0, n, size=(resamples, n))
    if len(x) == 1 and len(y) == 1:
        d = x[0] - y[0]
        return d[seqs].mean(axis=1)
    if hierarchy in ("crossed", "paired"):
        # counts[b, s]: how often replicate b drew sequence s; per-run means over the drawn sequences
        offsets = (np.arange(resamples)[:, None] * n + seqs).ravel()
        counts = np.bincount(offsets, minlength=resamples * n).reshape(resamples, n).astype(np.float64)
        rows = np.arange(resamples)[:, None]
        if hierarchy == "paired":
            if len(x) != len(y):
                raise ConfigError(f"hierarchy paired matches run i of the method with run i of the baseline; "
                                  f"they have {len(x)} and {len(y)} runs")
            # one draw of run indices for both sides: run i of each shares its seed (and what the seed made)
            run_d = counts @ (x - y).T / n  # (resamples, R)
            j = rng.integers(0, len(x), size=(resamples, len(x)))
            return run_d[rows, j].mean(axis=1)
        run_x, run_y = counts @ x.T / n, counts @ y.T / n  # (resamples, R)
        jx = rng.integers(0, len(x), size=(resamples, len(x)))
        jy = rng.integers(0, len(y), size=(resamples, len(y)))
        return run_x[rows, jx].mean(axis=1) - run_y[rows, jy].mean(axis=1)
    jx = rng.integers(0, len(x), size=(resamples, n, len(x)))
    jy = rng.integers(0, len(y), size=(resamples, n, len(y)))
    cols = seqs[:, :, None]
    return (x[jx, cols].mean(axis=2) - y[jy, cols].mean(axis=2)).mean(axis=1)


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    lo, hi = np.quantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def permutation_test(d: np.ndarray, permutations: int = 10000, seed: int = 0,
                     exact_max: int = EXACT_MAX) -> tuple[float, bool]:
    """Two-sided sign-flip test of `mean(d) == 0` -> (p, exact)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    if n == 0:
        return float("nan"), True
    observed = abs(d.mean())
    slack = 1e-12 * max(1.0, float(np.abs(d).max()))  # patterns equal to the observed one up to rounding count
    if n <= exact_max:
        patterns = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
        stats = np.abs(patterns @ d) / n
        return float(np.mean(stats >= observed - slack)), True
    rng = np.random.default_rng([seed, 1])
    signs = rng.integers(0, 2, size=(permutations, n)) * 2.0 - 1.0
    stats = np.abs(signs @ d) / n
    return float((1 + np.sum(stats >= observed - slack)) / (1 + permutations)), False


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p of `wins` vs `losses` (ties already dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def wins_losses_ties(d: np.ndarray, tolerance: float = TIE_TOLERANCE) -> tuple[int, int, int]:
    """(wins, losses, ties): `d > tol`, `d < -tol`, `|d| <= tol`, where `tol` is `tolerance`
    plus 1e-12 so that a difference of exactly `tolerance` (up to float rounding) is a tie."""
    d = np.asarray(d, dtype=np.float64)
    tol = tolerance + 1e-12
    return int(np.sum(d > tol)), int(np.sum(d < -tol)), int(np.sum(np.abs(d) <= tol))


# ---- the comparison object -----------------------------------------------------------


@dataclass
class Row:
    """One method against the baseline on one metric over one group of sequences."""

    method: str
    metric: str
    group: str
    sequences: list[str]
    differences: np.ndarray  # d[s], seed-averaged, in `sequences` order
    baseline_mean: float
    method_mean: float
    mean_diff: float
    ci: tuple[float, float]
    p_permutation: float
    permutation_exact: bool
    p_sign: float
    wins: int
    losses: int
    ties: int

    def significant(self) -> bool:
        """The CI excludes 0 (the bootstrap's verdict at its confidence level)."""
        return bool(self.ci[0] > 0 or self.ci[1] < 0)

    def to_dict(self) -> dict:
        return {"method": self.method, "metric": self.metric, "group": self.group, "n": len(self.sequences),
                "baseline": self.baseline_mean, "value": self.method_mean, "mean_diff": self.mean_diff,
                "ci_low": self.ci[0], "ci_high": self.ci[1], "p_permutation": self.p_permutation,
                "permutation_exact": self.permutation_exact, "p_sign": self.p_sign,
                "wins": self.wins, "losses": self.losses, "ties": self.ties,
                "per_sequence": dict(zip(self.sequences, map(float, self.differences)))}


@dataclass
class Comparison:
    protocol: str | None
    percent: bool
    baseline: str
    methods: list[str]  # the others, in input order
    metrics: list[str]
    sequences: list[str]
    runs: dict[str, int]
    attributes: dict[str, list[str]]
    settings: dict
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, method: str, metric: str, group: str = ALL) -> Row:
        for r in self.rows:
            if (r.method, r.metric, r.group) == (method, metric, group):
                return r
        raise KeyError((method, metric, group))

    def to_dict(self) -> dict:
        return {"protocol": self.protocol, "baseline": self.baseline, "methods": self.methods,
                "metrics": self.metrics, "sequences": len(self.sequences), "runs": self.runs,
                "settings": self.settings, "attributes": {a: len(s) for a, s in self.attributes.items()},
                "comparisons": [r.to_dict() for r in self.rows], "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def table(self) -> str:
        """One line per (group, method, metric): baseline, method, difference and its CI,
        p-values, W/L/T; `*` where the CI excludes 0."""
        scale, unit = (100.0, " (points)") if self.percent else (1.0, "")
        v = (lambda x: f"{scale * x:.1f}") if self.percent else (lambda x: f"{x:.3f}")
        dv = (lambda x: f"{scale * x:+.2f}") if self.percent else (lambda x: f"{x:+.4f}")
        s = self.settings
        runs = ", ".join(f"{m} {k}" for m, k in self.runs.items()) if any(k > 1 for k in self.runs.values()) else ""
        tie = f"{s['tie_tolerance']:g}" + (f" ({scale * s['tie_tolerance']:g} points)" if self.percent else "")
        head = [f"protocol {self.protocol or '?'}: {', '.join(self.methods)} against baseline {self.baseline}, "
                f"{len(self.sequences)} sequences" + (f"; runs: {runs} ({s['hierarchy']} bootstrap)" if runs else ""),
                f"diff: method - baseline{unit}, mean over sequences; CI: {100 * s['confidence']:g}% paired bootstrap "
                f"over sequences ({s['resamples']} resamples, seed {s['seed']}), * where it excludes 0",
                f"p perm: sign-flip permutation test (exact up to {s['exact_max']} sequences, else "
                f"{s['permutations']} random sign patterns); p sign: sign test; W/L/T: wins / losses / ties, "
                f"tie when |d| <= {tie}"]
        gw = max([len("group (n)")] + [len(f"{r.group} ({len(r.sequences)})") for r in self.rows])
        mw = max([len("method")] + [len(m) for m in self.methods])
        kw = max([len("metric")] + [len(m) for m in self.metrics])
        cols = f"{'group (n)':<{gw}}  {'method':<{mw}}  {'metric':<{kw}}  {'base':>6}  {'value':>6}  {'diff':>7}  " \
               f"{'CI':>17}  {'p perm':>7}  {'p sign':>7}  {'W/L/T':>9}"
        lines = head + ["", cols]
        last_group = None
        for r in self.rows:
            if last_group is not None and r.group != last_group:
                lines.append("")
            last_group = r.group
            ci = f"[{dv(r.ci[0])}, {dv(r.ci[1])}]"
            perm = _p(r.p_permutation)
            lines.append(f"{r.group + f' ({len(r.sequences)})':<{gw}}  {r.method:<{mw}}  {r.metric:<{kw}}  "
                         f"{v(r.baseline_mean):>6}  {v(r.method_mean):>6}  {dv(r.mean_diff):>7}  {ci:>17}"
                         f"{'*' if r.significant() else ' '} {perm:>7}  {_p(r.p_sign):>7}  "
                         f"{f'{r.wins}/{r.losses}/{r.ties}':>9}")
        if self.notes:
            lines += ["notes:"] + [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, path: str | Path, group: str = ALL) -> Path:
        """Per-sequence differences, sorted, one panel per (method, metric): bars coloured
        win / loss / tie, the mean difference and its CI as a band."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if r.group == group]
        scale = 100.0 if self.percent else 1.0
        n_methods, n_metrics = len(self.methods), len(self.metrics)
        fig, axes = plt.subplots(n_methods, n_metrics, figsize=(4.5 * n_metrics, 3.2 * n_methods), dpi=110,
                                 squeeze=False)
        tol = self.settings["tie_tolerance"]
        for r in rows:
            ax = axes[self.methods.index(r.method)][self.metrics.index(r.metric)]
            order = np.argsort(r.differences, kind="stable")
            d = r.differences[order] * scale
            t = (tol + 1e-12) * scale
            colours = np.where(d > t, "tab:green", np.where(d < -t, "tab:red", "tab:gray"))
            x = np.arange(len(d))
            ax.bar(x, d, width=1.0 if len(d) > 60 else 0.8, color=colours, linewidth=0)
            ax.axhspan(r.ci[0] * scale, r.ci[1] * scale, color="tab:blue", alpha=0.2,
                       label=f"{100 * self.settings['confidence']:g}% CI")
            ax.axhline(r.mean_diff * scale, color="tab:blue", linewidth=1.5, label=f"mean {r.mean_diff * scale:+.2f}")
            ax.axhline(0, color="black", linewidth=0.8)
            if len(d) <= 40:
                ax.set_xticks(x)
                ax.set_xticklabels([r.sequences[i] for i in order], rotation=90, fontsize=6)
            else:
                ax.set_xticks([])
            ax.set_xlim(-0.6, len(d) - 0.4)
            ax.set_title(f"{r.method} - {self.baseline}: {r.metric} (W/L/T {r.wins}/{r.losses}/{r.ties})", fontsize=9)
            ax.set_ylabel(f"difference{' (points)' if self.percent else ''}", fontsize=8)
            ax.set_xlabel(f"{len(d)} sequences, sorted", fontsize=8)
            ax.legend(fontsize=7, loc="best")
            ax.grid(True, axis="y", linestyle=":")
        fig.suptitle(f"per-sequence differences, protocol {self.protocol or '?'}"
                     + ("" if group == ALL else f", {group}"), fontsize=10)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        plt.close(fig)
        return path


def _protocol_notes(name: str | None) -> list[str]:
    """Where a protocol's headline score is not the mean of its per-sequence values."""
    from tracktune.eval.protocols import PROTOCOLS

    protocol = PROTOCOLS.get(name) if name else None
    if protocol is None:
        return []
    if protocol.kind != "curves" or protocol.aggregation == "frames":
        return [f"protocol {name} pools frames (or thresholds) over sequences: each sequence is scored alone here "
                f"and weighs the same, so the mean difference is not the difference of the published scores"]
    if protocol.drop_all_zero_sequences:
        return [f"protocol {name} drops sequences whose success curve is all zero from its scores; here every "
                f"sequence counts"]
    return []


def _p(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 or p != p else f"{p:.0e}"


# ---- inputs --------------------------------------------------------------------------


def _is_report(obj) -> bool:
    return hasattr(obj, "per_sequence") and hasattr(obj, "trackers") and hasattr(obj, "protocol")


def report_scores(report) -> dict[str, dict[str, dict[str, float]]]:
    """`{tracker: {seq: {metric: value}}}` of a `Report`. A protocol that pools frames
    over sequences (vot_lt) has no per-sequence values; each sequence is then scored
    alone (`protocol.summarise([score])`)."""
    out = {}
    for tracker, t in report.trackers.items():
        out[tracker] = {name: (dict(s.values) if s.values else dict(report.protocol.summarise([s])[0]))
                        for name, s in t.sequences.items()}
    return out


def _runs_of(value, method: str) -> list[Mapping]:
    if isinstance(value, Mapping):
        return [value]
    runs = list(value)
    if not runs or not all(isinstance(r, Mapping) for r in runs):
        raise DataError(f"method {method}: expected per-sequence scores {{seq: {{metric: value}}}} or a list of them")
    return runs


def _collect(report_or_scores):
    """-> (protocol name, percent, metric names or None, {method: [scores per run]}, attributes)."""
    protocol, percent, metric_names, attributes = None, True, None, {}
    methods: dict[str, list[Mapping]] = {}
    items = report_or_scores
    if _is_report(items):
        items = [items]
    if isinstance(items, Mapping):
        for method, value in items.items():
            methods[str(method)] = _runs_of(value, str(method))
        return protocol, percent, metric_names, methods, attributes
    for report in items:
        if not _is_report(report):
            raise DataError("compare: expected a Report, a list of Reports (one per seed) or {method: scores}")
        if protocol is not None and report.protocol.name != protocol:
            raise DataError(f"compare: reports under different protocols ({protocol}, {report.protocol.name})")
        protocol, percent, metric_names = report.protocol.name, report.protocol.percent, report.protocol.metric_names
        for tracker, scores in report_scores(report).items():
            methods.setdefault(tracker, []).append(scores)
        for attr, names in report.attributes.items():
            merged = attributes.setdefault(attr, [])
            merged.extend(n for n in names if n not in merged)
    return protocol, percent, metric_names, methods, attributes


def _matrix(method: str, runs: list[Mapping], sequences: list[str], metric: str, sources: list[str]) -> np.ndarray:
    out = np.empty((len(runs), len(sequences)))
    for r, scores in enumerate(runs):
        for s, seq in enumerate(sequences):
            try:
                out[r, s] = float(scores[seq][metric])
            except KeyError:
                raise DataError(f"{sources[r]}: no {metric} for sequence '{seq}'") from None
    return out


def compare(report_or_scores, baseline: str | None = None, *, metrics: Sequence[str] | None = None,
            attributes: Mapping[str, Sequence[str]] | None = None, resamples: int = 10000, seed: int = 0,
            confidence: float = 0.95, permutations: int = 10000, tie_tolerance: float = TIE_TOLERANCE,
            exact_max: int = EXACT_MAX, hierarchy: str = "crossed", rescale_runs: bool = True,
            protocol: str | None = None, percent: bool | None = None,
            sources: Mapping[str, Sequence[str]] | None = None) -> Comparison:
    """Compare every method with `baseline` (default: the first method).

    `report_or_scores`: a `Report` (one run per tracker), a list of `Report`s (each a run,
    e.g. one per seed; trackers matched by name), or `{method: scores | [scores, ...]}` with
    `scores = {seq: {metric: value}}`. `attributes`: `{attribute: [sequences]}` (default:
    the reports'). `sources`: `{method: [a name per run]}` for error messages (folders).
    Errors: fewer than 2 methods, an unknown baseline or metric (`ConfigError`);
    runs whose sequence sets differ (`DataError`, naming the run and the sequences)."""
    found_protocol, found_percent, metric_names, methods, found_attributes = _collect(report_or_scores)
    protocol = protocol if protocol is not None else found_protocol
    percent = percent if percent is not None else found_percent
    attributes = dict(attributes) if attributes is not None else found_attributes
    if len(methods) < 2:
        raise ConfigError(f"compare needs at least 2 result sets (methods), got {len(methods)}: {', '.join(methods) or 'none'}")
    names = list(methods)
    baseline = names[0] if baseline is None else baseline
    if baseline not in methods:
        raise ConfigError(f"unknown baseline '{baseline}'; the methods are: {', '.join(names)}")
    if resamples < 1 or permutations < 1:
        raise ConfigError("resamples and permutations must be at least 1")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence}")
    if hierarchy not in HIERARCHIES:
        raise ConfigError(f"unknown hierarchy '{hierarchy}' (known: {', '.join(HIERARCHIES)})")
    src = {m: list((sources or {}).get(m, [])) or [f"method {m}" + (f" run {i + 1}" if len(runs) > 1 else "")
                                                    for i in range(len(runs))]
           for m, runs in methods.items()}
    if hierarchy == "paired":
        unmatched = [f"{m} {len(runs)}" for m, runs in methods.items() if len(runs) != len(methods[baseline])]
        if unmatched:
            raise ConfigError(f"hierarchy paired matches run i of each method with run i of the baseline "
                              f"({baseline}: {len(methods[baseline])} runs); these differ: {', '.join(unmatched)}")
    # every run must hold the same sequences as the baseline's first run
    reference = list(methods[baseline][0])
    ref_set = set(reference)
    for m, runs in methods.items():
        for r, scores in enumerate(runs):
            missing, extra = sorted(ref_set - set(scores)), sorted(set(scores) - ref_set)
            if missing or extra:
                parts = ([f"{len(missing)} missing ({', '.join(missing[:5])})"] if missing else []) + \
                        ([f"{len(extra)} not in {src[baseline][0]} ({', '.join(extra[:5])})"] if extra else [])
                raise DataError(f"{src[m][r]}: sequence set differs from {src[baseline][0]}: {'; '.join(parts)}")
    sequences = sorted(reference)  # resampling indexes sequences in name order: the listing order changes nothing
    if not sequences:
        raise DataError(f"{src[baseline][0]}: no sequences to compare")
    if metrics is None:
        first = methods[baseline][0][sequences[0]]
        metrics = [m for m in metric_names if m in first] if metric_names else list(first)
    metrics = list(metrics)
    available = set(methods[baseline][0][sequences[0]])
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(sorted(available))}")
    unknown_seqs = sorted({s for names_ in attributes.values() for s in names_} - ref_set)
    if unknown_seqs:
        raise DataError(f"attributes name {len(unknown_seqs)} sequence(s) not compared: {', '.join(unknown_seqs[:5])}")
    groups = {ALL: sequences, **{a: [s for s in sequences if s in set(v)] for a, v in sorted(attributes.items())}}
    groups = {g: v for g, v in groups.items() if v}
    others = [m for m in names if m != baseline]
    result = Comparison(protocol, bool(percent), baseline, others, metrics, sequences,
                        {m: len(methods[m]) for m in names}, {a: groups[a] for a in groups if a != ALL},
                        {"resamples": resamples, "seed": seed, "confidence": confidence, "permutations": permutations,
                         "tie_tolerance": tie_tolerance, "exact_max": exact_max, "hierarchy": hierarchy,
                         "rescale_runs": rescale_runs})
    result.notes.extend(_protocol_notes(protocol))
    counts = [len(methods[m]) for m in names]
    if max(counts) == 1:
        result.notes.append("one run per method: the CIs cover the choice of sequences, not training randomness "
                            "(give several runs per method, NAME=DIR,DIR,..., to include it)")
    elif min(counts) < 5:
        result.notes.append(f"{min(counts)} run(s) on a side: the bootstrap sees seed-to-seed spread through so few "
                            f"runs that its CI is too narrow when that spread is large (docs/compare.md)")
    index = {s: i for i, s in enumerate(sequences)}
    for metric in metrics:
        base = _matrix(baseline, methods[baseline], sequences, metric, src[baseline])
        for m in others:
            x = _matrix(m, methods[m], sequences, metric, src[m])
            finite = np.isfinite(x).all(axis=0) & np.isfinite(base).all(axis=0)
            if not finite.all():
                dropped = [s for s, ok in zip(sequences, finite) if not ok]
                result.notes.append(f"{m} vs {baseline}, {metric}: {len(dropped)} sequence(s) without a value (NaN) "
                                    f"left out: {', '.join(dropped[:5])}")
            for group, members in groups.items():
                members = [s for s in members if finite[index[s]]]
                if not members:
                    continue
                cols = [index[s] for s in members]
                xg, yg = x[:, cols], base[:, cols]
                d = xg.mean(axis=0) - yg.mean(axis=0)
                reps = bootstrap_means(xg, yg, resamples, seed, hierarchy, rescale_runs)
                p_perm, exact = permutation_test(d, permutations, seed, exact_max)
                w, l, t = wins_losses_ties(d, tie_tolerance)
                result.rows.append(Row(m, metric, group, list(members), d, float(yg.mean()), float(xg.mean()),
                                       float(d.mean()), percentile_interval(reps, confidence), p_perm, exact,
                                       sign_test(w, l), w, l, t))
    order = {g: i for i, g in enumerate(groups)}
    result.rows.sort(key=lambda r: (order[r.group], others.index(r.method), metrics.index(r.metric)))
    return result
