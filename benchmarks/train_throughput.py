"""Training throughput: samples/s of the tiny demo config, and LoRAT-B-224 LoRA vs full
fine-tuning (step time and peak memory at the same batch).

What is timed: `Trainer.train_step` (forward, loss, backward, clipping, AdamW step, schedule,
the methods' hooks) on random uint8 crops with consistent labels, so the figures are the
model's and optimiser's cost, not the data pipeline's; variant `tiny_e2e` instead runs
`train()` on the tiny config with its data workers (the config's datasets when they load,
else in-memory moving-box RGB+T sequences) and times steps between `on_step` calls. Each variant runs in its own
subprocess so its peak memory is its own: on CPU the peak resident set (`ru_maxrss`, weights
included) and its growth over the resident set after building the model; on CUDA
`torch.cuda.max_memory_allocated`. Step time: the median over `--steps` steps after `--warmup`
(wall clock; on CPU also the process CPU time, steadier when other jobs share the cores).

Targets (issue 4, reported, not asserted): LoRA step time <= 0.6x and peak memory <= 0.6x of
full fine-tuning.

    .venv/bin/python benchmarks/train_throughput.py                      # CPU, batch 2, 2 threads
    .venv/bin/python benchmarks/train_throughput.py --device cuda --batch 32
    .venv/bin/python benchmarks/train_throughput.py --only lora,full --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    # name -> (config, methods override, description)
    "tiny": ("tiny_rgbt", None, "tiny demo config (methods as configured)"),
    "tiny_e2e": ("tiny_rgbt", None, "tiny demo config through `train()`, data pipeline included"),
    "lora": ("lorat_b224_rgbt", ["lora"], "LoRAT-B-224 RGB+T, LoRA"),
    "full": ("lorat_b224_rgbt", ["full"], "LoRAT-B-224 RGB+T, full fine-tuning"),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=None, help="LoRA / full batch (default 2 on CPU, 32 on CUDA)")
    parser.add_argument("--tiny-batch", type=int, default=None, help="tiny config batch (default: its train.batch_size)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--amp", default=None, choices=["none", "bf16", "fp16"], help="override train.amp")
    parser.add_argument("--only", default="tiny,tiny_e2e,lora,full", help="comma-separated variants")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def random_batch(model, batch_size: int, seed: int = 0) -> dict:
    """uint8 crops, boxes and masks shaped as `data.pairs` makes them (labels consistent with the boxes)."""
    import numpy as np
    import torch

    from tracktune.boxes import grid_center_mask, grid_touch_mask

    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    zs, xs = model.template_size, model.search_size
    centre = rng.uniform(0.4, 0.6, size=(batch_size, 2))
    size = rng.uniform(0.15, 0.3, size=(batch_size, 2))
    search_box = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)
    template_box = np.tile(np.array([0.25, 0.25, 0.75, 0.75], np.float32), (batch_size, 1))
    batch = {
        "template_rgb": torch.randint(0, 256, (batch_size, 3, zs, zs), dtype=torch.uint8, generator=generator),
        "search_rgb": torch.randint(0, 256, (batch_size, 3, xs, xs), dtype=torch.uint8, generator=generator),
        "template_box": torch.from_numpy(template_box),
        "search_box": torch.from_numpy(search_box),
        "template_mask": torch.from_numpy(np.stack([grid_touch_mask(b, *model.template_grid) for b in template_box])),
        "search_positive": torch.from_numpy(np.stack([grid_center_mask(b, *model.search_grid) for b in search_box])),
        "aux_valid": torch.ones(batch_size, dtype=torch.bool),
    }
    if model.fusion != "rgb":
        batch["template_aux"] = batch["template_rgb"].flip(1).contiguous()
        batch["search_aux"] = batch["search_rgb"].flip(1).contiguous()
    return batch


def moving_box_sources(count: int = 8, length: int = 60, size=(320, 240)):
    """In-memory RGB+T sequences (a box moving on a gradient; bright in thermal) when the
    config's datasets cannot be loaded here."""
    import numpy as np

    from tracktune.data.pairs import PairSource
    from tracktune.data.sequence import Sequence

    class MovingBox(Sequence):
        def __init__(self, name: str, seed: int) -> None:
            rng = np.random.default_rng(seed)
            w, h = size
            box = rng.uniform(20, 50, size=2)
            start, velocity = rng.uniform([10, 10], [w - 80, h - 80]), rng.uniform(-1.5, 1.5, size=2)
            boxes = [[*np.clip(start + velocity * i, 2, [w - box[0] - 2, h - box[1] - 2]), *box] for i in range(length)]
            frames = {m: [f"{name}/{m}/{i:04d}" for i in range(length)] for m in ("rgb", "thermal")}
            super().__init__(name, frames, np.array(boxes))
            xs, ys = np.linspace(0, 1, w)[None, :, None], np.linspace(0, 1, h)[:, None, None]
            self.background = np.concatenate([60 + 80 * xs + 0 * ys, 50 + 90 * ys + 0 * xs, 100 + 40 * xs * ys],
                                             axis=2).astype(np.uint8)

        def frame(self, index: int, modality: str = "rgb"):
            image = self.background.copy() if modality == "rgb" else np.full_like(self.background, 30)
            x, y, bw, bh = self.boxes[index].astype(int)
            image[y:y + bh, x:x + bw] = (200, 80, 40) if modality == "rgb" else 220
            return image

        raw_frame = frame

    return [PairSource("moving_box", [MovingBox(f"seq{i}", i) for i in range(count)])]


