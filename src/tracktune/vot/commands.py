"""`tracktune vot workspace | stack | serve`: the VOT toolkit drives tracktune trackers.

    tracktune vot stack synthetic --modality depth --split test --out stacks/synthetic-rgbd
    tracktune vot workspace --checkpoint runs/my_rgbd --stack stacks/synthetic-rgbd vot-ws
    cd vot-ws && vot evaluate tracktune_my_rgbd && vot analysis tracktune_my_rgbd
    tracktune evaluate --protocol vot_lt --gt stacks/synthetic-rgbd/sequences \\
        --results vot-ws/results/tracktune_my_rgbd/baseline

`serve` is what `trackers.ini` starts (the TraX server); users rarely call it themselves.
"""

from __future__ import annotations

import argparse

from tracktune.cli_types import int_range


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tracktune.vot import server

    sub = parser.add_subparsers(dest="vot_command", metavar="SUBCOMMAND", required=True)

    ws = sub.add_parser("workspace", help="write a VOT workspace (config.yaml, trackers.ini) for a checkpoint",
                        description="Write a VOT toolkit workspace whose trackers.ini starts tracktune's TraX "
                                    "server for the checkpoint.")
    ws.add_argument("directory", metavar="DIR", help="workspace folder (new or empty)")
    ws.add_argument("--checkpoint", required=True, metavar="RUN",
                    help="run or checkpoint directory (or a .onnx file with --backend onnxruntime)")
    ws.add_argument("--stack", required=True, metavar="STACK",
                    help="a local stack folder from `tracktune vot stack`, or an official stack name (vot2022/rgbd)")
    ws.add_argument("--backend", default="pytorch", choices=("pytorch", "onnxruntime"),
                    help="onnxruntime: --checkpoint is a `tracktune export onnx` file (CPU)")
    ws.add_argument("--name", default=None, help="tracker identifier (default tracktune_<run name>)")
    ws.add_argument("--timeout", type=int_range(1), default=None, help="seconds the toolkit waits for a reply (default 300)")
    ws.add_argument("--device", default=None, help="the server's device (default cuda if available)")
    ws.add_argument("--force", action="store_true", help="replace an existing config.yaml / trackers.ini")

    st = sub.add_parser("stack", help="make a local VOT stack from a dataset tracktune loads",
                        description="Write a local VOT stack (stack.yaml + sequences/) from a dataset.")
    st.add_argument("dataset", metavar="NAME", help="dataset name (tracktune.data.benchmarks), e.g. synthetic")
    st.add_argument("--root", default=None, metavar="DIR", help="dataset root (default $TRACKTUNE_<NAME>)")
    st.add_argument("--split", default=None, help="dataset split (default: the dataset's test split, or all)")
    st.add_argument("--modality", default=None, choices=("depth", "thermal"),
                    help="auxiliary modality of a generated dataset (synthetic)")
    st.add_argument("--sequences", nargs="+", metavar="SEQ", help="only these sequences")
    st.add_argument("--limit", type=int_range(1), default=None, metavar="N", help="only the first N sequences")
    st.add_argument("--experiment", default="unsupervised", choices=("unsupervised", "multistart"),
                    help="unsupervised (long-term Pr/Re/F, default) or multistart (VOT-RGBD2022 style)")
    st.add_argument("--out", required=True, metavar="STACKDIR", help="the stack folder to write (new or empty)")
    st.add_argument("--force", action="store_true", help="replace a non-empty STACKDIR")

    sv = sub.add_parser("serve", help="the TraX server the toolkit starts (trackers.ini's command)")
    server.add_arguments(sv)


def _workspace(args) -> int:
    from tracktune.export.onnx import OnnxRuntimeModel
    from tracktune.runs import config_of, resolve_checkpoint
    from tracktune.vot.server import channels_for
    from tracktune.vot.workspace import DEFAULT_TIMEOUT, write_workspace

    if args.backend == "onnxruntime":
        config = OnnxRuntimeModel(args.checkpoint).config
    else:
        config = config_of(resolve_checkpoint(args.checkpoint))
    channels = channels_for(config)
    written = write_workspace(args.directory, args.checkpoint, args.stack, channels, backend=args.backend,
                              identifier=args.name, timeout=args.timeout or DEFAULT_TIMEOUT, device=args.device,
                              force=args.force)
    print(f"wrote {args.directory}/config.yaml and trackers.ini: tracker {written['identifier']}, "
          f"channels {', '.join(channels)}")
    print(f"run it: cd {args.directory} && vot evaluate {written['identifier']} && vot analysis {written['identifier']}")
    return 0


def _stack(args) -> int:
    from tracktune.data.benchmarks import load, loader
    from tracktune.errors import DataError
    from tracktune.vot.stack import make_stack

    module = loader(args.dataset)
    split = args.split
    if split is None:
        splits = getattr(module, "SPLITS", ())
        split = "test" if "test" in splits else None
    sequences = load(args.dataset, args.root, split, modality=args.modality)
    if args.sequences:
        by_name = {s.name: s for s in sequences}
        missing = [n for n in args.sequences if n not in by_name]
        if missing:
            raise DataError(f"--sequences: not in {args.dataset} {split}: {', '.join(missing)}")
        sequences = [by_name[n] for n in args.sequences]
    if args.limit is not None:
        sequences = sequences[:args.limit]
    title = f"tracktune local stack: {args.dataset}" + (f" {split}" if split else "")
    stack = make_stack(sequences, args.out, title, experiment=args.experiment, force=args.force)
    print(f"wrote {stack} ({len(sequences)} sequences, {args.experiment} experiment)")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.vot_command == "workspace":
        return _workspace(args)
    if args.vot_command == "stack":
        return _stack(args)
    from tracktune.vot import server

    return server.main(args)
