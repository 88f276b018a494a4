"""How the auxiliary modality (thermal, depth, event; a 3-channel image aligned with RGB) enters.

docs/models.md#fusion-schemes. Each scheme is an `nn.Module` holding only its own parameters; it is
called as `fusion_module(model, template_rgb, search_rgb, template_aux, search_aux,
template_mask, return_blocks)` and builds tokens with the model's shared parts (patch
embedding, position and token-type embeddings, blocks, final norm), returning the fused,
normalised search tokens the head reads (B, Gh*Gw, C) and the requested block outputs as
search grids {i: (B, C, Gh, Gw)}.

- `rgb`: the RGB tracker; no auxiliary input.
- `early_add` (ViPT-shallow style): X has its own patch embedding `aux_patch_embed`
  (initialised from the RGB one at import, and trained by LoRA); X's patch tokens are added
  to RGB's before position / type embeddings and the blocks, so RGB+X costs what RGB costs
  plus one patch embedding.
- `dual_stream` (BAT / PATrack): RGB and X each form a template+search sequence with the
  shared patch embedding and embeddings; both run through the same blocks; the final search
  tokens of the two streams are normalised and summed before the head.
  ADAPTER HOOK: the block loop calls `stream_blocks[i](block, rgb_tokens, aux_tokens,
  layout)` for block i and takes back `(rgb_tokens, aux_tokens)`. The default
  `StreamBlock` runs the shared block on each stream alone. A method that exchanges
  information between the streams (PATrack) replaces entries of
  `model.fusion_module.stream_blocks` with its own modules, which may call
  `block.attention_residual(x)` / `block.mlp_residual(x)` and add their terms read from
  both streams; `layout.split(tokens)` and `layout.template_grid` / `layout.search_grid`
  give the template and search parts and their grids. Parameters of those modules land in
  the "adapters" parameter group.
- `token_concat` (GOLA / MMLoRAT style): one sequence of four groups z_rgb, x_rgb, z_x, x_x.
  Every token carries the design's position (and, LoRAT design, token-type) embedding, plus
  a learned modality embedding `modality_embed` (2, C): row 0 for RGB, row 1 for X. The head
  reads the mean of the two normalised search groups (the mean, not the sum, keeps the
  scale an RGB head was trained on).
- `dual_branch` (SRFT's tracker, `DualBranchFusion`): an X branch with its own copies of the
  patch embedding, blocks and norm, fusion blocks over both branches' tokens after blocks
  2, 5, 8, 11; the head reads the mean of the two branches' normalised search tokens.

A scheme may map its parameters to the model's parameter groups by overriding
`parameter_group(local_name)` (anything it leaves unnamed is grouped as "adapters"), and name
the RGB part each of its parameters starts as a copy of when an RGB checkpoint is imported by
overriding `pretrained_counterpart(local_name)` (None: a new parameter, kept at random init).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

import torch
from torch import nn

from tracktune.model.vit import Block, PatchEmbed

if TYPE_CHECKING:
    from tracktune.model.tracker_model import TrackerModel


@dataclass(frozen=True)
class TokenLayout:
    """Where template and search tokens sit in one stream's sequence: [template | search]."""

    template_grid: tuple[int, int]
    search_grid: tuple[int, int]

    @property
    def template_len(self) -> int:
        return self.template_grid[0] * self.template_grid[1]

    @property
    def search_len(self) -> int:
        return self.search_grid[0] * self.search_grid[1]

    def split(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Nz+Nx, C) -> template (B, Nz, C), search (B, Nx, C)."""
        return tokens[:, : self.template_len], tokens[:, self.template_len:]


class FusionModule(nn.Module):
    """Base of the fusion schemes (see the module docstring for the calling convention)."""

    needs_aux = True

    def parameter_group(self, local_name: str) -> Optional[str]:
        return None

    def pretrained_counterpart(self, local_name: str) -> Optional[str]:
        """The model entry an RGB checkpoint fills that this entry starts as a copy of (None: new)."""
        return None

    def check_aux(self, template_aux, search_aux) -> None:
        if self.needs_aux and (template_aux is None or search_aux is None):
            raise ValueError(f"fusion {type(self).__name__} needs template_aux and search_aux images")

    def forward(self, model: "TrackerModel", template_rgb, search_rgb, template_aux, search_aux, template_mask,
                return_blocks) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        raise NotImplementedError


def _single_sequence(model: "TrackerModel", template: torch.Tensor, search: torch.Tensor,
                     return_blocks) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Run [template | search] tokens through the blocks; the normalised search tokens."""
    layout = model.layout
    tokens = torch.cat([template, search], dim=1)
    tokens, grids = model.run_blocks(tokens, lambda t: layout.split(t)[1], return_blocks)
    return model.norm(layout.split(tokens)[1]), grids


