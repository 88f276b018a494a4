"""The benchmark table: for each benchmark, its loader, scoring protocol, result layout and splits.

The one place that says which dataset goes with which protocol and which result-file layout.
`tracktune run` (writing results), `tracktune evaluate` (reading ground truth and results),
`tracktune.data.benchmarks.loader` and the loaders' split lists all read it. It imports
nothing but the standard library: evaluation (which never imports torch) and data may both
import it, and a benchmark's loader module is named here, not imported.

Fields:
- `loader`: the module (under `tracktune.data.benchmarks`) whose `load(root, split)` lists
  the sequences and whose `load_ground_truth(root, split)` reads the ground truth alone.
- `protocol`: the name of the `tracktune.eval.protocols` protocol that scores it (None: no
  official protocol reproduced here).
- `result_layout`: the result-file layout its official toolkit reads (`tracktune.eval.results`:
  `plain` `<seq>.txt`, `got10k` `<seq>/<seq>_001.txt` + times, `vot` `<seq>/<seq>_001.txt` +
  confidences).
- `default_split`: the split `tracktune run` tracks when `--split` is not given.
- `eval_split`: the split `tracktune evaluate` reads from a dataset root when `--split` is not
  given (None: every split present; the benchmarks whose root holds train and test sequences
  side by side, told apart by list files, default to test).
- `split_lists`: split -> list file at the dataset root naming its sequences (empty when
  splits are folders), read by the loader and by `evaluate` when the loader is not installed.
- `modalities`: the modalities its frames come in (`rgb` first).

To add a benchmark: a loader module, then one `Benchmark` row here (docs/INTERFACES.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RESULT_LAYOUTS = ("plain", "got10k", "vot")


@dataclass(frozen=True)
class Benchmark:
    name: str
    loader: str
    protocol: str | None
    result_layout: str = "plain"
    default_split: str = "test"
    eval_split: str | None = None
    split_lists: dict[str, str] = field(default_factory=dict)
    modalities: tuple[str, ...] = ("rgb",)


_PACKAGE = "tracktune.data.benchmarks"

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("lasher", f"{_PACKAGE}.lasher", "lasher", eval_split="test",
              split_lists={"train": "trainingsetList.txt", "test": "testingsetList.txt"},
              modalities=("rgb", "thermal")),
    Benchmark("depthtrack", f"{_PACKAGE}.depthtrack", "vot_lt", result_layout="vot", modalities=("rgb", "depth")),
    Benchmark("visevent", f"{_PACKAGE}.visevent", "visevent", eval_split="test",
              split_lists={"train": "trainlist.txt", "test": "testlist.txt"}, modalities=("rgb", "event")),
    Benchmark("rgbt234", f"{_PACKAGE}.rgbt234", "rgbt234", modalities=("rgb", "thermal")),
    Benchmark("rgbt210", f"{_PACKAGE}.rgbt210", "rgbt210", modalities=("rgb", "thermal")),
    Benchmark("gtot", f"{_PACKAGE}.gtot", "gtot", modalities=("rgb", "thermal")),
    # a VOT short-term stack: scored by the multistart experiment (anchors), not long-term
    Benchmark("vot_rgbd2022", f"{_PACKAGE}.vot_rgbd", "vot_multistart", result_layout="vot", modalities=("rgb", "depth")),
    Benchmark("fe108", f"{_PACKAGE}.fe108", "fe108", eval_split="test", modalities=("rgb", "event")),
    Benchmark("coesot", f"{_PACKAGE}.coesot", None, modalities=("rgb", "event")),
    Benchmark("lasot", f"{_PACKAGE}.lasot", "lasot"),
    Benchmark("got10k", f"{_PACKAGE}.got10k", "got10k", result_layout="got10k"),
    Benchmark("trackingnet", f"{_PACKAGE}.trackingnet", "trackingnet"),
    Benchmark("otb", f"{_PACKAGE}.otb", "otb"),
    # generated on first use and read through the LasHeR / DepthTrack / VisEvent loader
    Benchmark("synthetic", f"{_PACKAGE}.synthetic", None, modalities=("rgb", "thermal", "depth", "event")),
)}


def scored_by(protocol: str) -> tuple[Benchmark, ...]:
    """The benchmarks `protocol` scores, in table order (empty for a protocol with none)."""
    return tuple(b for b in BENCHMARKS.values() if b.protocol == protocol)


def layout_for_protocol(protocol: str) -> str:
    """The result layout `protocol`'s toolkit reads: that of the benchmarks it scores
    (`plain` for a protocol that scores none of them)."""
    layouts = {b.result_layout for b in scored_by(protocol)}
    if len(layouts) > 1:  # guarded by a test over the table
        raise ValueError(f"benchmarks scored by {protocol} disagree on the result layout: {sorted(layouts)}")
    return layouts.pop() if layouts else "plain"
