"""`tracktune evaluate`: score result folders against ground truth under a named protocol.

`--gt` is a folder of `<seq>.txt` files, a toolkit's ground-truth-only tree, or a dataset
root (`tracktune.eval.ground_truth` says which layouts are read and how). Each `--results`
folder is one tracker, named by the folder; its files are read in the layout of the
protocol's benchmarks (`tracktune.data.benchmarks.catalog`). No torch here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracktune.errors import DataError
from tracktune.eval.protocols import PROTOCOLS, get


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", required=True, help=f"scoring protocol: {', '.join(sorted(PROTOCOLS))} "
                        "(docs/benchmarks.md; each one's describe() states its conventions)")
    parser.add_argument("--toolkit-version", default=None, metavar="V",
                        help="vot-toolkit release whose conventions apply where releases differ "
                        "(vot_lt: 0.5, the default, or 0.9)")
    parser.add_argument("--gt", required=True, type=Path, help="dataset root, or a folder of <seq>.txt ground truths")
    parser.add_argument("--results", required=True, nargs="+", type=Path, metavar="DIR",
                        help="one folder (or TrackingNet .zip) per tracker, named by the folder (vot_multistart: "
                        "vot-toolkit's <tracker>/ or <tracker>/baseline/ folder)")
    parser.add_argument("--sequences", type=Path, default=None, metavar="LIST",
                        help="text file listing the sequences to score (one name per line)")
    parser.add_argument("--split", default=None, help="dataset split when --gt is a dataset root (default: the benchmark's eval_split in tracktune.data.benchmarks.catalog; lasher/visevent: test)")
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object {"protocol", "sequences", "trackers"} instead of a table')
    parser.add_argument("--per-sequence", action="store_true",
                        help='with --json: add "per_sequence" scores and "attributes" (what `tracktune compare` reads)')
    parser.add_argument("--plots", type=Path, default=None, metavar="OUTDIR",
                        help="write success / precision plots (and per-attribute ones) here")


def main(args: argparse.Namespace) -> int:
    # the command boundary: scoring, plotting and file reading load here, so `tracktune --help` stays fast
    from tracktune.data.benchmarks.catalog import layout_for_protocol
    from tracktune.eval.ground_truth import load_ground_truth, read_list
    from tracktune.eval.multistart import read_tracker_runs
    from tracktune.eval.report import evaluate, plot_curves
    from tracktune.eval.results import read_tracker_results

    protocol = get(args.protocol, args.toolkit_version)
    if args.plots is not None and args.plots.exists() and not args.plots.is_dir():
        raise DataError(f"--plots {args.plots}: is a file; expected a folder for the plots")
    names = read_list(args.sequences) if args.sequences is not None else None
    sequences = load_ground_truth(args.gt, protocol.name, names, args.split)
    seq_names = [s.name for s in sequences]
    layout = layout_for_protocol(protocol.name)
    results, notes = {}, {}
    for folder in args.results:
        name = folder.resolve().stem if folder.suffix.lower() == ".zip" else folder.resolve().name
        if protocol.kind == "multistart" and name == "baseline":  # the toolkit's experiment folder
            name = folder.resolve().parent.name
        if name in results:
            raise DataError(f"two results folders are both named '{name}': trackers are named by their folder")
        if protocol.kind == "multistart":
            results[name], notes[name] = read_tracker_runs(folder, sequences), []
            continue
        results[name], notes[name] = read_tracker_results(folder, seq_names, layout, confidences=protocol.kind == "longterm")
    report = evaluate(protocol, sequences, results, notes)
    if args.json:
        print(report.to_json(per_sequence=args.per_sequence))
        for note in report.all_notes():  # stdout stays one JSON object
            print(f"note: {note}", file=sys.stderr)
    else:
        print(report.table())
    if args.plots is not None:
        written = plot_curves(report, args.plots)
        print(f"protocol {protocol.name}: wrote {len(written)} plot(s) to {args.plots}", file=sys.stderr)
    return 0
