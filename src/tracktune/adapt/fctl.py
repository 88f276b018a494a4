"""FCTL: feature-corrective transfer learning with the EANSDL loss.

Source: "Feature Corrective Transfer Learning: End-to-End Solutions to Object Detection in
Non-Ideal Visual Conditions" (arXiv 2404.11214, CVPR 2024 workshops). A frozen teacher (the
RGB tracker) reads the ideal (clean) RGB crops; the student (the tracker being adapted) reads
the non-ideal input (degraded RGB, plus the auxiliary modality when multi-modal); the
student's intermediate search-token grids are pulled toward the teacher's with the
Extended-Area Novel Structural Discrepancy Loss (EANSDL):
`L = L_track + lambda * EANSDL(F_teacher, F_student)`; `eansdl`'s docstring and the
functions it calls state the exact definition (tests compare it against a brute-force loop).

Our resolutions of what the paper leaves open, and departures (no code was released):
- The local weight w = exp(-dS) is detached by default: the literal exp(-dS) * dS has a
  negative derivative for dS > 1, which would push large discrepancies to grow.
  `weighting: raw` keeps the literal form.
- Omega pools the signed per-channel discrepancy D_c, then takes |.| (a window average of
  |D| would only repeat dS); average pooling excludes the padding.
- The paper's pyramid levels become ViT block outputs (all at the search-grid resolution);
  level l is the l-th listed block, and its radius still shrinks as max(1, r0 // 2**l).
- delta = epoch / total epochs becomes the trainer's continuous progress (step / total).
- Default blocks 3, 6, 9, 12 (1-based) of a 12-block ViT; for another depth D block b
  becomes ceil(b * D / 12) (`fctl.blocks_depth` names the depth `fctl.blocks` refers to).
- The teacher is the RGB tracker (fusion `rgb`) built from the same pretrained weights as
  the student (or `fctl.teacher`), frozen, in eval mode, run under `torch.no_grad`. It is
  held by the method, not by the model, so it adds no trainable parameter, no optimizer
  state and nothing to checkpoints.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Sequence as SequenceOf

import torch
import torch.nn.functional as F
from torch import nn

from tracktune.adapt.base import Method, StepInfo
from tracktune.errors import ConfigError

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
GRADIENT_EPS = 1e-6
WEIGHTINGS = ("detached", "raw")
REFERENCE_DEPTH = 12  # the ViT depth the default blocks (3, 6, 9, 12) refer to

# --------------------------------------------------------------------------------------
# EANSDL
# --------------------------------------------------------------------------------------


def sobel_magnitude(features: torch.Tensor) -> torch.Tensor:
    """G(F) = sqrt((Sx * F)^2 + (Sy * F)^2 + 1e-6), depthwise, replicate padding 1.
    (B, C, H, W) -> (B, C, H, W)."""
    channels = features.shape[1]
    sx = torch.tensor(SOBEL_X, dtype=features.dtype, device=features.device)
    kernels = torch.stack([sx, sx.t()])[:, None].repeat(channels, 1, 1, 1)  # (2C, 1, 3, 3): x, y per channel
    padded = F.pad(features, (1, 1, 1, 1), mode="replicate")
    gradients = F.conv2d(padded, kernels, groups=channels)  # (B, 2C, H, W)
    gx, gy = gradients[:, 0::2], gradients[:, 1::2]
    return torch.sqrt(gx * gx + gy * gy + GRADIENT_EPS)


def extended_radius(level: int, r0: int = 8) -> int:
    """The extended-area radius of level `level` (0 finest): max(1, r0 // 2**level)."""
    return max(1, int(r0) // 2 ** int(level))


def decay(progress: float, alpha: float = 3.0, beta: float = 1.0) -> float:
    """D(delta) = exp(-alpha * delta^beta), the weight of the extended-area term."""
    return math.exp(-alpha * float(progress) ** beta)


@dataclass
class LevelTerms:
    """One level's EANSDL terms (scalars) and its radius."""

    local: torch.Tensor  # mean over (b, x, y) of w * dS
    omega: torch.Tensor  # mean over (b, x, y) of Omega_l
    radius: int


def eansdl_levels(
    student: SequenceOf[torch.Tensor],
    teacher: SequenceOf[torch.Tensor],
    *,
    r0: int = 8,
    weight: str = "detached",
) -> list[LevelTerms]:
    """Per-level local and extended-area terms (before the decay); see `eansdl`."""
    if len(student) != len(teacher):
        raise ValueError(f"eansdl: {len(student)} student levels but {len(teacher)} teacher levels")
    if not student:
        raise ValueError("eansdl: no feature levels given")
    if weight not in WEIGHTINGS:
        raise ValueError(f"eansdl: weight must be one of {WEIGHTINGS}, got {weight!r}")
    if r0 < 0:
        raise ValueError(f"eansdl: r0 must be >= 0, got {r0}")
    terms = []
    for level, (f_s, f_t) in enumerate(zip(student, teacher)):
        if f_s.ndim != 4 or f_s.shape != f_t.shape:
            raise ValueError(f"eansdl level {level}: student {tuple(f_s.shape)} and teacher {tuple(f_t.shape)} "
                             "must be equal (B, C, H, W)")
        discrepancy = sobel_magnitude(f_s) - sobel_magnitude(f_t.detach())  # D_c: (B, C, H, W)
        d_s = discrepancy.abs().mean(dim=1)  # dS: (B, H, W)
        w = torch.exp(-d_s)
        if weight == "detached":
            w = w.detach()
        radius = extended_radius(level, r0)
        pooled = F.avg_pool2d(discrepancy, kernel_size=2 * radius + 1, stride=1, padding=radius,
                              count_include_pad=False)  # (B, C, H, W)
        omega = pooled.abs().mean(dim=1)  # Omega_l: (B, H, W)
        terms.append(LevelTerms((w * d_s).mean(), omega.mean(), radius))
    return terms


def eansdl(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    progress: float,
    *,
    r0: int = 8,
    alpha: float = 3.0,
    beta: float = 1.0,
    weight: str = "detached",
) -> torch.Tensor:
    """Extended-Area Novel Structural Discrepancy Loss.

    `student`, `teacher`: per-level feature grids (B, C, H, W), level 0 the finest; the
    teacher's are detached. `progress` = epoch / total epochs (0..1) drives the decay
    exp(-alpha * progress^beta) of the extended-area term. `weight="detached"` (default)
    stops the gradient through w = exp(-dS); `"raw"` is the literal form.
    Returns sum_l [ mean(w * dS_l) + D(progress) * mean(Omega_l) ], a scalar.
    """
    if progress < 0:
        raise ValueError(f"eansdl: progress must be >= 0, got {progress}")
    factor = decay(progress, alpha, beta)
    terms = eansdl_levels(student, teacher, r0=r0, weight=weight)
    return sum((t.local + factor * t.omega for t in terms[1:]), terms[0].local + factor * terms[0].omega)


# --------------------------------------------------------------------------------------
# Block choice
# --------------------------------------------------------------------------------------


def scaled_blocks(blocks: SequenceOf[int], depth: int, blocks_depth: Optional[int] = REFERENCE_DEPTH) -> list[int]:
    """0-based block indices of a `depth`-block model for the 1-based `blocks` of a
    `blocks_depth`-block ViT: block b -> ceil(b * depth / blocks_depth) (1-based).
    `blocks_depth=None` means the blocks already name the model's own blocks."""
    reference = depth if blocks_depth is None else int(blocks_depth)
    if reference < 1:
        raise ConfigError(f"fctl.blocks_depth must be >= 1, got {reference}")
    if not blocks:
        raise ConfigError("fctl.blocks: at least one block is needed")
    out = []
    for b in blocks:
        if not 1 <= b <= reference:
            raise ConfigError(f"fctl.blocks: block {b} is outside 1..{reference} (1-based, of a {reference}-block ViT)")
        index = -(-b * depth // reference) - 1  # ceil(b * depth / reference), to 0-based
        out.append(max(0, index))
    if len(set(out)) != len(out):
        raise ConfigError(f"fctl.blocks {list(blocks)} of a {reference}-block ViT map onto repeated blocks "
                          f"{[i + 1 for i in out]} of this {depth}-block model; list fewer blocks")
    return out


# --------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------


def check_fctl_config(config) -> None:
    """Config-time checks of the `fctl` settings (which methods it needs: `FCTLMethod`'s
    declarations, checked by `tracktune.adapt.build_methods`)."""
    settings = config.fctl
    if settings.lambda_eansdl < 0:
        raise ConfigError(f"fctl.lambda_eansdl must be >= 0, got {settings.lambda_eansdl}")
    if settings.r0 < 0:
        raise ConfigError(f"fctl.r0 must be >= 0, got {settings.r0}")
    if settings.weighting not in WEIGHTINGS:
        raise ConfigError(f"fctl.weighting: {settings.weighting!r} is not one of {', '.join(WEIGHTINGS)}")


def build_teacher(config) -> nn.Module:
    """The RGB tracker: same design, fusion `rgb`, weights from `fctl.teacher` or
    `model.pretrained`; frozen and in eval mode."""
    if config.fctl.teacher is None and config.model.pretrained is None:
        raise ConfigError("fctl needs the RGB tracker as its teacher: set model.pretrained (the teacher is "
                          "built from it with fusion rgb) or fctl.teacher")
    from tracktune.model import build_model

    settings = config.fctl
    model = config.model
    if settings.teacher is not None:
        model = dataclasses.replace(model, pretrained=settings.teacher, pretrained_format=settings.teacher_format)
    teacher = build_model(dataclasses.replace(config, model=dataclasses.replace(model, fusion="rgb")))
    return freeze(teacher)


def freeze(module: nn.Module) -> nn.Module:
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module.eval()


class FCTLMethod(Method):
    """Adds `lambda * eansdl(student blocks, teacher blocks, progress)` to the tracking loss.

    The batch's `template_rgb` / `search_rgb` are what the student reads (degraded when the
    data pipeline degrades them); the teacher reads `template_rgb_clean` / `search_rgb_clean`
    when present, else the same RGB crops (e.g. RGB-T adaptation on clean RGB).
    """

    name = "fctl"
    # it adds a loss to a fine-tuning method and trains nothing itself; a frozen model has
    # nothing to correct
    requires_one_of = ("lora", "patrack", "full")
    excludes = ("frozen",)

    def __init__(self, config, teacher: Optional[nn.Module] = None) -> None:
        super().__init__(config)
        self.settings = config.fctl
        if teacher is None:
            check_fctl_config(config)
        self.teacher = freeze(teacher) if teacher is not None else None
        self.block_indices: list[int] = []

    # ---- hooks ----------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> nn.Module:
        """Pick the blocks for the model's depth and build the frozen teacher (not for a model
        on the meta device: `model-info` counts what trains, and the teacher trains nothing)."""
        self.block_indices = scaled_blocks(self.settings.blocks, int(model.depth), self.settings.blocks_depth)
        if next(model.parameters()).device.type == "meta":
            return model
        if self.teacher is None:
            self.teacher = build_teacher(self.config)
        for attribute in ("depth", "embed_dim", "search_grid"):
            if getattr(self.teacher, attribute) != getattr(model, attribute):
                raise ConfigError(f"fctl: the teacher's {attribute} {getattr(self.teacher, attribute)} differs from "
                                  f"the model's {getattr(model, attribute)}; the teacher must be the same ViT")
        return model

    def return_blocks(self, model: nn.Module) -> tuple[int, ...]:
        """The 0-based blocks whose search grids `extra_losses` reads from the student's outputs."""
        return tuple(self.block_indices)

    @torch.no_grad()
    def teacher_blocks(self, batch: dict, device: torch.device) -> list[torch.Tensor]:
        """The teacher's search grids at the chosen blocks on the clean RGB crops."""
        teacher = self.teacher
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        teacher.eval()
        template = batch.get("template_rgb_clean", batch["template_rgb"])
        search = batch.get("search_rgb_clean", batch["search_rgb"])
        outputs = teacher(template.to(device), search.to(device), template_mask=_on(batch.get("template_mask"), device),
                          return_blocks=tuple(self.block_indices))
        return [outputs["blocks"][i] for i in self.block_indices]

    def extra_losses(self, model: nn.Module, batch: dict, outputs: dict, step: StepInfo) -> dict[str, torch.Tensor]:
        if not self.block_indices:
            raise ConfigError("fctl: prepare() was not called before extra_losses")
        blocks = outputs.get("blocks", {})
        missing = [i for i in self.block_indices if i not in blocks]
        if missing:
            raise ConfigError(f"fctl: the model's outputs lack blocks {missing}; the trainer must pass "
                              "return_blocks=method.return_blocks(model) to the forward")
        student = [blocks[i].float() for i in self.block_indices]
        teacher = [f.float() for f in self.teacher_blocks(batch, student[0].device)]
        s = self.settings
        loss = eansdl(student, teacher, min(max(step.progress, 0.0), 1.0), r0=s.r0, alpha=s.alpha, beta=s.beta,
                      weight=s.weighting)
        return {"eansdl": s.lambda_eansdl * loss}


def _on(tensor: Optional[torch.Tensor], device: torch.device) -> Optional[torch.Tensor]:
    return None if tensor is None else tensor.to(device)
