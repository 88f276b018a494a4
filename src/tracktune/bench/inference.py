"""`tracktune bench inference CONFIG [--json]`: batch-1 tracking-step latency.

Measures, in one run so the ratios share the machine's conditions: the exported (LoRA
merged) model and the same model without its methods ("base"), each in fp32, in bf16 weights
(`model.inference.prepare_for_inference(model, "bf16")`: bf16 weights, oneDNN-prepacked
GEMMs with GELU fused, how the tracker runs on CPU; `_unpacked`: bf16 weights only) and under
bf16 autocast over fp32 weights (`--compile`: also the merged bf16 model under
`torch.compile`); plus the machine's dense matrix-multiply throughput (fp32 and bf16) on the
model's own MLP shape (tokens x C x 4C, repeated to about one step's FLOPs per call). All of
them are timed round-robin (one call each per round, after warm-up), so load from other
processes spreads over all of them alike; the figures are medians. Weights are random: latency does not
depend on their values (`model.pretrained` is not read).

`--json` prints `{"fps_fp32", "fps_bf16", "merged_over_base", "model_gflops_per_step",
"gemm_bf16_gflops", "model_bf16_gflops", ...}`: fps_bf16 is the merged model in bf16 weights,
merged_over_base the merged / base latency ratio in bf16 (median of per-round ratios) (the fp32 ratio is
`merged_over_base_fp32`), model_bf16_gflops = FLOPs per step x fps_bf16.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import time

from tracktune.cli_types import int_range


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable)")
    parser.add_argument("--rounds", type=int_range(1), default=15, help="timed calls per variant (default 15)")
    parser.add_argument("--warmup", type=int_range(0), default=3, help="untimed calls per variant first (default 3)")
    parser.add_argument("--threads", type=int_range(1), default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the merged bf16 model under torch.compile (inductor, frozen weights)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def gemm_call(m: int, k: int, n: int, dtype, repeats: int):
    """A callable running `repeats` (m, k) x (k, n) matmuls, and the FLOPs of one call."""
    import torch

    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)

    def call() -> None:
        for _ in range(repeats):
            torch.mm(a, b)

    return call, 2.0 * m * k * n * repeats


def build_variants(config):
    """(merged fp32 model, base fp32 model), both eval, same base weights."""
    import torch

    from tracktune.adapt import build_adapted_model
    from tracktune.model.tracker_model import TrackerModel

    torch.manual_seed(0)
    base = TrackerModel.from_config(config.model).eval()
    merged, methods = build_adapted_model(config, copy.deepcopy(base))
    for method in methods:
        merged = method.export(merged)
    return merged.eval(), base


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of the per-round latency ratio: the two variants run back to back in
    every round, so a load change between rounds cancels out of each ratio."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def run_benchmark(config, rounds: int = 15, warmup: int = 3, compile_model: bool = False) -> dict:
    import torch

    from tracktune.model.inference import prepare_for_inference
    from tracktune.model_stats import inference_flops, step_inputs

    config = dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=None))
    merged, base = build_variants(config)
    inputs = step_inputs(merged, 1)
    flops = inference_flops(config)
    models = {
        "merged_fp32": (merged, False),
        "base_fp32": (base, False),
        "merged_bf16": (prepare_for_inference(copy.deepcopy(merged), "bf16"), False),
        "base_bf16": (prepare_for_inference(copy.deepcopy(base), "bf16"), False),
        "merged_bf16_unpacked": (copy.deepcopy(merged).to(torch.bfloat16), False),
        "merged_bf16_autocast": (merged, True),
    }
    compile_seconds = None
    if compile_model:  # inductor with frozen weights (oneDNN prepacking, fused pointwise ops)
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        start = time.perf_counter()
        compiled = torch.compile(models["merged_bf16_unpacked"][0])
        with torch.inference_mode():
            compiled(**inputs)
        compile_seconds = time.perf_counter() - start
        models["merged_bf16_compiled"] = (compiled, False)

    def model_call(model, autocast: bool):
        def call() -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                model(**inputs)
        return call

    calls = {name: model_call(model, autocast) for name, (model, autocast) in models.items()}
    # the machine's matmul throughput on the model's MLP shape, timed in the same rounds (about
    # one step's FLOPs per call), so that load from other processes hits it as it hits the model
    tokens = merged.layout.template_len + merged.layout.search_len
    dim = merged.embed_dim
    gemm_flops = {}
    for name, dtype in (("gemm_bf16", torch.bfloat16), ("gemm_fp32", torch.float32)):
        repeats = max(1, round(flops / (2.0 * tokens * dim * 4 * dim)))
        calls[name], gemm_flops[name] = gemm_call(tokens, dim, 4 * dim, dtype, repeats)
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_index in range(rounds):
        order = list(calls) if round_index % 2 == 0 else list(reversed(calls))
        for name in order:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    gemm_bf16 = gemm_flops["gemm_bf16"] / median["gemm_bf16"] / 1e9
    fps_bf16 = 1.0 / median["merged_bf16"]
    result = {
        "fps_fp32": 1.0 / median["merged_fp32"],
        "fps_bf16": fps_bf16,
        "fps_bf16_autocast": 1.0 / median["merged_bf16_autocast"],
        "fps_bf16_unpacked": 1.0 / median["merged_bf16_unpacked"],
        "merged_over_base": paired_ratio(times["merged_bf16"], times["base_bf16"]),
        "merged_over_base_fp32": paired_ratio(times["merged_fp32"], times["base_fp32"]),
        "model_gflops_per_step": flops / 1e9,
        "gemm_bf16_gflops": gemm_bf16,
        "gemm_fp32_gflops": gemm_flops["gemm_fp32"] / median["gemm_fp32"] / 1e9,
        "model_bf16_gflops": flops / 1e9 * fps_bf16,
        "model_fp32_gflops": flops / 1e9 / median["merged_fp32"],
        "model_over_gemm_bf16": flops / 1e9 * fps_bf16 / gemm_bf16,
        "gemm_shape": [tokens, dim, 4 * dim],
        "latency_ms": {name: 1000 * value for name, value in median.items() if not name.startswith("gemm")},
        "threads": torch.get_num_threads(),
        "rounds": rounds,
    }
    if compile_model:
        result["fps_bf16_compiled"] = 1.0 / median["merged_bf16_compiled"]
        result["compile_seconds"] = compile_seconds
    return result


def main(args: argparse.Namespace) -> int:
    import torch

    from tracktune.config import load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config, args.overrides)
    result = run_benchmark(config, args.rounds, args.warmup, args.compile)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{config.name}: batch-1 tracking step, {result['threads']} threads, medians of {result['rounds']} rounds")
    for name, ms in result["latency_ms"].items():
        print(f"  {name:<22}{ms:9.1f} ms  {1000 / ms:7.2f} FPS")
    print(f"  merged / base latency: bf16 {result['merged_over_base']:.3f}, fp32 {result['merged_over_base_fp32']:.3f}")
    print(f"  model: {result['model_gflops_per_step']:.1f} GFLOPs per step -> bf16 {result['model_bf16_gflops']:.0f} "
          f"GFLOP/s, fp32 {result['model_fp32_gflops']:.0f} GFLOP/s")
    m, k, n = result["gemm_shape"]
    print(f"  machine GEMM ({m}x{k}x{n}, same rounds): bf16 {result['gemm_bf16_gflops']:.0f} GFLOP/s, "
          f"fp32 {result['gemm_fp32_gflops']:.0f} GFLOP/s; the bf16 model reaches "
          f"{100 * result['model_over_gemm_bf16']:.0f}% of bf16 GEMM")
    if "compile_seconds" in result:
        print(f"  torch.compile took {result['compile_seconds']:.0f} s")
    return 0