def run_end_to_end(args: argparse.Namespace, config, description: str) -> dict:
    """`train()` for warmup + steps steps; step times from the `on_step` timestamps."""
    import tempfile

    import torch

    from tracktune.errors import TracktuneError
    from tracktune.train.trainer import train

    try:
        from tracktune.data.pairs import sources_from_config

        sources, data_name = sources_from_config(config.data), "config datasets"
    except TracktuneError as exc:
        sources, data_name = moving_box_sources(), f"in-memory moving boxes ({exc})"
    config.train.epochs = 1
    config.train.checkpoint_every = 10**9
    config.data.samples_per_epoch = config.train.batch_size * (args.warmup + args.steps)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        train(config, Path(tmp) / "run", progress=False, sources=sources,
              on_step=lambda step, metrics: stamps.append(time.perf_counter()))
    times = [b - a for a, b in zip(stamps[args.warmup - 1:], stamps[args.warmup:])] if args.warmup else \
        [b - a for a, b in zip(stamps, stamps[1:])]
    step = statistics.median(times)
    return {"variant": args.worker, "description": description, "data": data_name, "device": args.device,
            "amp": config.train.amp, "threads": args.threads, "num_workers": config.data.num_workers,
            "batch": config.train.batch_size, "step_seconds": step, "step_seconds_all": times,
            "samples_per_s": config.train.batch_size / step, "trainable_params": None, "total_params": None,
            "peak_bytes": 0, "peak_growth_bytes": 0, "torch_threads": torch.get_num_threads()}