class RgbFusion(FusionModule):
    needs_aux = False

    def forward(self, model, template_rgb, search_rgb, template_aux, search_aux, template_mask, return_blocks):
        template = model.add_embeddings(model.patch_tokens(template_rgb), "template", template_mask)
        search = model.add_embeddings(model.patch_tokens(search_rgb), "search")
        return _single_sequence(model, template, search, return_blocks)


class EarlyAddFusion(FusionModule):
    def __init__(self, model: "TrackerModel") -> None:
        super().__init__()
        self.aux_patch_embed = PatchEmbed(model.patch_size, model.embed_dim)

    def parameter_group(self, local_name: str) -> Optional[str]:
        return "aux_patch_embed" if local_name.startswith("aux_patch_embed.") else None

    def pretrained_counterpart(self, local_name: str) -> Optional[str]:
        return local_name[len("aux_"):] if local_name.startswith("aux_patch_embed.") else None

    def forward(self, model, template_rgb, search_rgb, template_aux, search_aux, template_mask, return_blocks):
        self.check_aux(template_aux, search_aux)
        template = model.patch_tokens(template_rgb) + model.patch_tokens(template_aux, self.aux_patch_embed)
        search = model.patch_tokens(search_rgb) + model.patch_tokens(search_aux, self.aux_patch_embed)
        template = model.add_embeddings(template, "template", template_mask)
        search = model.add_embeddings(search, "search")
        return _single_sequence(model, template, search, return_blocks)


class StreamBlock(nn.Module):
    """The default per-block step of `dual_stream`: the shared block on each stream alone."""

    def forward(self, block: Block, rgb_tokens: torch.Tensor, aux_tokens: torch.Tensor,
                layout: TokenLayout) -> tuple[torch.Tensor, torch.Tensor]:
        return block(rgb_tokens), block(aux_tokens)


class DualStreamFusion(FusionModule):
    def __init__(self, model: "TrackerModel") -> None:
        super().__init__()
        self.stream_blocks = nn.ModuleList(StreamBlock() for _ in range(model.depth))

    def forward(self, model, template_rgb, search_rgb, template_aux, search_aux, template_mask, return_blocks):
        self.check_aux(template_aux, search_aux)
        layout = model.layout
        streams = []
        for template_image, search_image in ((template_rgb, search_rgb), (template_aux, search_aux)):
            template = model.add_embeddings(model.patch_tokens(template_image), "template", template_mask)
            search = model.add_embeddings(model.patch_tokens(search_image), "search")
            streams.append(torch.cat([template, search], dim=1))
        rgb_tokens, aux_tokens = streams
        grids = {}
        for i, block in enumerate(model.blocks):
            rgb_tokens, aux_tokens = self.stream_blocks[i](block, rgb_tokens, aux_tokens, layout)
            if i in return_blocks:
                grids[i] = model.search_grid_map(layout.split(rgb_tokens)[1] + layout.split(aux_tokens)[1])
        fused = model.norm(layout.split(rgb_tokens)[1]) + model.norm(layout.split(aux_tokens)[1])
        return fused, grids


class TokenConcatFusion(FusionModule):
    def __init__(self, model: "TrackerModel") -> None:
        super().__init__()
        self.modality_embed = nn.Parameter(torch.empty(2, model.embed_dim))
        nn.init.trunc_normal_(self.modality_embed, std=0.02)

    def parameter_group(self, local_name: str) -> Optional[str]:
        return "type_embed" if local_name == "modality_embed" else None

    def forward(self, model, template_rgb, search_rgb, template_aux, search_aux, template_mask, return_blocks):
        self.check_aux(template_aux, search_aux)
        groups = []
        for modality, (template_image, search_image) in enumerate(((template_rgb, search_rgb),
                                                                   (template_aux, search_aux))):
            template = model.add_embeddings(model.patch_tokens(template_image), "template", template_mask)
            search = model.add_embeddings(model.patch_tokens(search_image), "search")
            embed = self.modality_embed[modality].to(template.dtype)
            groups += [template + embed, search + embed]
        tokens = torch.cat(groups, dim=1)  # [z_rgb | x_rgb | z_x | x_x]
        nz, nx = model.layout.template_len, model.layout.search_len

        def fused_search(t: torch.Tensor) -> torch.Tensor:
            return (t[:, nz: nz + nx] + t[:, 2 * nz + nx:]) / 2

        tokens, grids = model.run_blocks(tokens, fused_search, return_blocks)
        return fused_search(model.norm(tokens)), grids


