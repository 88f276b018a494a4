"""Vision Transformer blocks: the backbone every tracker design shares.

Sources: ViT (Dosovitskiy et al., ICLR 2021) as laid out by timm's `vision_transformer.py`;
DINOv2 (Oquab et al., 2023; facebookresearch/dinov2) for layer-scale (`ls1.gamma`,
`ls2.gamma`) and the SwiGLU MLP of ViT-g (`mlp.w12`, `mlp.w3`); stochastic depth (Huang et
al., 2016) as timm's `DropPath`.

Departures from the released code, and why:
- Attention holds three Linears `q`, `k`, `v` instead of one fused `qkv` Linear. LoRAT puts
  a separate LoRA on each of q, k and v; with three plain `nn.Linear`s, peft wraps each one
  by name and SRFT's K-FAC sees three ordinary layers. Checkpoints keep the fused layout:
  `model/pretrained.py` splits `attn.qkv.weight` (3C, C) row-wise into q, k, v. Three
  (N, C) x (C, C) GEMMs run as fast as one (N, C) x (C, 3C) on the CPUs we measured.
- No class token, register tokens or mask token: a tracker reads patch tokens only (LoRAT
  and OSTrack both drop the class token's output); the importer discards those keys by name.
- Attention is `F.scaled_dot_product_attention` (flash / memory-efficient kernels where the
  device has them), except bf16 on CPU, where two explicit batched matmuls are about 3x faster
  (`explicit_attention`); no attention dropout (neither tracker uses it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tracktune.config import VIT_SIZES


@dataclass(frozen=True)
class ViTSpec:
    """The shape of a ViT backbone."""

    embed_dim: int
    depth: int
    num_heads: int
    mlp_hidden: int  # hidden width of the MLP (per branch for SwiGLU)
    swiglu: bool = False  # DINOv2 ViT-g's SwiGLU MLP (`w12`, `w3`) instead of GELU (`fc1`, `fc2`)
    layer_scale: bool = True  # DINOv2's per-channel residual scales `ls1`, `ls2`

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


def swiglu_hidden(embed_dim: int, mlp_ratio: float = 4.0) -> int:
    """DINOv2's SwiGLU width: 2/3 of the GELU MLP's, rounded up to a multiple of 8 (4096 for g)."""
    return (int(embed_dim * mlp_ratio * 2 / 3) + 7) // 8 * 8


# VIT_SIZES: (embed_dim, depth, num_heads) of the named sizes, one table in `tracktune.config`
# (which reads no torch); tiny is DeiT-Ti's shape (no DINOv2 weights exist for it; tests and the
# demo shrink it further through `model.depth` / `model.embed_dim` overrides).


def vit_spec(size: str, layer_scale: bool = True, embed_dim: int | None = None, depth: int | None = None,
             num_heads: int | None = None) -> ViTSpec:
    """The spec of a named size, with optional overrides (tiny test and demo models)."""
    if size not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {size!r}; choose one of {sorted(VIT_SIZES)}")
    dim, blocks, heads = VIT_SIZES[size]
    dim, blocks, heads = embed_dim or dim, depth or blocks, num_heads or heads
    if dim % heads:
        raise ValueError(f"embed_dim {dim} is not divisible by num_heads {heads}")
    swiglu = size == "giant"
    hidden = swiglu_hidden(dim) if swiglu else 4 * dim
    return ViTSpec(dim, blocks, heads, hidden, swiglu=swiglu, layer_scale=layer_scale)


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens: (B, 3, H, W) -> (B, H/p * W/p, C), row-major."""

    def __init__(self, patch_size: int, embed_dim: int, in_channels: int = 3) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _, _, height, width = images.shape
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {self.patch_size}")
        return self.proj(images).flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)


class Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v projections (see the module docstring)."""

    def __init__(self, dim: int, num_heads: int, bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(dim, dim, bias=bias)
        self.v = nn.Linear(dim, dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, tokens: torch.Tensor, return_weights: bool = False):
        """(B, N, C) -> (B, N, C); with `return_weights`, also the softmax attention weights
        (B, heads, N, N) (computed explicitly; OSTrack's candidate elimination reads them)."""
        batch, length, dim = tokens.shape
        heads = self.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, heads, N, C/heads)
            return t.view(batch, length, heads, dim // heads).transpose(1, 2)

        q, k, v = split(self.q(tokens)), split(self.k(tokens)), split(self.v(tokens))
        if return_weights:
            weights = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            attended = weights @ v
            return self.proj(attended.transpose(1, 2).reshape(batch, length, dim)), weights
        if q.device.type == "cpu" and q.dtype == torch.bfloat16:
            attended = explicit_attention(q, k, v)
        else:
            attended = F.scaled_dot_product_attention(q, k, v)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, dim))


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v as two batched matmuls: for bf16 on CPU, about 3x faster than
    SDPA's fused CPU kernel at tracker sequence lengths (320 tokens, head dim 64: 1.7 vs 4.8 ms
    per block on one core), since the (N, N) weights are small and oneDNN's bf16 GEMMs are fast."""
    weights = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    return weights.softmax(dim=-1) @ v


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (ViT's MLP; keys `fc1`, `fc2`)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(tokens)))


class SwiGLUMlp(nn.Module):
    """SwiGLU (Shazeer 2020) as DINOv2 ViT-g: `w3(silu(a) * b)` with `a, b = w12(x).chunk(2)`."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        gate, value = self.w12(tokens).chunk(2, dim=-1)
        return self.w3(F.silu(gate) * value)


class LayerScale(nn.Module):
    """Per-channel residual scale (CaiT / DINOv2; key `gamma`)."""

    def __init__(self, dim: int, init: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drop a sample's whole residual branch with probability p in training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return branch
        keep = 1.0 - self.p
        mask = branch.new_empty((branch.shape[0],) + (1,) * (branch.ndim - 1)).bernoulli_(keep)
        return branch * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: `x + attention_residual(x)`, then `+ mlp_residual(x)`.

    The two residual branches are methods so that adapters (PATrack, dual-stream fusion) can
    run them and add their own terms beside them without re-implementing the block.
    """

    def __init__(self, spec: ViTSpec, drop_path: float = 0.0) -> None:
        super().__init__()
        dim = spec.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, spec.num_heads)
        self.ls1 = LayerScale(dim) if spec.layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = SwiGLUMlp(dim, spec.mlp_hidden) if spec.swiglu else Mlp(dim, spec.mlp_hidden)
        self.ls2 = LayerScale(dim) if spec.layer_scale else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def attention_residual(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.ls1(self.attn(self.norm1(tokens))))

    def mlp_residual(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.ls2(self.mlp(self.norm2(tokens))))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, N, C)
        tokens = tokens + self.attention_residual(tokens)
        return tokens + self.mlp_residual(tokens)


def build_blocks(spec: ViTSpec, drop_path: float = 0.0) -> nn.ModuleList:
    """`spec.depth` blocks with drop-path rising linearly from 0 to `drop_path` (timm's rule)."""
    rates = [drop_path * i / (spec.depth - 1) for i in range(spec.depth)] if spec.depth > 1 else [drop_path]
    return nn.ModuleList(Block(spec, rate) for rate in rates)


def init_vit_weights(module: nn.Module) -> None:
    """timm's ViT init: Linear weights trunc-normal(0.02), biases 0, LayerNorm (1, 0)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
