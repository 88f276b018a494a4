"""PATrack progressive adapters on the dual-stream fusion.

Source: "Learning Progressive Adaptation for Multi-Modal Tracking" (PATrack); code
ouha1998/Learning-Progressive-Adaptation-for-Multi-Modal-Tracking, a fork of BAT
(`lib/models/layers/adapter.py`, `attn_adapt_blocks.py`, `patrack/ostrack_adapter.py`).

A frozen RGB tracker runs RGB and X as two token streams through its shared blocks
(`model.fusion: dual_stream`); three adapter kinds, all this method adds, let it use X:

- Modality-dependent adapter (MDA, `mda_layers`: every block not in `mea_layers` by default),
  in parallel with attention and with the MLP, each stream taking the MDA of the *other*
  stream's normalised tokens (`x_rgb += attn(n1(x_rgb)) + MDA(n1(x_x))` and symmetrically,
  both from the block's input). Down-projection C -> `mda_dim` (8); high-frequency half: one
  quarter through 1x1 conv (doubling its channels, no bias) -> depthwise 3x3 (no bias) ->
  GELU, the other quarter through 3x3 max-pool (stride 1) -> 1x1 conv (doubling) -> GELU;
  low-frequency half: 2x2 average pool (stride 2) -> nearest x2 upsampling (no parameters).
  Concatenated (12 channels for `mda_dim` 8), a residual depthwise 3x3 fusion conv (no bias),
  and a projection back to C. Template and search are reshaped to their own grids.
- Modality-entangled adapter (MEA, `mea_layers`: 3, 6, 9, 0-based), in parallel with
  attention and with the MLP: a new LayerNorm (one per position, shared by both streams, as
  released), a shared projection C -> `mea_dim` (192); shared information Q from both
  modalities' projections concatenated (2d -> d); per modality K, V (d -> d); single-head
  cross-attention of Q over that modality's K, V; each stream's refined feature is its
  attended feature plus the other modality's projected feature; a shared projection d -> C
  added to that stream. All projections are bias-free (1x1 convs in the released code).
  Template and search attend within themselves.
- Task-level adapter (TA) on the head's input: Linear C -> 192 -> 192 -> C with dropout 0.1
  (no activation, as released) on the fused search tokens, run by a forward pre-hook on
  `model.head`; the module sits at `model.patrack_task_adapter`.

What trains (PEFT mode): the adapters only; patch embedding, position and token-type
embeddings, blocks, final norm and head are frozen (`train_head: true` trains the head too).
A frozen head's BatchNorms (OSTrack design) stay in eval mode, as the released config's
FIX_BN. Parameters other methods attach are left as they are. The adapters' parameters form
the groups "adapters.mda", "adapters.mea" and "adapters.ta" (`PATrackMethod.parameter_group`).

Init `zero` (default): Linear weights truncated normal (std 0.02), biases 0, convs PyTorch's
default, and each adapter's output projection (MDA `up`, MEA `up`, TA `up`) zero, so the
adapted model equals the base dual-stream model exactly at step 0. `released`: the same
without the zeroing (timm's ViT init that the released backbone applies to its Linears).

Departures from the released code:
- MEA attention: the released code builds its (L, L) map as K^T Q and normalises over the
  shared-information positions, i.e. each position of the modality's *keys* queries Q; we
  compute cross-attention of Q (query) over the modality's K, V, as the paper describes.
- MEA logits are scaled by 1/sqrt(mea_dim) (`mea_scale: false` drops the scale, as released).
- The released code passes the MEA output through the block's frozen norm1 / norm2 before
  adding it (so the adapter term is never zero); we add it directly ("added residually"),
  which `init: zero` needs.
- TA: the released head reads TA(tokens) alone ("wo skip"); we default to tokens + TA(tokens)
  so the frozen head first sees the features it was trained on (`ta_residual: false`
  reproduces the released form; it needs `init: released`). The released TA sits outside the
  backbone's init and keeps PyTorch's default Linear init; `released` here uses trunc-normal
  for it too.
- The released config names a prompt type that trains the whole network; we train the
  adapters only (the paper's parameter-efficient setting).
- The released blocks each build both adapter kinds (plus two unused GEFM gates) and use one
  kind per layer, and the model holds an unused LayerNorm beside the TA: 13,148,880 adapter
  parameters for ViT-B, 3,732,120 of them used. We build only the used ones: 3,732,120
  trainable parameters for `patrack_b256_rgbt` (ViT-B, C 768), exactly the released used count.
- Any grid (never a token count: the released code hard-codes 64 template tokens, 8x8 /
  16x16 grids and 768 channels). On a grid of odd size the low-frequency branch averages the
  partial edge blocks over their cells (ceil-mode pooling) and crops the upsampled map.
- OSTrack's candidate elimination (the released RGB-D config keeps 70% of search tokens) is
  not implemented: the base model has none.
- Under multi-GPU training the trainer converts BatchNorm to SyncBatchNorm after `prepare`,
  which drops the eval-mode hook of a frozen head's BatchNorms.
"""