def fusion_block_indices(depth: int) -> tuple[int, ...]:
    """Blocks after which `dual_branch` fuses: 2, 5, 8, 11 for 12 blocks (SRTrack), the same
    quarters of other depths (0, 1, 2, 3 for 4 blocks)."""
    return tuple(sorted({(k + 1) * depth // 4 - 1 for k in range(4)} - {-1}))


class DualBranchFusion(FusionModule):
    """SRFT's tracker (SRTrack; docs/methods.md#srft): two branches with their own weights.

    The RGB branch is the model's own patch embedding, blocks and norm; the X branch is this
    module's copies `aux_patch_embed`, `aux_blocks`, `aux_norm` (position and token-type
    embeddings are shared, as in the released code). After the blocks in
    `fusion_block_indices`, a fusion block (a copy of the pretrained block of that index)
    runs over [rgb tokens | x tokens] and hands each branch back its part. The head reads the
    mean of the two branches' normalised search tokens. Importing an RGB checkpoint fills
    every copy from the RGB weights (`pretrained_counterpart`).
    """

    def __init__(self, model: "TrackerModel") -> None:
        super().__init__()
        self.fusion_indices = fusion_block_indices(model.depth)
        self.aux_patch_embed = copy.deepcopy(model.patch_embed)
        self.aux_blocks = copy.deepcopy(model.blocks)
        self.aux_norm = copy.deepcopy(model.norm)
        self.fusion_blocks = nn.ModuleList(copy.deepcopy(model.blocks[i]) for i in self.fusion_indices)

    def pretrained_counterpart(self, local_name: str) -> Optional[str]:
        """Both branches and the fusion blocks start from the RGB weights."""
        for prefix in ("aux_patch_embed.", "aux_blocks.", "aux_norm."):
            if local_name.startswith(prefix):
                return local_name[len("aux_"):]
        if local_name.startswith("fusion_blocks."):
            _, index, rest = local_name.split(".", 2)
            return f"blocks.{self.fusion_indices[int(index)]}.{rest}"
        return None

    def parameter_group(self, local_name: str) -> Optional[str]:
        if local_name.startswith("aux_patch_embed."):
            return "aux_patch_embed"
        if local_name.startswith(("aux_blocks.", "fusion_blocks.")):
            return "blocks"
        if local_name.startswith("aux_norm."):
            return "norm"
        return None

    def forward(self, model, template_rgb, search_rgb, template_aux, search_aux, template_mask, return_blocks):
        self.check_aux(template_aux, search_aux)
        layout = model.layout
        branches = []
        for template_image, search_image, patch_embed in ((template_rgb, search_rgb, None),
                                                          (template_aux, search_aux, self.aux_patch_embed)):
            template = model.add_embeddings(model.patch_tokens(template_image, patch_embed), "template", template_mask)
            search = model.add_embeddings(model.patch_tokens(search_image, patch_embed), "search")
            branches.append(torch.cat([template, search], dim=1))
        rgb_tokens, aux_tokens = branches  # (B, Nz+Nx, C) each
        length = rgb_tokens.shape[1]
        fusion_of = {index: j for j, index in enumerate(self.fusion_indices)}
        grids = {}
        for i, (rgb_block, aux_block) in enumerate(zip(model.blocks, self.aux_blocks)):
            rgb_tokens, aux_tokens = rgb_block(rgb_tokens), aux_block(aux_tokens)
            if i in fusion_of:
                joint = self.fusion_blocks[fusion_of[i]](torch.cat([rgb_tokens, aux_tokens], dim=1))  # (B, 2N, C)
                rgb_tokens, aux_tokens = joint[:, :length], joint[:, length:]
            if i in return_blocks:
                grids[i] = model.search_grid_map((layout.split(rgb_tokens)[1] + layout.split(aux_tokens)[1]) / 2)
        fused = (model.norm(layout.split(rgb_tokens)[1]) + self.aux_norm(layout.split(aux_tokens)[1])) / 2
        return fused, grids


# name -> fusion scheme; the model builds `FUSIONS[config.model.fusion](model)`.
FUSIONS: dict[str, Callable[["TrackerModel"], FusionModule]] = {
    "rgb": lambda model: RgbFusion(),
    "early_add": EarlyAddFusion,
    "dual_stream": DualStreamFusion,
    "token_concat": TokenConcatFusion,
    "dual_branch": DualBranchFusion,
}
