"""`tracktune compare`: paired differences, bootstrap CIs and tests between result sets.

Each `--results` item is one of:
- `DIR`: a results folder in the benchmark's official layout (as `tracktune evaluate`
  reads it, or a TrackingNet .zip), one run of the method named by the folder;
- `NAME=DIR[,DIR...]`: the runs (seeds) of method NAME; a NAME given again adds runs;
- `FILE.json`: the output of `tracktune evaluate --json --per-sequence`: each of its
  trackers is one run of the method of that name (several files: several runs);
  `NAME=FILE.json` renames the file's only tracker.
Folders are scored with `--protocol` against `--gt`, read exactly as `evaluate` reads
them (`ground_truth.load_ground_truth`, `results.read_tracker_results`), so per-attribute
groups (e.g. the synthetic conditions) are the ones `evaluate` prints. The statistics
are `tracktune.eval.compare`'s (docs/compare.md). No torch here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tracktune.cli_types import float_range, int_range
from tracktune.errors import ConfigError, DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracktune.eval.compare import HIERARCHIES, TIE_TOLERANCE
    from tracktune.eval.protocols import PROTOCOLS

    parser.add_argument("--results", required=True, nargs="+", metavar="SPEC",
                        help="DIR (a method named by its folder), NAME=DIR[,DIR...] (runs / seeds of NAME), or an "
                             "`evaluate --json --per-sequence` FILE.json; at least 2 methods")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                        help="scoring protocol for result folders (a JSON file names its own)")
    parser.add_argument("--gt", type=Path, default=None, help="ground truth, as for `tracktune evaluate`")
    parser.add_argument("--sequences", type=Path, default=None, metavar="LIST", help="only the sequences listed")
    parser.add_argument("--split", default=None, help="dataset split when --gt is a dataset root")
    parser.add_argument("--baseline", default=None, metavar="NAME", help="the method the others are compared with "
                                                                          "(default: the first)")
    parser.add_argument("--metrics", default=None, help="comma-separated metrics (default: all of the protocol's)")
    parser.add_argument("--seed", type=int_range(0), default=0, help="seed of the bootstrap and Monte Carlo draws (default 0)")
    parser.add_argument("--resamples", type=int_range(1), default=10000, help="bootstrap resamples (default 10000)")
    parser.add_argument("--permutations", type=int_range(1), default=10000,
                        help="Monte Carlo sign patterns when there are more than 16 sequences (default 10000)")
    parser.add_argument("--confidence", type=float_range(0, 1, low_open=True, high_open=True), default=0.95, help="CI level (default 0.95)")
    parser.add_argument("--tie-tolerance", type=float_range(0), default=TIE_TOLERANCE,
                        help=f"a per-sequence |difference| up to this is a tie (fraction; default {TIE_TOLERANCE})")
    parser.add_argument("--hierarchy", choices=HIERARCHIES, default="crossed",
                        help="with several runs: resample runs once per replicate (crossed, default), per "
                             "resampled sequence (nested), or once for both sides when run i of every method "
                             "shares seed i's starting model (paired); docs/compare.md")
    parser.add_argument("--no-rescale-runs", dest="rescale_runs", action="store_false",
                        help="with several runs: draw them as they are, without widening their spread by "
                             "sqrt(R/(R-1)) (the bootstrap's run-level variance is then (R-1)/R of its unbiased "
                             "value; docs/compare.md)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="write a plot of the per-sequence differences (PNG, PDF, SVG)")


def parse_specs(specs: list[str]) -> list[tuple[str | None, list[Path]]]:
    """`--results` items -> [(name or None, [paths])]."""
    out = []
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if sep and name and not Path(spec).exists():
            paths = [Path(p) for p in rest.split(",") if p]
            if not paths:
                raise ConfigError(f"--results {spec}: no folder after '{name}='")
            out.append((name, paths))
        else:
            out.append((None, [Path(spec)]))
    return out


def _folder_name(path: Path) -> str:
    return path.resolve().stem if path.suffix.lower() == ".zip" else path.resolve().name


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"results file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("per_sequence"), dict):
        raise DataError(f"{path}: no per-sequence scores (write it with `tracktune evaluate --json --per-sequence`)")
    return data


def gather(args: argparse.Namespace):
    """-> (methods {name: [scores per run]}, sources {name: [run labels]}, attributes,
    protocol name)."""
    from tracktune.data.benchmarks.catalog import layout_for_protocol
    from tracktune.eval.compare import report_scores
    from tracktune.eval.ground_truth import load_ground_truth, read_list
    from tracktune.eval.protocols import get
    from tracktune.eval.report import evaluate
    from tracktune.eval.results import read_tracker_results

    methods: dict[str, list] = {}
    sources: dict[str, list[str]] = {}
    attributes: dict[str, list[str]] = {}
    protocol_name = args.protocol
    folders: list[tuple[str, Path]] = []
    plain_names: dict[str, Path] = {}
    for name, paths in parse_specs(args.results):
        for path in paths:
            if path.suffix.lower() == ".json":
                data = _read_json(path)
                if protocol_name is not None and data.get("protocol") not in (None, protocol_name):
                    raise DataError(f"{path}: scored under protocol {data.get('protocol')}, not {protocol_name}")
                protocol_name = data.get("protocol") or protocol_name
                per_seq = data["per_sequence"]
                if name is not None and len(per_seq) != 1:
                    raise ConfigError(f"--results {name}={path}: the file holds {len(per_seq)} trackers "
                                      f"({', '.join(per_seq)}); NAME= renames a file with one")
                for tracker, scores in per_seq.items():
                    method = name or tracker
                    methods.setdefault(method, []).append(scores)
                    sources.setdefault(method, []).append(f"{path} ({tracker})")
                for attr, names in (data.get("attributes") or {}).items():
                    merged = attributes.setdefault(attr, [])
                    merged.extend(n for n in names if n not in merged)
                continue
            method = name
            if method is None:
                method = _folder_name(path)
                if method in plain_names or method in methods:
                    raise ConfigError(f"two result sets are both named '{method}' ({plain_names.get(method, '')}, "
                                      f"{path}): name them, e.g. --results a={path} (NAME=DIR,DIR for runs of one method)")
                plain_names[method] = path
            folders.append((method, path))
            methods.setdefault(method, [])
            sources.setdefault(method, [])
    if folders:
        if protocol_name is None or args.gt is None:
            raise ConfigError("result folders are scored against ground truth: give --protocol and --gt")
        protocol = get(protocol_name)
        names = read_list(args.sequences) if args.sequences is not None else None
        sequences = load_ground_truth(args.gt, protocol.name, names, args.split)
        seq_names = [s.name for s in sequences]
        layout = layout_for_protocol(protocol.name)
        results = {}
        for i, (method, path) in enumerate(folders):
            results[str(i)], _ = read_tracker_results(path, seq_names, layout, confidences=protocol.kind == "longterm")
        report = evaluate(protocol, sequences, results)
        scores = report_scores(report)
        for i, (method, path) in enumerate(folders):
            methods[method].append(scores[str(i)])
            sources[method].append(str(path))
        for attr, members in report.attributes.items():
            merged = attributes.setdefault(attr, [])
            merged.extend(n for n in members if n not in merged)
    elif args.gt is not None:
        print("note: --gt is not used: every result set is a JSON file of scores", file=sys.stderr)
    return methods, sources, attributes, protocol_name


def main(args: argparse.Namespace) -> int:
    from tracktune.eval.compare import compare
    from tracktune.eval.protocols import PROTOCOLS

    methods, sources, attributes, protocol_name = gather(args)
    if len(methods) < 2:
        raise ConfigError(f"compare needs at least 2 result sets (methods), got {len(methods)}: "
                          f"{', '.join(f'{m} ({s[0]})' for m, s in sources.items()) or 'none'}")
    protocol = PROTOCOLS.get(protocol_name) if protocol_name else None
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else \
        (protocol.metric_names if protocol is not None else None)
    comparison = compare(methods, args.baseline, metrics=metrics, attributes=attributes, resamples=args.resamples,
                         seed=args.seed, confidence=args.confidence, permutations=args.permutations,
                         tie_tolerance=args.tie_tolerance, hierarchy=args.hierarchy,
                         rescale_runs=args.rescale_runs, protocol=protocol_name,
                         percent=True, sources=sources)
    print(comparison.to_json() if args.json else comparison.table())
    if args.plot is not None:
        path = comparison.plot(args.plot)
        print(f"wrote {path}", file=sys.stderr)
    return 0
