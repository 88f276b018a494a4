"""Scores of trackers under one protocol: the `evaluate` API, tables, JSON, plots.

`evaluate(protocol, sequences, results, attributes=None) -> Report` is what the command
line, the demo and tests call:
- `sequences`: ground truth, a list of `Sequence` or `{seq_name: (N, 4) x,y,w,h boxes}`;
- `results`: `{tracker: {seq_name: (N, 4) boxes | Prediction | [Prediction, ...]}}`;
- `attributes`: optional `{seq_name: {"condition": "night", "fast_motion": True}}`, merged
  over `Sequence.attributes`. A string / number value groups sequences as `key=value`, a
  true flag (or a per-frame array with any true frame) as `key`.
The `Report` keeps per-sequence scores, so `report.per_attribute()` regroups them without
re-scoring. Every output (table, JSON, plot titles) names the protocol.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tracktune.data.sequence import Sequence
from tracktune.errors import DataError
from tracktune.files import atomic_write_with
from tracktune.eval import metrics as M
from tracktune.eval import protocols as P
from tracktune.eval.protocols import Prediction, Protocol, SequenceScore


@dataclass
class TrackerReport:
    name: str
    metrics: dict[str, float]
    curves: dict[str, np.ndarray]
    sequences: dict[str, SequenceScore]
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    protocol: Protocol
    sequence_names: list[str]
    trackers: dict[str, TrackerReport]
    attributes: dict[str, list[str]] = field(default_factory=dict)  # attribute -> sequences having it
    notes: list[str] = field(default_factory=list)  # about the ground truth (e.g. skipped blank lines)

    def all_notes(self) -> list[str]:
        """Ground-truth notes, then each tracker's (results files, length policy)."""
        return list(self.notes) + [n for t in self.trackers.values() for n in t.notes]

    def per_sequence(self, tracker: str) -> dict[str, dict[str, float]]:
        """Per-sequence metric values (empty for pooled long-term protocols)."""
        return {name: s.values for name, s in self.trackers[tracker].sequences.items()}

    def subset(self, tracker: str, names: list[str]) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Metrics and curves of `tracker` over a subset of sequences."""
        seqs = self.trackers[tracker].sequences
        return self.protocol.summarise([seqs[n] for n in names])

    def per_attribute(self) -> dict[str, dict[str, dict[str, float]]]:
        """`{attribute: {tracker: {metric: value}}}` over the sequences with the attribute."""
        return {
            attr: {t: self.subset(t, names)[0] for t in self.trackers}
            for attr, names in self.attributes.items()
        }

    def to_dict(self, per_sequence: bool = False) -> dict:
        """`{"protocol", "sequences", "trackers"}`; `per_sequence=True` adds each tracker's
        per-sequence values (`"per_sequence": {tracker: {seq: {metric: value}}}`) and the
        attribute groups (`"attributes": {attribute: [seq, ...]}`), what `tracktune compare` reads."""
        out = {
            "protocol": self.protocol.name,
            "sequences": len(self.sequence_names),
            "trackers": {name: {m: float(t.metrics[m]) for m in self.protocol.metric_names} for name, t in self.trackers.items()},
        }
        if per_sequence:
            from tracktune.eval.compare import report_scores

            out["per_sequence"] = {t: {s: {m: float(v) for m, v in values.items()} for s, values in scores.items()}
                                   for t, scores in report_scores(self).items()}
            out["attributes"] = {a: list(names) for a, names in self.attributes.items()}
        return out

    def to_json(self, per_sequence: bool = False) -> str:
        return json.dumps(self.to_dict(per_sequence))

    def table(self) -> str:
        """Percentages with one decimal for every protocol (tracktune's one unit convention:
        scores are fractions in [0, 1] in JSON and in code, percent in printed tables), trackers
        sorted by the first metric."""
        names = self.protocol.metric_names
        fmt = _percent
        order = sorted(self.trackers, key=lambda t: -np.nan_to_num(self.trackers[t].metrics[names[0]], nan=-1))
        width = max([len("tracker")] + [len(t) for t in order])
        head = f"protocol {self.protocol.name} ({self.protocol.toolkit}), {len(self.sequence_names)} sequences"
        unit = " (%)"
        lines = [head, f"{'tracker':<{width}}  " + "  ".join(f"{n + unit:>8}" for n in names)]
        for t in order:
            lines.append(f"{t:<{width}}  " + "  ".join(f"{fmt(self.trackers[t].metrics[n]):>8}" for n in names))
        if self.attributes:
            lines.append("")
            lines.append(self.attribute_table())
        notes = list(self.notes) + [n for t in order for n in self.trackers[t].notes]
        if notes:
            lines.append("notes:")
            lines.extend(f"  {n}" for n in notes)
        return "\n".join(lines)


    def attribute_table(self) -> str:
        """Per-attribute breakdown: one row per (attribute, tracker), sequence counts."""
        names = self.protocol.metric_names
        fmt = _percent
        groups = self.per_attribute()
        unit = " (%)"
        width = max([len("attribute (sequences)")] + [len(f"{a} ({len(self.attributes[a])})") for a in groups])
        tw = max([len("tracker")] + [len(t) for t in self.trackers])
        lines = [f"per attribute, protocol {self.protocol.name}",
                 f"{'attribute (sequences)':<{width}}  {'tracker':<{tw}}  " + "  ".join(f"{n + unit:>8}" for n in names)]
        for attr, per_tracker in groups.items():
            label = f"{attr} ({len(self.attributes[attr])})"
            for t, values in per_tracker.items():
                lines.append(f"{label:<{width}}  {t:<{tw}}  " + "  ".join(f"{fmt(values[n]):>8}" for n in names))
        return "\n".join(lines)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def _as_runs(value, seq_name: str, tracker: str) -> list[Prediction]:
    if isinstance(value, dict):  # multistart: {anchor frame: boxes}
        return [v if isinstance(v, Prediction) and v.anchor is not None
                else Prediction(boxes=getattr(v, "boxes", v), anchor=int(k), source=f"{tracker}/{seq_name}/{k}")
                for k, v in value.items()]
    if isinstance(value, Prediction):
        return [value]
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Prediction):
        return list(value)
    boxes = np.asarray(value, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise DataError(f"tracker {tracker}, sequence {seq_name}: expected (N, 4) boxes, got shape {boxes.shape}")
    return [Prediction(boxes=boxes, source=f"{tracker}/{seq_name}")]


def sequence_attributes(sequences, extra: dict | None = None) -> dict[str, list[str]]:
    """Attribute -> names of the sequences that have it. Per sequence, `Sequence.attributes`
    updated by `extra[seq.name]`, plus `meta["condition"]` (synthetic data): a string or
    number value groups as `key=value`; a bool (or a per-frame 0/1 array, when any frame
    is true) as `key`."""
    groups: dict[str, list[str]] = {}
    for seq in sequences:
        tags = dict(seq.attributes or {})
        condition = (seq.meta or {}).get("condition")
        if condition is not None and "condition" not in tags:
            tags["condition"] = condition
        tags.update((extra or {}).get(seq.name, {}))
        for key, value in tags.items():
            if value is None:
                continue
            if isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
                groups.setdefault(f"{key}={value}", []).append(seq.name)
            elif _is_flag(value) and bool(np.any(np.asarray(value))):
                groups.setdefault(str(key), []).append(seq.name)
    return dict(sorted(groups.items()))


def _is_flag(value) -> bool:
    """A bool, or a per-frame array of 0/1 (GOT-10k's 0..8 `cover` levels are not a tag)."""
    array = np.asarray(value)
    return array.dtype == bool or (array.dtype.kind in "iuf" and np.isin(array, (0, 1)).all())


def _as_sequences(sequences) -> list:
    if isinstance(sequences, dict):
        return [Sequence(name, {}, np.asarray(boxes, dtype=np.float64)) for name, boxes in sequences.items()]
    return list(sequences)


def evaluate(protocol: str | Protocol, sequences, results: dict, notes: dict[str, list[str]] | None = None,
             attributes: dict[str, dict] | None = None) -> Report:
    """Score `results` (`{tracker: {seq_name: boxes | Prediction | [Prediction, ...]}}`)
    against `sequences` (a list of `Sequence`, or `{seq_name: (N, 4) boxes}`) under
    `protocol` (a name in `PROTOCOLS` or a `Protocol`). Every sequence needs a result from
    every tracker (the official toolkits stop otherwise). `notes`: per-tracker lines for
    the report (e.g. from `read_tracker_results`); `attributes`: `{seq_name: {key: value}}`
    for `Report.per_attribute()` (see the module docstring)."""
    proto = P.get(protocol) if isinstance(protocol, str) else protocol
    sequences = _as_sequences(sequences)
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise DataError("duplicate sequence names in the ground truth")
    unknown = sorted(set(attributes or {}) - set(names))
    if unknown:
        raise DataError(f"attributes given for {len(unknown)} sequence(s) not in the ground truth: {', '.join(unknown[:5])}")
    trackers = {}
    for tracker, per_seq in results.items():
        missing = [n for n in names if n not in per_seq]
        if missing:
            raise DataError(f"tracker {tracker}: no results for {len(missing)} sequence(s): {', '.join(missing[:5])}")
        scores = {}
        tracker_notes = list((notes or {}).get(tracker, []))
        for seq in sequences:
            score = proto.score_sequence(seq, _as_runs(per_seq[seq.name], seq.name, tracker))
            tracker_notes.extend(score.notes)
            scores[seq.name] = score
        values, curves = proto.summarise(list(scores.values()))
        trackers[tracker] = TrackerReport(tracker, values, curves, scores, tracker_notes)
    gt_notes = [n for seq in sequences for n in (seq.meta or {}).get("notes", [])]
    return Report(proto, names, trackers, sequence_attributes(sequences, attributes), gt_notes)


# ---- plots ------------------------------------------------------------------------

_TITLES = {
    "success": ("Success plot", "Overlap threshold", "Success rate"),
    "precision": ("Precision plot", "Location error threshold (pixels)", "Precision"),
    "norm_precision": ("Normalized precision plot", "Normalized location error threshold", "Normalized precision"),
}


def _legend_value(report: Report, curve: str, metrics: dict[str, float], values: np.ndarray) -> float:
    if report.protocol.kind == "got10k":
        return metrics["AO"]
    return report.protocol.curve_summary(curve, values)


def legend_entries(report: Report, curve: str, per_tracker: dict[str, tuple[dict, dict]]) -> list[tuple[str, np.ndarray]]:
    """`[("[0.362] NAME", curve values), ...]`, best first (ties by name)."""
    entries = []
    for name, (metrics, curves) in per_tracker.items():
        if curve in curves:
            entries.append((_legend_value(report, curve, metrics, curves[curve]), name, curves[curve]))
    entries.sort(key=lambda e: (-np.nan_to_num(e[0], nan=-1), e[1]))
    return [(f"[{value:.3f}] {name}", values) for value, name, values in entries]


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend. Imported when the first plot is drawn:
    it takes longer to import than scoring a benchmark, and only `--plots` needs it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write the figure atomically (format from `path`'s suffix) and close it."""
    try:
        atomic_write_with(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png"))
    finally:
        _pyplot().close(fig)
    return path


def _plot_one(report: Report, curve: str, per_tracker: dict[str, tuple[dict, dict]], path: Path, title_suffix: str = ""):
    plt = _pyplot()
    thresholds = report.protocol.thresholds(curve)
    entries = legend_entries(report, curve, per_tracker)
    if not entries:
        return None
    title, xlabel, ylabel = _TITLES[curve]
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for label, values in entries:
        ax.plot(thresholds, values, linewidth=2, label=label)
    ax.set_title(f"{title} - {report.protocol.name}{title_suffix}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(thresholds[0], thresholds[-1])
    ax.set_ylim(0, 1.0)
    ax.grid(True, linestyle=":")
    ax.legend(loc="lower left" if curve == "success" else "lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_longterm(report: Report, per_tracker: dict[str, tuple[dict, dict]], path: Path, title_suffix: str = ""):
    """The VOT long-term tracking precision / recall plot, legend `[F] NAME`, best first."""
    plt = _pyplot()
    entries = sorted(((m["F"], name, c) for name, (m, c) in per_tracker.items() if "pr_precision" in c),
                     key=lambda e: (-np.nan_to_num(e[0], nan=-1), e[1]))
    if not entries:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    for f, name, c in entries:
        line, = ax.plot(c["pr_recall"], c["pr_precision"], linewidth=2, label=f"[{f:.3f}] {name}")
        best = int(np.nanargmax(M.f_scores(c["pr_precision"], c["pr_recall"])))
        ax.plot(c["pr_recall"][best], c["pr_precision"][best], "o", color=line.get_color())
    ax.set_title(f"Tracking precision / recall - {report.protocol.name}{title_suffix}")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, linestyle=":")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(report: Report, outdir: str | Path) -> list[Path]:
    """Success / precision / normalised-precision plots (legend `[0.362] NAME`, sorted),
    for vot_lt the precision / recall plot (legend `[F] NAME`), and the same per attribute
    under `attributes/`. Returns the files written."""
    outdir = Path(outdir)
    written = []
    overall = {t: (r.metrics, r.curves) for t, r in report.trackers.items()}
    if report.protocol.kind == "longterm":
        groups = [("", overall, outdir / "precision_recall.png")]
        for attr, names in report.attributes.items():
            safe = "".join(ch if ch.isalnum() or ch in "-_=." else "_" for ch in attr)
            groups.append((f" - {attr} ({len(names)})", {t: report.subset(t, names) for t in report.trackers},
                           outdir / "attributes" / f"{safe}_precision_recall.png"))
        return [p for p in (_plot_longterm(report, per, path, suffix) for suffix, per, path in groups) if p]
    curves = [c for c in P.CURVES if report.protocol.has_curve(c)]
    for curve in curves:
        path = _plot_one(report, curve, overall, outdir / f"{curve}.png")
        if path:
            written.append(path)
    for attr, names in report.attributes.items():
        per_tracker = {t: report.subset(t, names) for t in report.trackers}
        safe = "".join(ch if ch.isalnum() or ch in "-_=." else "_" for ch in attr)
        for curve in curves:
            path = _plot_one(report, curve, per_tracker, outdir / "attributes" / f"{safe}_{curve}.png",
                             f" - {attr} ({len(names)})")
            if path:
                written.append(path)
    return written
