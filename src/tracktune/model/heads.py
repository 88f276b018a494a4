"""Prediction heads: search tokens -> a score logit and a box per search-grid cell.

Sources: LoRAT (Lin et al., ECCV 2024; LitingLin/LoRAT, `modules/head/mlp.py`) for the MLP
anchor-free head; OSTrack (Ye et al., ECCV 2022; botaoye/OSTrack, `lib/models/layers/head.py`)
for the convolutional centre head. Parameter names follow the released code
(`cls_mlp.layers.N`, `reg_mlp.layers.N`; `convK_{ctr,offset,size}.{0,1}`) so their
checkpoints import by renaming the prefix only.

Both heads return `score_logits` (B, Gh, Gw), raw, and `boxes` (B, Gh, Gw, 4): every cell's
box as normalised xyxy in the search crop, in float32 whatever the compute dtype.

Departures: OSTrack's head applies a clamped sigmoid to the score map inside the head and
decodes a box at the argmax only; ours returns raw logits (the loss and the tracker apply
the sigmoid) and decodes every cell's box, so both designs share one output contract. Its
size sigmoid is not clamped to [1e-4, 1 - 1e-4] (the clamp matters for its focal loss
only, which reads the score map, not the sizes).
"""

from __future__ import annotations

import torch
from torch import nn


def cell_centres(grid_h: int, grid_w: int, device=None) -> torch.Tensor:
    """(Gh, Gw, 2) normalised (x, y) centres of the cells of a grid over the unit square."""
    ys = (torch.arange(grid_h, dtype=torch.float32, device=device) + 0.5) / grid_h
    xs = (torch.arange(grid_w, dtype=torch.float32, device=device) + 0.5) / grid_w
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)


class MlpStack(nn.Module):
    """`num_layers` Linears with GELU between them (LoRAT's `Mlp`; key `layers.N`)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int = 3) -> None:
        super().__init__()
        widths = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = nn.GELU()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if i < len(self.layers) - 1:
                tokens = self.act(tokens)
        return tokens


class MlpAnchorFreeHead(nn.Module):
    """LoRAT's head: per search token, one score logit and (l, t, r, b) = sigmoid(4 values),
    distances from the cell centre to the box sides as fractions of the crop size."""

    def __init__(self, dim: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = grid
        self.cls_mlp = MlpStack(dim, dim, 1)
        self.reg_mlp = MlpStack(dim, dim, 4)
        self.register_buffer("centres", cell_centres(*grid), persistent=False)  # (Gh, Gw, 2)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, search_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = search_tokens.shape[0]
        grid_h, grid_w = self.grid
        score_logits = self.cls_mlp(search_tokens).float().view(batch, grid_h, grid_w)
        distances = self.reg_mlp(search_tokens).float().sigmoid().view(batch, grid_h, grid_w, 4)
        centres = self.centres.float()
        boxes = torch.cat([centres - distances[..., :2], centres + distances[..., 2:]], dim=-1)
        return {"score_logits": score_logits, "boxes": boxes}


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv + BatchNorm + ReLU (OSTrack's `conv`; keys `0.*`, `1.*`)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CenterHead(nn.Module):
    """OSTrack's centre head: three conv towers (C -> ch -> ch/2 -> ch/4 -> ch/8 -> out) for the
    centre score, the sub-cell offset of the centre and the normalised box size.

    Cell (i, j)'s box: centre ((j + dx) / Gw, (i + dy) / Gh) and size sigmoid(w, h), as
    OSTrack's `cal_bbox` decodes the argmax cell.
    """

    branches = ("ctr", "offset", "size")

    def __init__(self, dim: int, grid: tuple[int, int], channels: int = 256) -> None:
        super().__init__()
        self.grid = grid
        widths = [dim, channels, channels // 2, channels // 4, channels // 8]
        outputs = {"ctr": 1, "offset": 2, "size": 2}
        for branch in self.branches:
            for k in range(4):
                self.add_module(f"conv{k + 1}_{branch}", conv_bn_relu(widths[k], widths[k + 1]))
            self.add_module(f"conv5_{branch}", nn.Conv2d(widths[4], outputs[branch], kernel_size=1))
        grid_h, grid_w = grid
        ys = torch.arange(grid_h, dtype=torch.float32).view(grid_h, 1).expand(grid_h, grid_w)
        xs = torch.arange(grid_w, dtype=torch.float32).view(1, grid_w).expand(grid_h, grid_w)
        self.register_buffer("cell_index", torch.stack([xs, ys], dim=-1), persistent=False)  # (Gh, Gw, 2)
        # a buffer, not a tensor built per call: no host-to-device copy in the forward (CUDA graphs)
        self.register_buffer("grid_scale", torch.tensor([grid_w, grid_h], dtype=torch.float32), persistent=False)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def tower(self, branch: str, feature_map: torch.Tensor) -> torch.Tensor:
        for k in range(1, 6):
            feature_map = getattr(self, f"conv{k}_{branch}")(feature_map)
        return feature_map

    def forward(self, search_tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, _, dim = search_tokens.shape
        grid_h, grid_w = self.grid
        feature_map = search_tokens.transpose(1, 2).reshape(batch, dim, grid_h, grid_w)
        score_logits = self.tower("ctr", feature_map).float()[:, 0]  # (B, Gh, Gw)
        offset = self.tower("offset", feature_map).float().permute(0, 2, 3, 1)  # (B, Gh, Gw, 2)
        size = self.tower("size", feature_map).float().sigmoid().permute(0, 2, 3, 1)  # (B, Gh, Gw, 2)
        centre = (self.cell_index.float() + offset) / self.grid_scale.float()
        boxes = torch.cat([centre - size / 2, centre + size / 2], dim=-1)
        return {"score_logits": score_logits, "boxes": boxes}