from __future__ import annotations

import re
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from tracktune.adapt.base import Method
from tracktune.errors import ConfigError
from tracktune.model.fusion import StreamBlock, TokenLayout
from tracktune.model.vit import init_vit_weights

TA_ATTRIBUTE = "patrack_task_adapter"
# parameter groups (TrackerModel.parameter_groups) PEFT mode freezes; "head" trains with train_head
FROZEN_GROUPS = ("patch_embed", "aux_patch_embed", "position", "type_embed", "blocks", "norm", "head")
_BLOCK_ADAPTER = re.compile(r"(?:^|\.)stream_blocks\.\d+\.(mda|mea)_(?:attn|mlp)\.")


# --------------------------------------------------------------------------------------
# Token <-> grid
# --------------------------------------------------------------------------------------


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, H*W, C) -> (B, C, H, W)."""
    batch, length, channels = tokens.shape
    if length != grid[0] * grid[1]:
        raise ValueError(f"{length} tokens do not form a {grid[0]}x{grid[1]} grid")
    return tokens.transpose(1, 2).reshape(batch, channels, grid[0], grid[1])


def grid_to_tokens(grid: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H*W, C)."""
    return grid.flatten(2).transpose(1, 2)


# --------------------------------------------------------------------------------------
# Modality-dependent adapter
# --------------------------------------------------------------------------------------


def low_frequency(x: torch.Tensor) -> torch.Tensor:
    """Each 2x2 block of a (B, C, H, W) map replaced by its mean (2x2 average pool, stride 2,
    then nearest x2 upsampling); on odd sizes the edge blocks are partial (their cells' mean)."""
    height, width = x.shape[-2:]
    pooled = F.avg_pool2d(x, 2, 2, ceil_mode=True)  # padding 0: partial windows divide by their cells
    return pooled.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[..., :height, :width]


