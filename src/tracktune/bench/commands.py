"""`tracktune bench ACTION`: speed benchmarks (reported, never asserted in tests).

Each action lives in its own module with `add_arguments(parser)` and `main(args)`; `ACTIONS`
maps action names to them (add `train` here when it exists).
"""

from __future__ import annotations

import argparse
import importlib

# action -> (module, one-line help)
ACTIONS: dict[str, tuple[str, str]] = {
    "inference": ("tracktune.bench.inference", "batch-1 tracking-step latency: merged vs base model, fp32 / bf16"),
    "track": ("tracktune.bench.track", "end-to-end tracking FPS beside model-only FPS and GEMM throughput, "
                                       "fp32 / bf16 / int8"),
    "accuracy": ("tracktune.bench.accuracy", "what a tracking precision costs: SR / PR per precision with the paired "
                                             "difference, and score-map agreement"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_action", metavar="ACTION", required=True)
    for name, (module_name, help_text) in ACTIONS.items():
        action = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(action)
        action.set_defaults(_bench_module=module)


def main(args: argparse.Namespace) -> int:
    return int(args._bench_module.main(args) or 0)
