"""Time `tracktune evaluate`'s parts on the golden LasHeR set (245 sequences, one tracker).

Usage: .venv/bin/python benchmarks/eval_speed.py [--repeats 5]
Reports reading (GT + results files), scoring in memory, the two together, and the whole
`tracktune evaluate --json` command (a fresh process: imports included), the command also
as CPU time (user + system, what it costs when the machine is shared); target: scoring 245
LasHeR sequences for one tracker in under 1 s in a new process. Needs ../shared/golden/lasher.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / ".." / "shared" / "golden" / "lasher"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not GOLDEN.is_dir():
        print(f"golden LasHeR data not found at {GOLDEN}", file=sys.stderr)
        return 1
    from tracktune.eval.commands import load_ground_truth
    from tracktune.eval.report import evaluate
    from tracktune.eval.results import read_tracker_results

    names = [n.strip() for n in (GOLDEN / "testingsetList.txt").read_text().splitlines() if n.strip()]
    read_times, score_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sequences = load_ground_truth(GOLDEN / "gt", "lasher", names)
        results, notes = read_tracker_results(GOLDEN / "results" / "APFNet", names)
        t1 = time.perf_counter()
        report = evaluate("lasher", sequences, {"APFNet": results}, {"APFNet": notes})
        t2 = time.perf_counter()
        read_times.append(t1 - t0)
        score_times.append(t2 - t1)
    frames = sum(len(s.boxes) for s in sequences)
    m = report.trackers["APFNet"].metrics
    print(f"{len(sequences)} sequences, {frames} frames; PR {m['PR']:.4f} NPR {m['NPR']:.4f} SR {m['SR']:.4f}")
    print(f"read GT + results: best {min(read_times):.3f} s, median {sorted(read_times)[len(read_times) // 2]:.3f} s")
    print(f"score (in memory): best {min(score_times):.3f} s, median {sorted(score_times)[len(score_times) // 2]:.3f} s")
    total = [a + b for a, b in zip(read_times, score_times)]
    print(f"read + score:      best {min(total):.3f} s, median {sorted(total)[len(total) // 2]:.3f} s")
    command = [str(Path(sys.executable).parent / "tracktune"), "evaluate", "--protocol", "lasher", "--gt", str(GOLDEN / "gt"),
               "--results", str(GOLDEN / "results" / "APFNet"), "--sequences", str(GOLDEN / "testingsetList.txt"), "--json"]
    import resource

    cli_times, cpu_times = [], []
    for _ in range(args.repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cli_times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"tracktune evaluate (new process): best {min(cli_times):.3f} s wall, median "
          f"{sorted(cli_times)[len(cli_times) // 2]:.3f} s; CPU best {min(cpu_times):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
