"""Parameter counts by group and FLOPs of one tracking step, for a config's adapted model.

The model is built on the meta device (no memory, no weights read: counts do not depend on
values), the config's methods are applied (`tracktune.adapt.build_adapted_model`, as for
training: `prepare` decides what trains), and the FLOPs of one tracking step (batch 1:
template + search, plus the auxiliary images when the fusion reads them) are counted with
`torch.utils.flop_counter.FlopCounterMode` on the exported (inference) model, i.e. with LoRA
merged. FLOPs count a multiply-add as 2.

Groups are the model's (`TrackerModel.parameter_groups`): the base model's own, and those each
method registers for what it attaches (`Method.parameter_groups`: LoRA's "lora", PATrack's
"adapters.mda" / "adapters.mea" / "adapters.ta"); they partition the parameters.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from tracktune.adapt import build_adapted_model, export_model
from tracktune.model.tracker_model import TrackerModel


def step_inputs(model, batch: int = 1, device="cpu") -> dict:
    """Random inputs of one tracking step for `model` (aux images when its fusion reads them)."""
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
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    return float(counter.get_total_flops())


def meta_model(config):
    """The config's model with its methods applied, on the meta device: (model, methods)."""
    with torch.device("meta"):
        model = TrackerModel.from_config(config.model)
    return build_adapted_model(config, model)


def inference_flops(config) -> float:
    """FLOPs of one batch-1 tracking step of the exported model (counted on the meta device,
    where attention runs as countable matmuls; CPU's fused attention kernel is not counted)."""
    model, methods = meta_model(config)
    model = export_model(model, methods)
    return count_step_flops(model, step_inputs(model, 1, device="meta"))


def model_info(config) -> dict:
    """The numbers `model-info` prints (see the module docstring)."""
    model, methods = meta_model(config)
    groups = model.parameter_groups()
    parameters = dict(model.named_parameters())
    by_group = {g: sum(parameters[n].numel() for n in names) for g, names in groups.items()}
    trainable_by_group = {g: sum(parameters[n].numel() for n in names if parameters[n].requires_grad)
                          for g, names in groups.items()}
    model = export_model(model, methods)
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
