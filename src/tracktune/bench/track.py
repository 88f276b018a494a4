"""`tracktune bench track CONFIG_OR_RUN [--precision P ...] [--batch N] [--json]`: end-to-end
tracking speed beside the model-only speed and the machine's GEMM throughput, in one run.

CONFIG_OR_RUN is an experiment YAML (random weights: speed does not depend on their values;
`model.pretrained` is not read) or a run / checkpoint directory (`runs.load_tracker_model`).
A synthetic RGB+aux sequence (`data.synthetic`, LasHeR-sized 640x480 JPEG frames written to a
temporary folder) is tracked from its first-frame box by `BatchedRunner`, `--batch` copies in
lockstep, for each precision (default fp32, bf16, int8): everything the tracker does per frame
(JPEG decode of both modalities, crops, the forward pass of the prepared model, decoding the
score map) is in the end-to-end time. In the same rounds, one variant per precision times the
prepared model alone on fixed inputs of that batch (model-only), one times the frame decode
alone, and one per precision times a GEMM of the model's MLP shape in that precision (tokens x C
x 4C, about one step's FLOPs per call: `torch.mm` for fp32 / bf16, oneDNN's `qlinear_pointwise`
on pre-quantised inputs for int8, the kernel `Int8Linear` calls). Variants run round-robin (one
pass each per round, order reversed every other round) after one warm-up pass, so load from
other processes spreads over all of them; figures are medians over rounds, ratios medians of
per-round ratios.

`--json` prints `{"config", "batch", "frames", "threads", "rounds", "decode_ms_per_frame",
"precisions": {P: {"fps_end_to_end", "fps_model", "end_to_end_over_model", "gemm_gops",
"model_gops", ...}}, "speedup_end_to_end": {"int8_over_bf16", ...}}`. Frames per second count
the tracked frames (frames 2..N of every sequence, one forward pass per step); the end-to-end
time also holds the first frame's decode and template crop.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from tracktune.cli_types import int_range

PRECISION_CHOICES = ("fp32", "bf16", "fp16", "int8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG_OR_RUN", help="experiment YAML, or a run / checkpoint directory")
    parser.add_argument("--precision", action="append", choices=PRECISION_CHOICES, default=None,
                        help="precision to time (repeatable; default fp32, bf16 and int8 where available, "
                             "less those this CPU emulates or runs without their fast kernels)")
    parser.add_argument("--batch", type=int_range(1), default=1, metavar="N", help="sequences tracked in lockstep (default 1)")
    parser.add_argument("--frames", type=int_range(1), default=20, help="frames of the synthetic sequence (default 20)")
    parser.add_argument("--rounds", type=int_range(1), default=5, help="timed passes per variant (default 5)")
    parser.add_argument("--size", default="640x480", metavar="WxH", help="frame size (default 640x480)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable; with a YAML config)")
    parser.add_argument("--threads", type=int_range(1), default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def build_model(source: str, overrides):
    """(fp32 inference model, its config) from a YAML (random weights, methods exported) or a run."""
    from tracktune.bench.inference import build_variants
    from tracktune.config import load_config
    from tracktune.runs import load_tracker_model

    if Path(source).is_dir():
        model = load_tracker_model(source)
        return model, model.config
    config = load_config(source, overrides)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=None))
    merged, _ = build_variants(config)
    return merged, config


def synthetic_sequences(folder: Path, frames: int, batch: int, size: tuple[int, int]):
    """`batch` copies (distinct names, same files) of one rendered synthetic RGB + thermal
    sequence written as LasHeR-style JPEGs under `folder` (any model's aux input is 3-channel,
    so a thermal image stands in for depth or events as far as speed goes)."""
    from tracktune.data.sequence import Sequence
    from tracktune.data.synthetic import CONDITIONS, plan, render, write_lasher

    spec = plan(1, frames, seed=0, size=size, conditions=[CONDITIONS[0]], splits=(1, 0), modality="thermal")[0]
    rendered = render(spec)
    write_lasher(folder, rendered)
    root = folder / spec.name
    rgb, infrared = sorted((root / "visible").glob("*.jpg")), sorted((root / "infrared").glob("*.jpg"))
    boxes = rendered.boxes.copy()
    return [Sequence(f"{spec.name}_{i}", {"rgb": rgb, "thermal": infrared}, boxes) for i in range(batch)]


def gemm_call(precision: str, m: int, k: int, n: int, repeats: int):
    """A callable running `repeats` (m, k) x (k, n) products in `precision`, and its op count."""
    import torch

    if precision == "int8":
        from tracktune.model.inference import Int8Linear, quantize_activation_eager

        linear = Int8Linear(torch.randn(n, k) * 0.02, torch.zeros(n), m)
        rows, scale, zero_point = quantize_activation_eager(torch.randn(m, k))

        def call() -> None:
            for _ in range(repeats):
                torch.ops.onednn.qlinear_pointwise.tensor(
                    rows, scale, zero_point, linear.packed_weight, linear.weight_scale, linear.weight_zero_point,
                    linear.bias, 1.0, 0, torch.bfloat16, "none", [None], "")
    else:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)

        def call() -> None:
            for _ in range(repeats):
                torch.mm(a, b)

    return call, 2.0 * m * k * n * repeats


def default_precisions() -> list[str]:
    from tracktune.model.inference import int8_available

    return ["fp32", "bf16"] + (["int8"] if int8_available() else [])


def available_precisions(requested) -> list[str]:
    """The precisions asked for, else `default_precisions` less those this CPU runs far below
    fp32's speed (`precision.slow_cpu_precision`: int8 without VNNI ran at 0.3 % of fp32's frame
    rate on an AVX2-only CPU); asked for by name they still run."""
    from tracktune.precision import slow_cpu_precision

    if requested:
        return list(dict.fromkeys(requested))
    return [p for p in default_precisions() if slow_cpu_precision(p) is None]


def run_benchmark(model, config, precisions, batch: int = 1, frames: int = 20, rounds: int = 5,
                  size=(640, 480)) -> dict:
    import torch

    from tracktune.model_stats import inference_flops, step_inputs
    from tracktune.precision import cpu_has_fast_bf16
    from tracktune.track.runner import BatchedRunner

    if batch < 1 or frames < 2 or rounds < 1:
        raise ValueError(f"need batch >= 1, frames >= 2, rounds >= 1 (got {batch}, {frames}, {rounds})")
    flops = inference_flops(config)
    tokens = model.layout.template_len + model.layout.search_len
    dim = model.embed_dim
    with tempfile.TemporaryDirectory(prefix="tracktune-bench-") as tmp:
        sequences = synthetic_sequences(Path(tmp), frames, batch, size)
        runners = {p: BatchedRunner(model, dataclasses.replace(config.track, precision=p), batch_size=batch,
                                    progress=False) for p in precisions}
        inputs = step_inputs(model, batch)
        calls = {}
        for p, runner in runners.items():
            calls[f"end_to_end_{p}"] = lambda runner=runner: runner.run(sequences)

            def model_call(net=runner.core.net) -> None:
                with torch.inference_mode():
                    for _ in range(frames - 1):  # the steps that run the model (frame 0 only crops)
                        net(**inputs)
            calls[f"model_{p}"] = model_call
        first = sequences[0]
        aux = [m for m in first.frames if m != "rgb"]

        def decode() -> None:
            for sequence in sequences:
                for t in range(len(first)):
                    sequence.frame(t, "rgb")
                    for m in aux:
                        sequence.frame(t, m)
        calls["decode"] = decode
        gemm_ops = {}
        for p in precisions:
            repeats = max(1, round(flops * batch / (2.0 * tokens * dim * 4 * dim)))
            calls[f"gemm_{p}"], gemm_ops[p] = gemm_call(p, tokens * batch, dim, 4 * dim, repeats)
        for call in calls.values():  # warm-up: one pass each
            call()
        times: dict[str, list[float]] = {name: [] for name in calls}
        for index in range(rounds):
            for name in (list(calls) if index % 2 == 0 else list(reversed(calls))):
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
    total_frames = (frames - 1) * batch  # tracked frames: the first frame only initialises
    median = {name: statistics.median(values) for name, values in times.items()}
    out = {"config": config.name, "batch": batch, "frames": frames, "size": list(size), "rounds": rounds,
           "threads": torch.get_num_threads(), "native_bf16": cpu_has_fast_bf16(), "model_gflops_per_step": flops / 1e9,
           "gemm_shape": [tokens * batch, dim, 4 * dim],
           "decode_ms_per_frame": 1000 * median["decode"] / (frames * batch), "precisions": {}}
    for p in precisions:
        e2e = total_frames / median[f"end_to_end_{p}"]
        model_fps = total_frames / median[f"model_{p}"]
        gemm = gemm_ops[p] / median[f"gemm_{p}"] / 1e9
        out["precisions"][p] = {
            "fps_end_to_end": e2e, "fps_model": model_fps,
            "end_to_end_over_model": statistics.median(m / e for m, e in zip(times[f"model_{p}"],
                                                                                times[f"end_to_end_{p}"])),
            "ms_per_frame_end_to_end": 1000 / e2e, "ms_per_frame_model": 1000 / model_fps,
            "gemm_gops": gemm, "model_gops": flops / 1e9 * model_fps, "model_over_gemm": flops / 1e9 * model_fps / gemm,
        }
    speedups = {}
    for a in precisions:
        for b in precisions:
            if a != b and (a, b) in (("int8", "bf16"), ("bf16", "fp32"), ("int8", "fp32"), ("fp16", "fp32")):
                speedups[f"{a}_over_{b}"] = statistics.median(
                    tb / ta for ta, tb in zip(times[f"end_to_end_{a}"], times[f"end_to_end_{b}"]))
    out["speedup_end_to_end"] = speedups
    return out


def main(args: argparse.Namespace) -> int:
    import torch

    from tracktune.errors import ConfigError
    from tracktune.precision import slow_cpu_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size '{args.size}': expected WxH, e.g. 640x480") from None
    model, config = build_model(args.config, args.overrides)
    precisions = available_precisions(args.precision)
    skipped = [] if args.precision else [p for p in default_precisions() if p not in precisions]
    result = run_benchmark(model, config, precisions, args.batch, args.frames, args.rounds, (width, height))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['config']}: tracking {args.batch} x {args.frames} synthetic {width}x{height} frames, "
          f"{result['threads']} threads, medians of {result['rounds']} round-robin rounds "
          f"({result['model_gflops_per_step']:.1f} GFLOPs per step)")
    print(f"  frame decode alone: {result['decode_ms_per_frame']:.1f} ms per frame (RGB + aux JPEG)")
    m, k, n = result["gemm_shape"]
    print(f"  {'precision':<10}{'end-to-end':>14}{'model only':>14}{'e2e/model':>11}{'GEMM ' + f'{m}x{k}x{n}':>22}"
          f"{'model':>12}")
    for p, r in result["precisions"].items():
        print(f"  {p:<10}{r['fps_end_to_end']:10.2f} FPS{r['fps_model']:10.2f} FPS{100 * r['end_to_end_over_model']:10.0f}%"
              f"{r['gemm_gops']:14.0f} GOP/s{r['model_gops']:8.0f} GOP/s")
    for name, value in result["speedup_end_to_end"].items():
        print(f"  end-to-end {name.replace('_over_', ' / ')}: {value:.2f}x")
    for p in list(result["precisions"]) + skipped:
        slow = slow_cpu_precision(p)
        if slow is not None:
            print(f"  note: {slow}; track.precision auto tracks in fp32 here"
                  + (f" ({p} left out; --precision {p} measures it)" if p in skipped else ""))
    return 0
