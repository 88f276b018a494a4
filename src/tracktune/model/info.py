"""`tracktune model-info CONFIG [--json]`: parameters by group (total, trainable) and GFLOPs.

The model is built on the meta device (no memory, no weights read: counts do not depend on
values), the config's methods are applied (`prepare`, which decides what trains), and the
FLOPs of one tracking step (batch 1: template + search, plus the auxiliary images when the
fusion reads them) are counted with `torch.utils.flop_counter.FlopCounterMode` on the
exported (inference) model, i.e. with LoRA merged. FLOPs count a multiply-add as 2.

Where a method names the kinds of its parameters (`method.parameter_kind(name)`: PATrack's
mda / mea / ta), the "adapters" group is split into "adapters.<kind>" entries (in the text
output and in `--json`'s `params_by_group` / `trainable_by_group`); the groups still
partition the parameters.
"""

from __future__ import annotations

import argparse
import dataclasses
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field (repeatable), e.g. --set model.size=large")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def step_inputs(model, batch: int = 1, device="cpu") -> dict:
    """Random inputs of one tracking step for `model` (aux images when its fusion reads them)."""
    import torch

    zh, zw = model.template_grid
    inputs = {
        "template_rgb": torch.zeros(batch, 3, model.template_size, model.template_size, dtype=torch.uint8, device=device),
        "search_rgb": torch.zeros(batch, 3, model.search_size, model.search_size, dtype=torch.uint8, device=device),
    }
    if device != "meta":
        generator = torch.Generator().manual_seed(0)
        for key in list(inputs):
            inputs[key] = torch.randint(0, 256, inputs[key].shape, dtype=torch.uint8, generator=generator)
    if model.fusion_module.needs_aux:
        inputs["template_aux"] = inputs["template_rgb"].clone()
        inputs["search_aux"] = inputs["search_rgb"].clone()
    if model.design == "lorat":
        mask = torch.zeros(batch, zh, zw, dtype=torch.bool, device=device)
        inputs["template_mask"] = mask
    return inputs


def count_step_flops(model, inputs: dict) -> float:
    """FLOPs of one forward of `model` on `inputs` (FlopCounterMode; multiply-add = 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    return float(counter.get_total_flops())


def apply_methods(model, config, for_counting: bool = False):
    """Run each configured method's `prepare`; `for_counting` swaps PiSSA's SVD init (which needs
    real weights) for zero_b, which creates the same parameters."""
    from tracktune.adapt import METHODS
    from tracktune.errors import ConfigError

    if for_counting and config.lora.init == "pissa":
        config = dataclasses.replace(config, lora=dataclasses.replace(config.lora, init="zero_b"))
    methods = []
    for name in config.methods:
        if name not in METHODS:
            raise ConfigError(f"methods: unknown method {name!r} (choose from {sorted(METHODS)})")
        method = METHODS[name](config)
        model = method.prepare(model)
        methods.append(method)
    return model, methods


def meta_model(config):
    """The config's model with its methods applied, on the meta device: (model, methods)."""
    import torch

    from tracktune.model.tracker_model import TrackerModel

    with torch.device("meta"):
        model = TrackerModel.from_config(config.model)
    return apply_methods(model, config, for_counting=True)


def inference_flops(config) -> float:
    """FLOPs of one batch-1 tracking step of the exported model (counted on the meta device,
    where attention runs as countable matmuls; CPU's fused attention kernel is not counted)."""
    model, methods = meta_model(config)
    for method in methods:
        model = method.export(model)
    return count_step_flops(model, step_inputs(model, 1, device="meta"))


def split_adapter_groups(groups: dict[str, list[str]], methods) -> dict[str, list[str]]:
    """Split the "adapters" group by kind where a method names its parameters' kinds
    (`method.parameter_kind(name)`, e.g. PATrack's mda / mea / ta): "adapters.<kind>" entries
    follow "adapters", which keeps what no method claims, so the groups still partition."""
    kind_of = [m.parameter_kind for m in methods if hasattr(m, "parameter_kind")]
    if not kind_of:
        return groups
    split: dict[str, list[str]] = {}
    for group, names in groups.items():
        if group != "adapters":
            split[group] = names
            continue
        split["adapters"] = []
        for name in names:
            kind = next((k for k in (fn(name) for fn in kind_of) if k), None)
            split.setdefault(f"adapters.{kind}" if kind else "adapters", []).append(name)
    return split


def model_info(config) -> dict:
    """The numbers `model-info` prints (see the module docstring)."""
    model, methods = meta_model(config)
    groups = split_adapter_groups(model.parameter_groups(), methods)
    parameters = dict(model.named_parameters())
    by_group = {g: sum(parameters[n].numel() for n in names) for g, names in groups.items()}
    trainable_by_group = {g: sum(parameters[n].numel() for n in names if parameters[n].requires_grad)
                          for g, names in groups.items()}
    for method in methods:
        model = method.export(model)
    flops = count_step_flops(model, step_inputs(model, 1, device="meta"))
    spec = model.spec
    return {
        "name": config.name,
        "design": model.design,
        "backbone": f"ViT-{config.model.size}/{model.patch_size} ({spec.embed_dim} x {spec.depth}, {spec.num_heads} heads)",
        "template": f"{model.template_size} ({model.template_grid[0]}x{model.template_grid[1]})",
        "search": f"{model.search_size} ({model.search_grid[0]}x{model.search_grid[1]})",
        "fusion": model.fusion,
        "methods": list(config.methods),
        "params_total": sum(by_group.values()),
        "params_trainable": sum(trainable_by_group.values()),
        "params_by_group": by_group,
        "trainable_by_group": trainable_by_group,
        "gflops_per_step": flops / 1e9,
    }


def _millions(n: int) -> str:
    return f"{n / 1e6:8.3f}M"


def main(args: argparse.Namespace) -> int:
    from tracktune.config import load_config

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
