"""Batch-1 tracking-step latency of a config's tracker (the issue's inference targets).

A thin wrapper over `tracktune bench inference` (src/tracktune/bench/inference.py, which
documents what is timed) with this project's measurement defaults: LoRAT-B-224 RGB+T, two
threads, 15 round-robin rounds. Targets (reported, not asserted): merged bf16 >= 12 FPS and
>= 40% of the bf16 GEMM throughput measured in the same run; merged / base latency <= 1.03.

    .venv/bin/python benchmarks/inference_latency.py
    .venv/bin/python benchmarks/inference_latency.py ostrack_b256_rgbt --json --compile
"""

from __future__ import annotations

import sys

from tracktune.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        args = ["lorat_b224_rgbt"] + args
    if "--threads" not in args:
        args += ["--threads", "2"]
    sys.exit(main(["bench", "inference"] + args))
