"""`tracktune model-info CONFIG [--json]`: parameters by group (total, trainable) and GFLOPs
of a config's adapted model (`tracktune/model_stats.py` counts them)."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable), e.g. --set model.size=large")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _millions(n: int) -> str:
    return f"{n / 1e6:8.3f}M"


def main(args: argparse.Namespace) -> int:
    from tracktune.config import load_config
    from tracktune.model_stats import model_info

    config = load_config(args.config, args.overrides)
    info = model_info(config)
    if args.json:
        print(json.dumps({k: info[k] for k in ("params_total", "params_trainable", "trainable_by_group",
                                                 "gflops_per_step", "params_by_group")}, indent=None))
        return 0
    print(f"{info['name']}: {info['design']} design, {info['backbone']}, template {info['template']}, "
          f"search {info['search']}, fusion {info['fusion']}, methods {', '.join(info['methods']) or 'none'}")
    print(f"{'group':<16}{'total':>10}{'trainable':>12}")
    for group, total in info["params_by_group"].items():
        if total:
            print(f"{group:<16}{_millions(total):>10}{_millions(info['trainable_by_group'][group]):>12}")
    print(f"{'all':<16}{_millions(info['params_total']):>10}{_millions(info['params_trainable']):>12}")
    print(f"GFLOPs per tracking step (batch 1, inference model): {info['gflops_per_step']:.2f}")
    return 0