def run_worker(args: argparse.Namespace) -> dict:
    """One variant in this process: build, warm up, time; returns the figures."""
    import resource
    import tempfile

    import torch

    from tracktune.config import load_config
    from tracktune.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    config_path, methods, description = VARIANTS[args.worker]
    overrides = [f"train.device={args.device}"] + (["data.num_workers=0"] if args.worker != "tiny_e2e" else [])
    if methods is not None:
        overrides.append(f"methods={json.dumps(methods)}")
    if args.amp:
        overrides.append(f"train.amp={args.amp}")
    config = load_config(config_path, overrides)
    if args.worker == "tiny_e2e":
        config.train.batch_size = args.tiny_batch or config.train.batch_size
        return run_end_to_end(args, config, description)
    if args.worker == "tiny":
        batch_size = args.tiny_batch or config.train.batch_size
    else:
        batch_size = args.batch or (32 if args.device.startswith("cuda") else 2)
    config.train.batch_size = batch_size
    config.train.grad_accum = 1
    config.data.samples_per_epoch = max(config.data.samples_per_epoch, batch_size * (args.steps + args.warmup))
    cuda = args.device.startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, tmp, progress=False)
        trainer.build_model()
        model = trainer.model
        batch = random_batch(model, batch_size)
        rss_built = resident_bytes()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        allocated_built = torch.cuda.memory_allocated() if cuda else 0
        times, cpu_times = [], []
        for i in range(args.warmup + args.steps):
            start, cpu_start = time.perf_counter(), time.process_time()
            trainer.train_step(model, iter([batch]))
            if cuda:
                torch.cuda.synchronize()
            elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
            trainer.step += 1
            if i >= args.warmup:
                times.append(elapsed)
                cpu_times.append(cpu_elapsed)
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    step = statistics.median(times)
    result = {
        "variant": args.worker,
        "description": description,
        "config": config_path,
        "methods": config.methods,
        "device": args.device,
        "amp": config.train.amp,
        "threads": args.threads if not cuda else None,
        "batch": batch_size,
        "step_seconds": step,
        "step_seconds_all": times,
        "step_cpu_seconds": statistics.median(cpu_times),  # CPU time of all threads: steadier on a shared machine
        "samples_per_s": batch_size / step,
        "trainable_params": sum(p.numel() for p in trainer.trainable),
        "total_params": sum(p.numel() for p in model.parameters()),
    }
    if cuda:
        result["peak_bytes"] = torch.cuda.max_memory_allocated()
        result["peak_growth_bytes"] = result["peak_bytes"] - allocated_built
        result["gpu"] = torch.cuda.get_device_name()
    else:
        result["peak_bytes"] = peak_rss
        result["peak_growth_bytes"] = peak_rss - rss_built
    return result


def spawn(variant: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--device", args.device,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    for flag, value in (("--batch", args.batch), ("--tiny-batch", args.tiny_batch), ("--amp", args.amp)):
        if value is not None:
            command += [flag, str(value)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"variant {variant} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return 0
    variants = [v.strip() for v in args.only.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    results = {v: spawn(v, args) for v in variants}
    summary: dict = {"results": results}
    if "lora" in results and "full" in results:
        lora, full = results["lora"], results["full"]
        summary["lora_over_full"] = {
            "step_time": lora["step_seconds"] / full["step_seconds"],
            "step_cpu_time": lora["step_cpu_seconds"] / full["step_cpu_seconds"],
            "peak_memory": lora["peak_bytes"] / full["peak_bytes"],
            "peak_growth": lora["peak_growth_bytes"] / max(full["peak_growth_bytes"], 1),
            "targets": {"step_time": 0.6, "peak_memory": 0.6},
        }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    memory_kind = "peak allocated" if args.device.startswith("cuda") else "peak RSS"
    print(f"device {args.device}" + (f", {args.threads} threads" if not args.device.startswith("cuda") else ""))
    print(f"{'variant':<8}{'batch':>6}{'amp':>6}{'step s':>10}{'samples/s':>11}{'trainable':>12}"
          f"{memory_kind:>16}{'growth':>12}")
    for name, r in results.items():
        print(f"{name:<8}{r['batch']:>6}{r['amp']:>6}{r['step_seconds']:>10.3f}{r['samples_per_s']:>11.1f}"
              + (f"{r['trainable_params'] / 1e6:>11.2f}M{r['peak_bytes'] / 2**20:>14.0f}MB"
                 f"{r['peak_growth_bytes'] / 2**20:>10.0f}MB" if r["trainable_params"] else
                 f"   (data: {r['data'][:60]}, {r['num_workers']} workers)"))
    if "lora_over_full" in summary:
        ratio = summary["lora_over_full"]
        print(f"LoRA / full: step time {ratio['step_time']:.2f}x (target <= 0.6; CPU time "
              f"{ratio['step_cpu_time']:.2f}x), {memory_kind} "
              f"{ratio['peak_memory']:.2f}x (target <= 0.6), growth over the built model {ratio['peak_growth']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
