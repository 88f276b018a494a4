"""SRFT cost: prior factors (K-FAC over N batches + eigendecompositions) and per-step overhead.

Measures, for a config (default the shipped `srft_b256_rgbt`: dual-branch OSTrack ViT-B/16,
128/256 crops):

1. Prior: forward/backward of the RGB model with the K-FAC hooks on `--batches` batches of
   `--prior-batch-size` random crops (bf16 autocast as the config), timed per batch, then the
   eigendecompositions; the time for N = `--total-batches` (200) is extrapolated linearly
   from the measured batches (the eigendecompositions do not depend on N). Weights are random
   unless the config names a pretrained file: the cost does not depend on the values, but the
   ranks kept at 99% energy (and so the per-step cost) do.
2. Per step: plain full fine-tuning (forward, backward, AdamW step) of the dual-branch model
   against the same step plus SRFT's `after_step` (transfer + decoupled prior), on
   `--step-batch-size` samples; `after_step` does not depend on the batch size, so the
   overhead at the config's batch size is extrapolated as well (printed beside the measured).

    .venv/bin/python benchmarks/srft_prior_cost.py --batches 6 --steps 3
    .venv/bin/python benchmarks/srft_prior_cost.py --config tiny_srft --batches 20 --steps 10 \
        --step-batch-size 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def random_batch(model, batch_size: int, generator, aux: bool):
    import torch

    from tracktune.boxes import grid_center_mask, grid_touch_mask

    def images(size):
        return torch.randint(0, 256, (batch_size, 3, size, size), generator=generator, dtype=torch.uint8)

    centre = 0.3 + 0.4 * torch.rand(batch_size, 2, generator=generator)
    half = 0.1 + 0.15 * torch.rand(batch_size, 2, generator=generator)
    template_box = torch.cat([0.5 - half / 2, 0.5 + half / 2], 1).clamp(0, 1)
    search_box = torch.cat([centre - half / 2, centre + half / 2], 1).clamp(0, 1)
    batch = {
        "template_rgb": images(model.template_size), "search_rgb": images(model.search_size),
        "template_box": template_box, "search_box": search_box,
        "template_mask": grid_touch_mask(template_box, *model.template_grid),
        "search_positive": grid_center_mask(search_box, *model.search_grid),
    }
    if aux:
        batch["template_aux"], batch["search_aux"] = images(model.template_size), images(model.search_size)
        batch["aux_valid"] = torch.ones(batch_size, dtype=torch.bool)
    return batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="srft_b256_rgbt")
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    parser.add_argument("--batches", type=int, default=6, help="prior batches actually run")
    parser.add_argument("--total-batches", type=int, default=None, help="N to extrapolate to (srft.n_batches)")
    parser.add_argument("--prior-batch-size", type=int, default=None, help="(srft.prior_batch_size)")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per variant (after 1 warm-up); 0: the prior only")
    parser.add_argument("--step-batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import torch

    from tracktune.adapt.srft import SRFTMethod, attach_prior, collect_prior_factors
    from tracktune.config import load_config
    from tracktune.model import build_model
    from tracktune.model.pretrained import save_model_weights

    torch.set_num_threads(args.threads)
    config = load_config(args.config, args.set)
    settings = config.srft
    total = args.total_batches or settings.n_batches
    prior_bs = args.prior_batch_size or settings.prior_batch_size
    amp = config.train.amp
    loss_of = tracking_loss(config)
    generator = torch.Generator().manual_seed(0)
    figures: dict = {"config": args.config, "overrides": args.set, "threads": args.threads, "amp": amp,
                     "torch": torch.__version__}

    # ---- 1. prior ------------------------------------------------------------------------
    import dataclasses

    rgb_config = dataclasses.replace(config, model=dataclasses.replace(config.model, fusion="rgb"))
    torch.manual_seed(0)
    reference = build_model(rgb_config)
    batches = [random_batch(reference, prior_bs, generator, aux=False) for _ in range(args.batches)]
    stamps = []
    start = time.perf_counter()
    factors = collect_prior_factors(reference, batches, loss_of, settings.mode, amp,
                                    progress=lambda i: stamps.append(time.perf_counter()))
    total_seconds = time.perf_counter() - start
    per_batch = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    steady = statistics.median(per_batch[1:] if len(per_batch) > 1 else per_batch)
    eig_seconds = total_seconds - (stamps[-1] - start)
    estimate = steady * total + eig_seconds
    figures["prior"] = {
        "batches_run": args.batches, "batch_size": prior_bs, "seconds_per_batch": per_batch,
        "median_seconds_per_batch": steady, "eigendecomposition_seconds": eig_seconds,
        "estimated_seconds_for_N": estimate, "N": total,
        "linear_layers": len(factors.output_eigs), "diagonal_tensors": len(factors.diagonal),
    }
    print(f"prior: {args.batches} batches of {prior_bs} ({amp}): median {steady:.2f} s/batch, "
          f"eigendecompositions {eig_seconds:.1f} s -> estimated {estimate / 60:.1f} min for N={total}", flush=True)

    if args.steps <= 0:  # prior only
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return 0

    # ---- 2. per-step overhead --------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_model_weights(reference, Path(tmp) / "rgb.safetensors")
        adapted_config = dataclasses.replace(config, model=dataclasses.replace(
            config.model, pretrained=str(weights), pretrained_format="tracktune"))
        model = build_model(adapted_config)
    for p in model.parameters():
        p.requires_grad_(True)
    method = SRFTMethod(adapted_config)
    method.linear_targets, method.diagonal_targets = attach_prior(model, reference, factors, settings.energy)
    method.previous = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    ranks = [tuple(t.prior.significance.shape) for t in method.linear_targets]
    full = [(t.prior.output_basis.shape[0], t.prior.input_basis.shape[0]) for t in method.linear_targets]
    kept = sum(a * b for a, b in ranks) / max(1, sum(a * b for a, b in full))
    figures["prior"]["steep_fraction_of_weights"] = kept
    print(f"prior attached to {len(method.linear_targets)} Linear layers and {len(method.diagonal_targets)} other "
          f"tensors; steep block = {100 * kept:.1f}% of the Linear weights at energy {settings.energy}")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.train.lr)
    device_type = "cpu"
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    step_batch = random_batch(model, args.step_batch_size, generator, aux=True)

    def train_step():
        with torch.autocast(device_type, dtype=autocast, enabled=autocast is not None):
            loss = loss_of(model, step_batch)
        loss.float().backward()
        optimizer.step()

    plain, after = [], []
    for i in range(args.steps + 1):
        t0 = time.perf_counter()
        train_step()
        t1 = time.perf_counter()
        method.after_step(model, 0.5)
        t2 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first is warm-up
            plain.append(t1 - t0)
            after.append(t2 - t1)
    step, extra = statistics.median(plain), statistics.median(after)
    scale = config.train.batch_size / args.step_batch_size
    figures["step"] = {
        "batch_size": args.step_batch_size, "plain_seconds": plain, "after_step_seconds": after,
        "ratio_measured": (step + extra) / step,
        "config_batch_size": config.train.batch_size,
        "ratio_extrapolated_to_config_batch": (step * scale + extra) / (step * scale),
    }
    print(f"step (batch {args.step_batch_size}): full FT {step:.2f} s, SRFT after_step {extra:.2f} s -> "
          f"{(step + extra) / step:.2f}x; extrapolated to batch {config.train.batch_size}: "
          f"{(step * scale + extra) / (step * scale):.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def tracking_loss(config):
    """loss(model, batch) -> the batch-mean tracking loss (the trainer's)."""
    from tracktune.adapt.srft import tracking_loss_fn

    return tracking_loss_fn(config)


if __name__ == "__main__":
    sys.exit(main())
