"""`tracktune bench accuracy`: what a tracking precision costs in accuracy, on real or synthetic data.

Each `--checkpoint` (a run or checkpoint directory) tracks the whole split once per
`--precision` (`track.precision` of its own track config, everything else unchanged), and the
tracks are scored under the benchmark's protocol. Reported per checkpoint and precision: SR,
PR (and the protocol's other metrics), and against the reference precision (the first given)
the paired per-sequence difference with its 95 % bootstrap CI (`tracktune.eval.compare`).

Score-map agreement separates the model's numerics from the closed loop (one changed box moves
every later crop, so whole tracks drift apart from tiny differences): while the reference
precision tracks, every `--agreement-every`-th forward pass's inputs are kept, and each other
precision's prepared model runs on exactly those inputs. Compared per kept step and target:
the peak cell after the tracking window (`decode_best`, the cell the tracker would pick), the
largest difference of the sigmoid scores, and the decoded box's corners in search-crop pixels.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from tracktune.cli_types import int_range
from tracktune.progress import add_progress_arguments, progress_mode

PRECISION_CHOICES = ("fp32", "bf16", "fp16", "int8")


class RecordingNet:
    """Wraps a prepared model: passes every call through, keeping every `every`-th call's inputs
    (cloned) with its outputs."""

    def __init__(self, net, every: int) -> None:
        self.net, self.every, self.calls, self.kept = net, every, 0, []

    def __call__(self, **inputs):
        out = self.net(**inputs)
        if self.calls % self.every == 0:
            self.kept.append(({k: v.clone() for k, v in inputs.items()},
                              {k: out[k].float().clone() for k in ("score_logits", "boxes")}))
        self.calls += 1
        return out

    def __getattr__(self, name):  # the runner reads attributes of the model it wraps
        return getattr(self.net, name)


def agreement(kept, net, window, window_influence: float, search_size: int) -> dict:
    """How `net`'s outputs on the kept inputs agree with the recorded ones."""
    import numpy as np
    import torch

    from tracktune.track.tracker import decode_best

    same_peak, targets, score_diff, box_diffs = 0, 0, 0.0, []
    for inputs, reference in kept:
        with torch.inference_mode():
            out = net(**inputs)
        ref_scores, ref_boxes = reference["score_logits"].numpy(), reference["boxes"].numpy()
        scores, boxes = out["score_logits"].float().cpu().numpy(), out["boxes"].float().cpu().numpy()
        score_diff = max(score_diff, float(np.abs(1 / (1 + np.exp(-scores)) - 1 / (1 + np.exp(-ref_scores))).max()))
        for i in range(ref_scores.shape[0]):
            box_a, _, cell_a = decode_best(ref_scores[i], ref_boxes[i], window, window_influence)
            box_b, _, cell_b = decode_best(scores[i], boxes[i], window, window_influence)
            same_peak += int(cell_a == cell_b)
            targets += 1
            box_diffs.append(float(np.abs(box_a - box_b).max()) * search_size)
    return {"steps": len(kept), "targets": targets, "same_peak": same_peak / max(targets, 1),
            "max_score_diff": score_diff, "max_box_diff_px": max(box_diffs, default=0.0),
            "median_box_diff_px": float(np.median(box_diffs)) if box_diffs else 0.0}


