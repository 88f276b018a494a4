"""The demo's RGB base: pretrain it under a recipe and score it where the issue reads it.

    python benchmarks/rgb_base.py [FIELD=VALUE ...]     # DemoRecipe overrides, e.g. seed=1 pretrain_steps=4000

Uses the study's sets (`data_seed=0`, 280 RGB-T sequences of which 140 test, as `tracktune
study --test-sequences 140`) unless overridden, and the demo's pretraining cache (a recipe
already pretrained is read back). Prints one JSON line: SR / PR (%) on the clean test
condition, on the clean twins of all test sequences, and on 40 of the pretraining
sequences themselves (a large gap between the first and the last: the base learned its
training scenes rather than tracking). Appends the line to `--log` when given.
"""

from __future__ import annotations

import argparse
import json
import time

from tracktune import demo
from tracktune.config import from_dict, merge_overrides
from tracktune.data.benchmarks.synthetic import load
from tracktune.data.pairs import PairSource
from tracktune.eval import evaluate

STUDY_SETS = {"data_seed": 0, "test_sequences": 140, "target_sequences": 280}


def score(model, sequences) -> tuple[float, float]:
    boxes = demo.track(model, sequences, progress=False)
    metrics = evaluate(demo.PROTOCOL, sequences, {"base": boxes}).trackers["base"].metrics
    return round(100 * metrics["SR"], 1), round(100 * metrics["PR"], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", metavar="FIELD=VALUE")
    parser.add_argument("--log", default=None, help="append the JSON line to this file")
    args = parser.parse_args()
    recipe = from_dict(demo.DemoRecipe, merge_overrides(dict(STUDY_SETS), args.overrides), "recipe")
    start = time.perf_counter()
    clean_root, target_root = demo.datasets(recipe, progress=False)
    data_seconds = time.perf_counter() - start
    pretraining = load(clean_root, split="train")
    weights, seconds, cached = demo.pretrain_rgb(recipe, [PairSource("synthetic-clean", pretraining)], progress=False)
    test = load(target_root, split="test")
    model = demo.rgb_model(recipe, weights)
    line = {"overrides": args.overrides, "data_s": round(data_seconds), "pretrain_s": round(seconds), "cached": cached,
            "clean": score(model, [s for s in test if s.attributes.get("condition") == "clean"]),
            "twins": score(model, demo.clean_twins(test)), "train40": score(model, pretraining[:40])}
    print(json.dumps(line), flush=True)
    if args.log:
        with open(args.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