class HighFrequency(nn.Module):
    """The MDA's high-frequency branch: half the channels through 1x1 conv -> depthwise 3x3 ->
    GELU, half through 3x3 max-pool -> 1x1 conv -> GELU; each half doubles its channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_in = channels // 2
        pool_in = channels - self.conv_in
        self.pointwise = nn.Conv2d(self.conv_in, 2 * self.conv_in, 1, bias=False)
        self.depthwise = nn.Conv2d(2 * self.conv_in, 2 * self.conv_in, 3, padding=1, groups=2 * self.conv_in,
                                   bias=False)
        self.pool_pointwise = nn.Conv2d(pool_in, 2 * pool_in, 1)
        self.out_channels = 2 * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = F.gelu(self.depthwise(self.pointwise(x[:, : self.conv_in])))
        pool = F.gelu(self.pool_pointwise(F.max_pool2d(x[:, self.conv_in:], 3, 1, 1)))
        return torch.cat([conv, pool], dim=1)


class ModalityDependentAdapter(nn.Module):
    """MDA (see the module docstring): tokens (B, Nz+Nx, C) of one stream -> its term (B, Nz+Nx, C)."""

    def __init__(self, dim: int, hidden: int = 8) -> None:
        super().__init__()
        self.high_dim = hidden // 2
        self.down = nn.Linear(dim, hidden)
        self.high = HighFrequency(self.high_dim)
        fused = self.high.out_channels + (hidden - self.high_dim)
        self.fuse = nn.Conv2d(fused, fused, 3, padding=1, groups=fused, bias=False)
        self.up = nn.Linear(fused, dim)

    @property
    def output_projection(self) -> nn.Linear:
        return self.up

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """(B, hidden, H, W) -> (B, fused, H, W): both frequency branches and the residual fusion."""
        mixed = torch.cat([self.high(x[:, : self.high_dim]), low_frequency(x[:, self.high_dim:])], dim=1)
        return mixed + self.fuse(mixed)

    def forward(self, tokens: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        template, search = layout.split(self.down(tokens))
        parts = [grid_to_tokens(self.mix(tokens_to_grid(part, grid)))
                 for part, grid in ((template, layout.template_grid), (search, layout.search_grid))]
        return self.up(torch.cat(parts, dim=1))


# --------------------------------------------------------------------------------------
# Modality-entangled adapter
# --------------------------------------------------------------------------------------


class ModalityEntangledAdapter(nn.Module):
    """MEA (see the module docstring): both streams' tokens -> each stream's term."""

    def __init__(self, dim: int, hidden: int = 192, scale: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.down = nn.Linear(dim, hidden, bias=False)
        self.shared = nn.Linear(2 * hidden, hidden, bias=False)
        self.key_rgb = nn.Linear(hidden, hidden, bias=False)
        self.value_rgb = nn.Linear(hidden, hidden, bias=False)
        self.key_aux = nn.Linear(hidden, hidden, bias=False)
        self.value_aux = nn.Linear(hidden, hidden, bias=False)
        self.up = nn.Linear(hidden, dim, bias=False)
        self.scale = hidden ** -0.5 if scale else 1.0

    @property
    def output_projection(self) -> nn.Linear:
        return self.up

    def attention(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """Single-head attention weights (B, Lq, Lk); each row sums to 1."""
        logits = torch.matmul(query, key.transpose(1, 2))
        if logits.dtype in (torch.float16, torch.bfloat16):  # softmax in float32 under autocast
            logits = logits.float()
        return torch.softmax(logits * self.scale, dim=-1).to(query.dtype)

    def entangle(self, rgb: torch.Tensor, aux: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected features of one token group (B, L, d) per modality -> refined (B, L, d) each."""
        shared = self.shared(torch.cat([rgb, aux], dim=-1))
        rgb_attended = torch.matmul(self.attention(shared, self.key_rgb(rgb)), self.value_rgb(rgb))
        aux_attended = torch.matmul(self.attention(shared, self.key_aux(aux)), self.value_aux(aux))
        return rgb_attended + aux, aux_attended + rgb

    def forward(self, rgb_tokens: torch.Tensor, aux_tokens: torch.Tensor,
                layout: TokenLayout) -> tuple[torch.Tensor, torch.Tensor]:
        rgb_template, rgb_search = layout.split(self.down(self.norm(rgb_tokens)))
        aux_template, aux_search = layout.split(self.down(self.norm(aux_tokens)))
        rgb_z, aux_z = self.entangle(rgb_template, aux_template)
        rgb_x, aux_x = self.entangle(rgb_search, aux_search)
        return self.up(torch.cat([rgb_z, rgb_x], dim=1)), self.up(torch.cat([aux_z, aux_x], dim=1))


# --------------------------------------------------------------------------------------
# Task-level adapter
# --------------------------------------------------------------------------------------


