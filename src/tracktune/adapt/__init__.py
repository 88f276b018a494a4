"""Adaptation methods: each says what trains, what it adds to the model and to the loss.

A method is a `Method` subclass (`adapt/base.py`: the hooks and the declarations); `METHODS`
maps the names a config lists (`methods: [lora, fctl]`) to them. Methods compose: the trainer
calls each hook of each listed method in order. The base model never knows which methods are
attached (peft's habit: methods wrap or attach to modules by name, and name the groups of
what they attach).

`build_methods` is the one place a method list is built and checked against the methods'
declarations (training, inference export and `model-info` all go through it);
`build_adapted_model` builds the model and applies the methods.
"""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

from tracktune.adapt.base import Frozen, FullFineTuning, Method, StepInfo
from tracktune.adapt.fctl import FCTLMethod
from tracktune.adapt.lora import LoraMethod
from tracktune.adapt.patrack import PATrackMethod
from tracktune.adapt.srft import SRFTMethod
from tracktune.errors import ConfigError
from tracktune.model import build_model
from tracktune.suggest import did_you_mean

# name -> Method subclass; a new method adds its entry here (docs/INTERFACES.md, "How to add a method")
METHODS: dict[str, type[Method]] = {
    "full": FullFineTuning,
    "frozen": Frozen,
    "lora": LoraMethod,
    "srft": SRFTMethod,
    "fctl": FCTLMethod,
    "patrack": PATrackMethod,
}


def method_classes(names: list[str]) -> list[type[Method]]:
    """The classes of the listed methods; an unknown or repeated name is a ConfigError."""
    classes = []
    for name in names:
        if name not in METHODS:
            raise ConfigError(f"methods: unknown {name!r}{did_you_mean(name, METHODS)} (choose from {sorted(METHODS)})")
        if names.count(name) > 1:
            raise ConfigError(f"methods: {name} is listed twice")
        classes.append(METHODS[name])
    return classes


def check_composition(names: list[str], fusion: str) -> None:
    """The declarations of the listed methods against each other and against the fusion."""
    for cls in method_classes(names):
        if cls.requires_one_of and not any(n in names for n in cls.requires_one_of):
            examples = " or ".join(f"[{', '.join([r, cls.name])}]" for r in cls.requires_one_of[:2])
            raise ConfigError(f"methods: {cls.name} adds to a fine-tuning method and is listed with none; list it "
                              f"with one of {', '.join(cls.requires_one_of)}, e.g. methods: {examples}")
        clash = [n for n in cls.excludes if n in names]
        if clash:
            raise ConfigError(f"methods: {cls.name} cannot be combined with {', '.join(clash)}; drop "
                              f"{', '.join(repr(n) for n in clash)}")
        if cls.fusions is not None and fusion not in cls.fusions:
            raise ConfigError(f"methods [{cls.name}] needs model.fusion: {' or '.join(cls.fusions)} "
                              f"(got {fusion!r})")


def build_methods(config: Any) -> list[Method]:
    """The configured methods, in order, checked against each other's declarations and the
    model's fusion, then each against the config (`Method.check`)."""
    names = list(config.methods)
    check_composition(names, config.model.fusion)
    methods = [cls(config) for cls in method_classes(names)]
    for method in methods:
        method.check(config)
    return methods


def apply_methods(model: nn.Module, methods: list[Method]) -> nn.Module:
    """Register each method's parameter groups on the model, then run each `prepare` in order."""
    for method in methods:
        if method.parameter_groups:
            model.add_parameter_groups(method.parameter_groups, type(method).parameter_group)
    for method in methods:
        model = method.prepare(model)
    return model


def build_adapted_model(config: Any, model: Optional[nn.Module] = None) -> tuple[nn.Module, list[Method]]:
    """`build_model(config)` (or the given model) with the configured methods applied;
    returns (model, methods)."""
    methods = build_methods(config)
    return apply_methods(model if model is not None else build_model(config), methods), methods


def export_model(model: nn.Module, methods: list[Method]) -> nn.Module:
    """The inference model: each method's `export` in order (LoRA merged)."""
    for method in methods:
        model = method.export(model)
    return model


def reads_frozen_weights(methods: list[Method]) -> bool:
    return any(m.reads_frozen_weights for m in methods)


def before_training_rank0_first(methods: list[Method]) -> bool:
    return any(m.before_training_rank0_first for m in methods)


__all__ = ["METHODS", "Method", "StepInfo", "FullFineTuning", "Frozen", "build_methods", "apply_methods",
           "build_adapted_model", "export_model", "check_composition", "method_classes"]
