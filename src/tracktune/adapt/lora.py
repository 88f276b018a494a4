"""LoRA on the frozen Linear layers of the ViT blocks, as LoRAT.

Source: LoRAT (Lin et al., "Tracking Meets LoRA: Faster Training, Larger Model, Stronger
Performance", ECCV 2024; code LitingLin/LoRAT, `modules/lora/`), on LoRA (Hu et al., 2021).
The LoRA layers are peft's (`inject_adapter_in_model`), so rsLoRA, DoRA and PiSSA come from
peft; this module says which layers, how they start and what trains.

- Targets: in every block, q, k and v (our ViT holds them as three Linears, so each gets its
  own LoRA as in LoRAT's split of the fused qkv), the attention projection, and the MLP's
  fc1, fc2 (for ViT-g's SwiGLU MLP, `fc1` means `w12` and `fc2` means `w3`), in the model's
  blocks and in a fusion scheme's block copies (dual_branch's X branch and fusion blocks: any
  module list whose name ends in `blocks`). Nothing outside the blocks is adapted (the patch embedding's conv is not, though peft could wrap it).
- rank 64, alpha 64 (scaling alpha / r = 1), dropout 0 by default.
- Init `lorat`: A and B both truncated normal (std 0.02, truncation at +-2 absolute, i.e.
  effectively untruncated, as LoRAT's timm `trunc_normal_`), so the branch is non-zero at
  step 0. `zero_b`: peft's default (Kaiming-uniform A, zero B): the model starts as the base.
  `pissa`: peft's PiSSA: A, B from the top-r singular triplets of W and the base weight
  replaced by the residual, so the model also starts as the base; the residual is recomputed
  (deterministically, it is a product of paired singular vectors) when a checkpoint's A, B
  are loaded onto a rebuilt model.
- Trainable: the LoRA weights, the token-type embedding(s) (LoRAT's `token_type_embed`;
  token_concat's `modality_embed`), the head, and, with `early_add` fusion, the auxiliary
  patch embedding (a new input layer that the frozen blocks cannot adapt to otherwise).
  Frozen: the patch embedding, position embeddings, the blocks' own weights, the final
  norm. Parameters other methods attach keep whatever they set. The LoRA weights form the
  parameter group "lora" (`LoraMethod.parameter_group`).
- Inference: `merge_lora` folds W + scaling * B A into each base Linear and removes the LoRA
  modules, so the exported model has exactly the base model's structure and cost.

Departure: LoRAT wraps every frozen `nn.Linear` it finds in a block; we list the targets by
name (`lora.targets`), which is the same set for these blocks and lets a config drop some.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from tracktune.adapt.base import Method
from tracktune.errors import ConfigError

# config target name -> module path inside a block
TARGET_MODULES: dict[str, str] = {
    "q": r"attn\.q",
    "k": r"attn\.k",
    "v": r"attn\.v",
    "proj": r"attn\.proj",
    "fc1": r"mlp\.(?:fc1|w12)",
    "fc2": r"mlp\.(?:fc2|w3)",
}

GROUP = "lora"  # the parameter group of the LoRA weights
# the base model's parameter groups (TrackerModel.parameter_groups) LoRA trains / freezes; other
# groups (what other methods attach) are left as they are
TRAINABLE_GROUPS = ("type_embed", "head", "aux_patch_embed")
FROZEN_GROUPS = ("patch_embed", "position", "blocks", "norm")


def target_pattern(targets: list[str]) -> str:
    """The regex (peft full-matches module names) for the chosen targets in any block list."""
    unknown = [t for t in targets if t not in TARGET_MODULES]
    if unknown:
        raise ConfigError(f"lora.targets: unknown {unknown}; choose from {list(TARGET_MODULES)}")
    if not targets:
        raise ConfigError("lora.targets is empty")
    # any ModuleList named *blocks: the model's blocks and a fusion scheme's copies (dual_branch)
    return r"(?:.*\.)?\w*blocks\.\d+\.(?:" + "|".join(TARGET_MODULES[t] for t in targets) + r")"


def is_lora_parameter(name: str) -> bool:
    """A LoRA weight (A or B of a peft LoRA layer), by its parameter name."""
    return ".lora_" in name


def is_lora_layer(module: nn.Module) -> bool:
    from peft.tuners.lora import LoraLayer

    return isinstance(module, LoraLayer)


def lora_parts(layer: nn.Module) -> tuple[nn.Linear, nn.Linear, float]:
    """(A, B, scaling) of a peft LoRA layer's first active adapter."""
    adapter = layer.active_adapters[0]
    return layer.lora_A[adapter], layer.lora_B[adapter], float(layer.scaling[adapter])