class TaskAdapter(nn.Module):
    """TA: fused search tokens (B, N, C) -> what the head reads (tokens + TA(tokens) by default)."""

    def __init__(self, dim: int, hidden: int = 192, dropout: float = 0.1, residual: bool = True) -> None:
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Linear(hidden, dim)
        self.residual = residual

    @property
    def output_projection(self) -> nn.Linear:
        return self.up

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        delta = self.up(self.dropout(self.mid(self.down(tokens))))
        return tokens + delta if self.residual else delta

    def head_pre_hook(self, head: nn.Module, args: tuple) -> tuple:
        """Forward pre-hook on `model.head` (a bound method, so `copy.deepcopy(model)` rebinds it)."""
        return (self(args[0]),) + tuple(args[1:])


# --------------------------------------------------------------------------------------
# The dual-stream block step
# --------------------------------------------------------------------------------------


class PATrackStreamBlock(StreamBlock):
    """Replaces `DualStreamFusion.stream_blocks[i]`: the shared block on each stream plus the
    block's adapters (MDA and / or MEA, at the attention and at the MLP position)."""

    def __init__(self, dim: int, config, mda: bool, mea: bool) -> None:
        super().__init__()
        if mda:
            self.mda_attn = ModalityDependentAdapter(dim, config.mda_dim)
            self.mda_mlp = ModalityDependentAdapter(dim, config.mda_dim)
        if mea:
            self.mea_attn = ModalityEntangledAdapter(dim, config.mea_dim, config.mea_scale)
            self.mea_mlp = ModalityEntangledAdapter(dim, config.mea_dim, config.mea_scale)

    @staticmethod
    def _step(block, rgb, aux, layout, residual, norm, mda, mea):
        new_rgb = rgb + residual(rgb)
        new_aux = aux + residual(aux)
        if mda is not None:  # each stream gets the MDA of the other stream's normalised tokens
            terms = mda(torch.cat([norm(aux), norm(rgb)], dim=0), layout)
            to_rgb, to_aux = terms[:rgb.shape[0]], terms[rgb.shape[0]:]  # not chunk(2): it fixes an ONNX batch
            new_rgb = new_rgb + block.drop_path(to_rgb)
            new_aux = new_aux + block.drop_path(to_aux)
        if mea is not None:
            to_rgb, to_aux = mea(rgb, aux, layout)
            new_rgb = new_rgb + block.drop_path(to_rgb)
            new_aux = new_aux + block.drop_path(to_aux)
        return new_rgb, new_aux

    def forward(self, block, rgb_tokens, aux_tokens, layout):
        rgb, aux = self._step(block, rgb_tokens, aux_tokens, layout, block.attention_residual, block.norm1,
                              getattr(self, "mda_attn", None), getattr(self, "mea_attn", None))
        return self._step(block, rgb, aux, layout, block.mlp_residual, block.norm2,
                          getattr(self, "mda_mlp", None), getattr(self, "mea_mlp", None))


# --------------------------------------------------------------------------------------
# Attaching, initialising, what trains
# --------------------------------------------------------------------------------------


