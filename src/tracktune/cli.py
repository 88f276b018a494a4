"""The `tracktune` command.

Each command lives in the module that owns its concept; that module defines
`add_arguments(parser)` and `main(args) -> int`. `COMMANDS` maps command names to those
modules. Command modules import torch and other heavy packages inside `main` only, so
`tracktune --help` stays fast.

Every error a user can cause ends as one line on stderr, `tracktune <command>: error: ...`,
with exit status 1 (a `TracktuneError`, or an OS error naming its file) or 2 (a command
line argparse rejects), and nothing else: no usage block, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from tracktune import __version__, progress
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


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (`tracktune train: error: ...`), no usage block;
    sub-commands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def command_name(args: argparse.Namespace) -> str:
    """`train`, or `data check` / `bench inference` for commands with actions."""
    parts = [args.command]
    for attribute in ("data_command", "bench_action", "vot_command", "format"):
        value = getattr(args, attribute, None)
        if isinstance(value, str):
            parts.append(value)
    return " ".join(parts)


_WORKER_TRACEBACK = "Original Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*: ")


def error_message(exc: BaseException) -> str:
    """The one-line text of a user error. An error raised in a data-loader worker comes back
    from torch as `Caught DataError in DataLoader worker process 0. Original Traceback ...
    tracktune.errors.DataError: <message>`: only `<message>` is kept, and where it happened."""
    text = str(exc)
    if _WORKER_TRACEBACK in text:
        lines = text.rstrip().splitlines()
        where = lines[0].rstrip(".")
        for index in range(len(lines) - 1, 0, -1):
            if _EXCEPTION_LINE.match(lines[index]) and not lines[index].startswith(" "):
                message = " ".join([_EXCEPTION_LINE.sub("", lines[index], count=1)] + lines[index + 1:])
                match = re.search(r"in (DataLoader worker process \d+)", where)
                return f"{message.strip()} (in {match.group(1)})" if match else message.strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def os_error_message(exc: OSError) -> str:
    """`PATH: reason` of an OS error (permission denied, no space left, is a directory ...)."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra:
        print(f"tracktune {command_name(args)}: error: unrecognized arguments: {' '.join(extra)}", file=sys.stderr)
        return 2
    previous = progress.set_default(progress.progress_mode(args))
    try:
        return int(args._module.main(args) or 0)
    except TracktuneError as exc:
        print(f"tracktune {command_name(args)}: error: {error_message(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the user gave that cannot be read or written (permissions, disk full)
        print(f"tracktune {command_name(args)}: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        progress.set_default(previous)


if __name__ == "__main__":
    sys.exit(main())