def base_linear(layer: nn.Module) -> nn.Linear:
    """The frozen Linear a peft LoRA layer wraps."""
    return layer.get_base_layer()


def lora_and_plain_linears(model: nn.Module) -> tuple[dict[str, nn.Module], dict[str, nn.Linear]]:
    """(peft LoRA layers, plain nn.Linear layers outside them) of `model`, by name."""
    wrapped = {n: m for n, m in model.named_modules() if is_lora_layer(m)}
    inside = {f"{n}.base_layer" for n in wrapped}  # peft's name of the wrapped Linear
    plain = {n: m for n, m in model.named_modules()
             if type(m) is nn.Linear and n not in inside and not any(n.startswith(w + ".lora_") for w in wrapped)}
    return wrapped, plain


def apply_lora(model: nn.Module, lora_config) -> nn.Module:
    """Wrap the target Linears of `model` with peft LoRA layers, initialised per `lora_config.init`."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    init = {"lorat": True, "zero_b": True, "pissa": "pissa"}.get(lora_config.init)
    if init is None:
        raise ConfigError(f"lora.init: unknown {lora_config.init!r} (lorat, zero_b or pissa)")
    if init == "pissa" and next(model.parameters()).device.type == "meta":
        init = True  # PiSSA's SVD needs real weights; on the meta device (model-info counts) zero_b
        # creates the same parameters
    pattern = target_pattern(list(lora_config.targets))
    if not any(re.fullmatch(pattern, name) and isinstance(m, nn.Linear) for name, m in model.named_modules()):
        raise ConfigError(f"lora: no Linear layer of the model matches targets {list(lora_config.targets)}")
    peft_config = PeftLoraConfig(r=lora_config.rank, lora_alpha=lora_config.alpha, lora_dropout=lora_config.dropout,
                                 target_modules=pattern, init_lora_weights=init, use_rslora=lora_config.rslora,
                                 use_dora=lora_config.dora, bias="none")
    model = inject_adapter_in_model(peft_config, model)
    if lora_config.init == "lorat":
        with torch.no_grad():
            for module in model.modules():
                if is_lora_layer(module):
                    for adapter in module.lora_A:
                        nn.init.trunc_normal_(module.lora_A[adapter].weight, std=0.02)
                        nn.init.trunc_normal_(module.lora_B[adapter].weight, std=0.02)
    return model


def set_lora_trainable(model: nn.Module) -> None:
    """LoRA weights, token-type embeddings, head and auxiliary patch embedding train; the base is frozen."""
    for name, parameter in model.named_parameters():
        group = model.parameter_group(name)
        if is_lora_parameter(name) or group in TRAINABLE_GROUPS:
            parameter.requires_grad_(True)
        elif group in FROZEN_GROUPS:
            parameter.requires_grad_(False)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA branch into its base Linear (W + scaling * B A) and drop the LoRA modules."""
    replacements = []
    for name, module in model.named_modules():
        if is_lora_layer(module):
            replacements.append((name, module))
    with torch.no_grad():
        for name, module in replacements:
            real = module.get_base_layer().weight.device.type != "meta"  # model-info counts on meta
            module.merge(safe_merge=real)  # safe_merge: a non-finite merged weight is an error
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model


def keep_inputs_in_amp_dtype(model: nn.Module) -> int:
    """Stop peft's LoRA layers casting their input to the LoRA weights' dtype (fp32) before
    `lora_A`: under autocast the matmul casts it straight back to bf16 / fp16, so the two copies
    per layer (and the one saved for backward) are waste; the values are the same. Sets peft's
    `cast_input_dtype_enabled` switch of each LoRA layer; returns how many were switched."""
    switched = 0
    for module in model.modules():
        if is_lora_layer(module):
            module.cast_input_dtype_enabled = False
            switched += 1
    return switched


class LoraMethod(Method):
    """`methods: [lora]` (see the module docstring)."""

    name = "lora"
    trains = True
    parameter_groups = (GROUP,)

    @classmethod
    def parameter_group(cls, name: str):
        return GROUP if is_lora_parameter(name) else None

    def prepare_precision(self, model: nn.Module) -> None:
        keep_inputs_in_amp_dtype(model)

    def prepare(self, model: nn.Module) -> nn.Module:
        model = apply_lora(model, self.config.lora)
        set_lora_trainable(model)
        return model

    def export(self, model: nn.Module) -> nn.Module:
        return merge_lora(model)