def adapter_layers(config, depth: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(MDA blocks, MEA blocks), 0-based, checked against the model's depth."""
    for key in ("mea_layers", "mda_layers"):
        layers = getattr(config, key)
        if layers is None:
            continue
        bad = [i for i in layers if not 0 <= i < depth]
        if bad:
            raise ConfigError(f"patrack.{key}: {bad} out of range for a {depth}-block model (0-based block indices)")
    mea = tuple(sorted(set(config.mea_layers)))
    if config.mda_layers is None:
        mda = tuple(i for i in range(depth) if i not in mea)
    else:
        mda = tuple(sorted(set(config.mda_layers)))
    return mda, mea


def check_config(config) -> None:
    if config.mda_dim < 4:
        raise ConfigError(f"patrack.mda_dim: {config.mda_dim} is too small (at least 4: two high-frequency "
                          "sub-branches of at least one channel and a low-frequency half)")
    for key in ("mea_dim", "ta_dim"):
        if getattr(config, key) < 1:
            raise ConfigError(f"patrack.{key}: must be positive, got {getattr(config, key)}")
    if not 0.0 <= config.ta_dropout < 1.0:
        raise ConfigError(f"patrack.ta_dropout: {config.ta_dropout} is not in [0, 1)")
    if config.init not in ("zero", "released"):
        raise ConfigError(f"patrack.init: unknown {config.init!r} (zero or released)")
    if not config.ta_residual and config.init == "zero":
        raise ConfigError("patrack.ta_residual: false with init: zero would feed the head zeros; "
                          "use init: released (the released form) or keep ta_residual: true")


def init_adapter(module: nn.Module, mode: str) -> None:
    """Linear weights trunc-normal (0.02), biases 0, LayerNorm (1, 0), convs as built; `zero`
    also zeroes the output projection."""
    with torch.no_grad():
        init_vit_weights(module)
        if mode == "zero":
            for m in module.modules():
                projection = getattr(m, "output_projection", None)
                if isinstance(projection, nn.Linear):
                    nn.init.zeros_(projection.weight)
                    if projection.bias is not None:
                        nn.init.zeros_(projection.bias)


def adapter_kind(name: str) -> Optional[str]:
    """"mda", "mea" or "ta" for a PATrack parameter name, None otherwise."""
    if name.startswith(TA_ATTRIBUTE + ".") or f".{TA_ATTRIBUTE}." in name:
        return "ta"
    match = _BLOCK_ADAPTER.search(name)
    return match.group(1) if match else None


def _batchnorm_eval(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: a frozen BatchNorm normalises with its running statistics (FIX_BN)."""
    module.training = False


def attach_patrack(model: nn.Module, config) -> nn.Module:
    """Replace the dual-stream block steps and hook the TA onto the head (initialised per `config.init`)."""
    if getattr(model, "fusion", None) != "dual_stream":
        raise ConfigError(f"methods [patrack] needs model.fusion: dual_stream (got {getattr(model, 'fusion', None)!r})")
    if hasattr(model, TA_ATTRIBUTE):
        raise ConfigError("methods: patrack is listed twice")
    check_config(config)
    mda_layers, mea_layers = adapter_layers(config, model.depth)
    reference = next(model.parameters())
    dim = model.embed_dim
    with torch.device(reference.device):
        stream_blocks = model.fusion_module.stream_blocks
        for i in range(model.depth):
            if i in mda_layers or i in mea_layers:
                step = PATrackStreamBlock(dim, config, mda=i in mda_layers, mea=i in mea_layers)
                init_adapter(step, config.init)
                stream_blocks[i] = step
        task_adapter = TaskAdapter(dim, config.ta_dim, config.ta_dropout, config.ta_residual)
        init_adapter(task_adapter, config.init)
    setattr(model, TA_ATTRIBUTE, task_adapter)
    model.head.register_forward_pre_hook(task_adapter.head_pre_hook)
    return model


def set_patrack_trainable(model: nn.Module, train_head: bool) -> None:
    """Adapters train; the base groups freeze (the head trains with `train_head`)."""
    for name, parameter in model.named_parameters():
        if adapter_kind(name) is not None:
            parameter.requires_grad_(True)
            continue
        group = model.parameter_group(name)
        if group == "head" and train_head:
            parameter.requires_grad_(True)
        elif group in FROZEN_GROUPS:
            parameter.requires_grad_(False)
    if not train_head:
        for module in model.head.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.register_forward_pre_hook(_batchnorm_eval)


class PATrackMethod(Method):
    """`methods: [patrack]` (see the module docstring)."""

    name = "patrack"
    trains = True
    fusions = ("dual_stream",)
    parameter_groups = ("adapters.mda", "adapters.mea", "adapters.ta")

    @classmethod
    def parameter_group(cls, name: str) -> Optional[str]:
        """"adapters.<kind>" (mda, mea, ta) for an adapter parameter."""
        kind = adapter_kind(name)
        return f"adapters.{kind}" if kind else None

    def prepare(self, model: nn.Module) -> nn.Module:
        config = self.config.patrack
        model = attach_patrack(model, config)
        set_patrack_trainable(model, config.train_head)
        return model
