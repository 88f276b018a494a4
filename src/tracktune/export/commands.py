"""`tracktune export onnx --checkpoint RUN --out MODEL.onnx [--precision fp32|fp16|int8] [--check]`.

Writes the run's merged inference model as ONNX (`tracktune.export.onnx`), then runs the file
with onnxruntime and PyTorch on the same random inputs and prints the largest difference per
output (`--tolerance T` makes a larger one an error). `--check` also measures frames per
second of onnxruntime and PyTorch in one run, alternating (`--rounds`, `--batch`); `--json`
prints everything as one JSON object. An existing MODEL.onnx is replaced only with `--force`.
"""

from __future__ import annotations

import argparse
import json

from tracktune.cli_types import float_range, int_range


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = sub.add_parser("onnx", help="ONNX for onnxruntime (and other ONNX runtimes)",
                          description=__doc__.split("\n\n")[0])
    onnx.add_argument("--checkpoint", required=True, metavar="RUN", help="run directory or checkpoint directory")
    onnx.add_argument("--out", required=True, metavar="MODEL.onnx", help="the file to write")
    onnx.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"),
                      help="fp32 (default); fp16 (GPU runtimes); int8 (dynamically quantised weights, CPU)")
    onnx.add_argument("--opset", type=int_range(7), default=None, help="ONNX opset (default 18)")
    onnx.add_argument("--check", action="store_true",
                      help="also measure frames/s of onnxruntime vs PyTorch on this machine, in one run")
    onnx.add_argument("--batch", type=int_range(1), default=1, help="batch of the speed check (default 1)")
    onnx.add_argument("--rounds", type=int_range(1), default=20, help="timed rounds of the speed check (default 20)")
    onnx.add_argument("--threads", type=int_range(1), default=None,
                      help="CPU threads of both runtimes in the check (default torch's; a loaded machine measures "
                           "fairer with 1)")
    onnx.add_argument("--tolerance", type=float_range(0), default=None,
                      help="fail when an output differs from PyTorch's by more than this")
    onnx.add_argument("--force", action="store_true", help="replace an existing MODEL.onnx")
    onnx.add_argument("--json", action="store_true", help="print the report as JSON")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from tracktune.errors import ConfigError
    from tracktune.export.onnx import OPSET, compare, export_onnx, frames_per_second, session
    from tracktune.runs import load_tracker_model

    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"--out {out} exists; pass --force to replace it")
    if args.batch < 1 or args.rounds < 1:
        raise ConfigError("--batch and --rounds must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    model = load_tracker_model(args.checkpoint, device="cpu")
    export_onnx(model, out, args.precision, opset=args.opset or OPSET, source=str(args.checkpoint))
    sess = session(out)
    report = {"onnx": str(out), "checkpoint": str(args.checkpoint), "precision": args.precision,
              "opset": args.opset or OPSET, "size_mb": round(out.stat().st_size / 2**20, 2),
              "inputs": [i.name for i in sess.get_inputs()], "outputs": [o.name for o in sess.get_outputs()],
              "difference": compare(model, out, sess=sess)}
    if args.check:
        report["threads"] = torch.get_num_threads()
        report["batch"] = args.batch
        report["frames_per_s"] = frames_per_second(model, sess, batch=args.batch, rounds=args.rounds)
    worst = max(d["max_abs_diff"] for d in report["difference"].values())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"wrote {out} ({report['size_mb']} MB, {args.precision}, opset {report['opset']}); "
              f"inputs {', '.join(report['inputs'])} -> outputs {', '.join(report['outputs'])}")
        for name, diff in report["difference"].items():
            print(f"  onnxruntime vs PyTorch, {name}: largest difference {diff['max_abs_diff']:.3g} "
                  f"(values up to {diff['max_abs']:.3g})")
        if args.check:
            fps = report["frames_per_s"]
            print(f"  frames/s (batch {args.batch}, {report['threads']} threads, one run, alternating): "
                  f"onnxruntime {fps['onnxruntime']}, PyTorch fp32 {fps['pytorch_fp32']}, "
                  f"PyTorch bf16 autocast {fps['pytorch_bf16']}")
    if args.tolerance is not None and worst > args.tolerance:
        raise ConfigError(f"{out}: onnxruntime differs from PyTorch by {worst:.3g} > --tolerance {args.tolerance}")
    return 0