def run_accuracy(model, track_config, sequences, protocol: str, precisions, batch: int = 8,
                 agreement_every: int = 10, resamples: int = 4000, rgb_only: bool = False, progress=False) -> dict:
    """One checkpoint: its tracks in each precision, their scores and the comparison with the
    first precision; see the module docstring."""
    from tracktune.eval import evaluate
    from tracktune.eval.compare import compare
    from tracktune.track.runner import BatchedRunner

    reference = precisions[0]
    boxes, cores = {}, {}
    for precision in precisions:
        runner = BatchedRunner(model, dataclasses.replace(track_config, precision=precision), batch_size=batch,
                               progress=progress, rgb_only=rgb_only)
        cores[precision] = runner.core
        if precision == reference:  # this runner is not used again: its net stays wrapped
            recorder = runner.core.net = RecordingNet(runner.core.net, agreement_every)
        boxes[precision] = {r.name: r.boxes for r in runner.run(sequences)}
    report = evaluate(protocol, sequences, boxes)
    out = {"precisions": {p: {k: float(v) for k, v in report.trackers[p].metrics.items()} for p in precisions},
           "reference": reference, "sequences": len(sequences), "differences": {}, "agreement": {}}
    if len(precisions) > 1:
        comparison = compare(report, baseline=reference, resamples=resamples)
        for row in comparison.rows:
            if row.group == "all":
                out["differences"].setdefault(row.method, {})[row.metric] = {
                    "mean_diff": row.mean_diff, "ci": list(row.ci), "wins": row.wins, "losses": row.losses,
                    "ties": row.ties}
        for precision in precisions[1:]:
            out["agreement"][precision] = agreement(recorder.kept, cores[precision].net, cores[reference].window,
                                                    track_config.window_influence, model.search_size)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", action="append", required=True, metavar="RUN",
                        help="run or checkpoint directory (repeatable: each is measured)")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="benchmark name (tracktune.data.benchmarks)")
    parser.add_argument("--root", metavar="DIR", help="dataset root (default $TRACKTUNE_<NAME>)")
    parser.add_argument("--split", default=None, help="split to track (default the benchmark's)")
    parser.add_argument("--protocol", default=None,
                        help="scoring protocol (default the benchmark's; lasher for the synthetic sets, as the demo)")
    parser.add_argument("--precision", action="append", choices=PRECISION_CHOICES, default=None,
                        help="precision to track in (repeatable; the first is the reference; default bf16, int8)")
    parser.add_argument("--batch", type=int_range(1), default=8, metavar="N", help="sequences in lockstep (default 8)")
    parser.add_argument("--agreement-every", type=int_range(1), default=10, metavar="K",
                        help="keep every K-th forward pass's inputs for the score-map agreement (default 10)")
    parser.add_argument("--rgb-only", action="store_true", help="feed the RGB frame as the auxiliary frame")
    parser.add_argument("--resamples", type=int_range(100), default=4000, help="bootstrap resamples (default 4000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_progress_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from tracktune.data.benchmarks import load, loader
    from tracktune.data.benchmarks.catalog import BENCHMARKS
    from tracktune.errors import ConfigError, DataError
    from tracktune.runs import load_tracker_model

    loader(args.dataset)  # an unknown dataset is an error before any model loads
    benchmark = BENCHMARKS[args.dataset]
    protocol = args.protocol or benchmark.protocol or ("lasher" if args.dataset == "synthetic" else None)
    if protocol is None:
        raise ConfigError(f"--dataset {args.dataset} has no scoring protocol of its own; name one with --protocol")
    precisions = list(dict.fromkeys(args.precision or ["bf16", "int8"]))
    split = args.split or benchmark.default_split
    results = {}
    for checkpoint in args.checkpoint:
        model = load_tracker_model(checkpoint)
        sequences = load(args.dataset, args.root, split, modality=model.config.data.modality)
        if not sequences:
            raise DataError(f"dataset {args.dataset} split {split}: no sequences")
        results[str(checkpoint)] = run_accuracy(model, model.config.track, sequences, protocol, precisions,
                                                batch=args.batch, agreement_every=args.agreement_every,
                                                resamples=args.resamples, rgb_only=args.rgb_only,
                                                progress=progress_mode(args))
    if args.json:
        print(json.dumps({"dataset": args.dataset, "split": split, "protocol": protocol, "checkpoints": results}))
        return 0
    for checkpoint, result in results.items():
        print(f"{checkpoint}: {result['sequences']} sequences of {args.dataset} {split}, protocol {protocol}")
        reference = result["reference"]
        for precision, metrics in result["precisions"].items():
            line = "  " + f"{precision:<6}" + "  ".join(f"{k} {100 * v:5.1f}" for k, v in metrics.items())
            diff = result["differences"].get(precision, {}).get("SR")
            if diff is not None:
                lo, hi = diff["ci"]
                line += (f"   SR - {reference}: {100 * diff['mean_diff']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"
                         f" ({diff['wins']} better, {diff['losses']} worse, {diff['ties']} tied)")
            print(line)
        for precision, a in result["agreement"].items():
            print(f"  {precision} on {reference}'s inputs ({a['steps']} steps, {a['targets']} targets): same peak cell "
                  f"{100 * a['same_peak']:.1f} %, largest score difference {a['max_score_diff']:.4f}, decoded box "
                  f"corners differ by {a['median_box_diff_px']:.2f} px median, {a['max_box_diff_px']:.2f} px at most")
    return 0
