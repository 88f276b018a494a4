"""`tracktune data synth | show | check`: make, look at and verify datasets."""

from __future__ import annotations

import argparse

from tracktune.cli_types import int_range
from tracktune.progress import add_progress_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    synth = sub.add_parser("synth", help="write a synthetic RGB-X benchmark in a real benchmark's layout")
    synth.add_argument("--modality", choices=["thermal", "depth", "event"], default="thermal",
                       help="auxiliary modality; picks the layout: thermal LasHeR, depth DepthTrack, event VisEvent")
    synth.add_argument("--sequences", type=int_range(1), default=40, help="number of sequences (default 40)")
    synth.add_argument("--frames", type=int_range(2), default=100, help="frames per sequence (default 100)")
    synth.add_argument("--seed", type=int_range(0), default=0, help="random seed (default 0)")
    synth.add_argument("--size", default="320x240", help="frame size WxH (default 320x240)")
    synth.add_argument("--conditions", default=None,
                       help="comma-separated conditions, each name, name:3 or name:2-4 (default: all, cycled): "
                            "clean, night, fog, over_exposure, occlusion, fast_motion, scale_change, distractors, "
                            "out_of_view")
    synth.add_argument("--out", required=True, help="output dataset root (new or empty folder)")
    synth.add_argument("--workers", type=int_range(0), default=None, help="processes (default: all cores; 0 or 1: this one)")
    add_progress_arguments(synth)

    show = sub.add_parser("show", help="draw a contact sheet of a dataset's frames with boxes")
    show.add_argument("root", nargs="?", help="dataset root (synthetic output or a benchmark)")
    show.add_argument("--dataset", default=None, help="benchmark name when the root is not synthetic")
    show.add_argument("--sequence", default=None, help="one sequence (default: a few of each condition)")
    show.add_argument("--degrade", default=None, help="show a degradation, e.g. fog:3 or all")
    show.add_argument("--frames", "--frames-per-row", dest="frames", type=int_range(1), default=6,
                      help="frames per sequence row (default 6)")
    show.add_argument("--out", required=True, help="PNG to write")

    check = sub.add_parser("check", help="verify a benchmark on disk; exit 1 when anything is wrong")
    check.add_argument("name", help="benchmark: lasher, rgbt234, rgbt210, gtot, depthtrack, vot_rgbd2022, "
                                    "visevent, coesot, fe108, lasot, got10k, trackingnet, otb")
    check.add_argument("--root", default=None, help="dataset root (default: $TRACKTUNE_<NAME>)")
    check.add_argument("--split", default=None, help="split to check (default: every split)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument("--workers", type=int_range(0), default=None, help="processes (default: every core; 0 or 1: this one)")
    add_progress_arguments(check)


def main(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        from tracktune.data.synthetic import synth_command

        return synth_command(args)
    if args.data_command == "show":
        from tracktune.data.show import show_command

        return show_command(args)
    from tracktune.data.check import check_command

    return check_command(args)
