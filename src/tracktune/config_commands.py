"""`tracktune configs`: the configs shipped with the package, one line each.

Every command that takes a config accepts one of these names (`tracktune train
lorat_b224_rgbt`) or a path to a YAML file (`tracktune.config.resolve_config`). `--path`
prints where a shipped config lies, to copy it and edit the copy; `--show NAME` prints it.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", action="store_true", help="also print each config's file path")
    parser.add_argument("--show", metavar="NAME", help="print one shipped config (to copy and edit)")


def main(args: argparse.Namespace) -> int:
    from tracktune.config import config_description, resolve_config, shipped_configs

    if args.show:
        print(resolve_config(args.show).read_text(), end="")
        return 0
    shipped = shipped_configs()
    width = max((len(name) for name in shipped), default=0)
    for name, path in shipped.items():
        line = f"{name:<{width}}  {config_description(path) or '(no description)'}"
        print(f"{line}\n{'':<{width}}  {path}" if args.path else line)
    return 0
