"""The `tracktune` command.

Each command lives in the module that owns its concept; that module defines
`add_arguments(parser)` and `main(args) -> int`. `COMMANDS` maps command names to those
modules. Command modules import torch and other heavy packages inside `main` only, so
`tracktune --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tracktune import __version__
from tracktune.errors import TracktuneError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("tracktune.data.commands", "synthesise, show and check datasets"),
    "model-info": ("tracktune.commands.model_info", "parameters by group (total, trainable) and GFLOPs of a config's model"),
    "bench": ("tracktune.bench.commands", "speed benchmarks: bench inference CONFIG"),
    "evaluate": ("tracktune.eval.commands", "score result folders under a benchmark's official protocol"),
    "compare": ("tracktune.eval.compare_command", "paired differences, bootstrap CIs and tests between trackers' result sets"),
    "train": ("tracktune.train.commands", "train a tracker: train CONFIG [--set k=v] [--resume RUN_DIR] [--out RUN_DIR]"),
    "run": ("tracktune.track.commands", "track a benchmark split and write official result files: run [CONFIG] --checkpoint CKPT --dataset NAME --out DIR"),
    "demo": ("tracktune.demo", "the end-to-end demo: pretrain an RGB tracker, adapt it to RGB-T, compare per condition"),
    "configs": ("tracktune.config_commands", "the configs shipped with tracktune, one line each (any command takes their names)"),
    "export": ("tracktune.export.commands", "deployment formats: export onnx --checkpoint RUN --out MODEL.onnx [--precision fp32|fp16|int8]"),
    "vot": ("tracktune.vot.commands", "the VOT toolkit drives tracktune: vot stack NAME --out DIR | vot workspace --checkpoint RUN --stack STACK DIR"),
    "study": ("tracktune.study", "the demo over N seeds: means, confidence intervals, significance, the methods' claims tested"),
    "track": ("tracktune.track.video", "track one target through a video or frame folder: track --checkpoint CKPT --rgb VIDEO --box x,y,w,h --out OUT.mp4"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracktune",
        description="Adapt RGB-pretrained ViT trackers to RGB+thermal / depth / event tracking.",
    )
    parser.add_argument("--version", action="version", version=f"tracktune {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._module.main(args) or 0)
    except TracktuneError as exc:
        print(f"tracktune {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
