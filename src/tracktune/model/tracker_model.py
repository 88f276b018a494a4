"""The one-stream ViT tracker: embeddings, fusion, backbone blocks, head (docs/models.md).

Sources: LoRAT (Lin et al., ECCV 2024; LitingLin/LoRAT, `trackit/models/methods/LoRAT/lorat.py`)
for the LoRAT design; OSTrack (Ye et al., ECCV 2022; botaoye/OSTrack,
`lib/models/ostrack/base_backbone.py`) for the OSTrack design.

Template crop z and search crop x are patch-embedded, given position (and token-type)
embeddings, joined into one sequence, run through the blocks and the final norm; the search
tokens go to the head. How an auxiliary image joins in is the fusion scheme's business
(`model/fusion.py`).

LoRAT design: one spatial position embedding `pos_embed` (1, Gh*Gw, C) sized to the search
grid (bicubic resize of the pretrained grid at import); template tokens take its top-left
zh x zw block; token-type embedding `token_type_embed` (3, C): row 0 template background,
row 1 template foreground (the patches the template box touches, `template_mask`), row 2
search. MLP anchor-free head. OSTrack design: separate `pos_embed_z`, `pos_embed_x`, no
token types, convolutional centre head.

Candidate elimination (OSTrack design; botaoye/OSTrack `lib/models/layers/attn_blocks.py`
`candidate_elimination` / `CEBlock`, `lib/models/ostrack/vit_ce.py` `forward_features`,
`lib/utils/ce_utils.py` `generate_mask_cond` / `adjust_keep_rate`): after the attention of
each block in `ce_loc` (0-based, as OSTrack's `CE_LOC`: released OSTrack-256 [3, 6, 9]), the
search tokens are ranked by the attention the template centre token pays them (mean over the
centre rows and the heads; `CE_TEMPLATE_RANGE: CTR_POINT`, the centre cell
`((Gz - 1) // 2, (Gz - 1) // 2)`), and only the first `ceil(keep_ratio * current count)` stay
for the block's MLP and the later blocks. After the final norm the kept tokens go back to
their original positions and the eliminated ones are zeros, which the head reads. In training
the keep ratio follows OSTrack's warm-up (`set_keep_ratio(progress)`: 1 before `ce_start`,
then a half cosine down to the block ratio over `ce_warm`, both fractions of training; OSTrack
counts whole epochs, 20 and 80 of 300); in eval mode each block uses its own ratio.
Candidate elimination runs with the single-sequence fusions (`rgb`, `early_add`).

Departures: images come in as uint8 (or float 0..255) and are normalised here with the
ImageNet mean / std, so callers never need to know the convention. LoRAT's released model
indexes its (W, H)-ordered sizes; ours are (H, W) throughout (the same for square crops).
The template-centre cell for grids OSTrack has no entry for follows the same rule
((G - 1) // 2; OSTrack raises).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn

from tracktune.errors import ConfigError
from tracktune.model.fusion import FUSIONS, TokenLayout
from tracktune.model.heads import CenterHead, MlpAnchorFreeHead
from tracktune.model.vit import PatchEmbed, ViTSpec, build_blocks, init_vit_weights, vit_spec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# parameter groups of the base model (`TrackerModel.parameter_groups`); what an adaptation
# method attaches goes to the groups it registers (`add_parameter_groups`), else "adapters"
GROUPS = ("patch_embed", "aux_patch_embed", "position", "type_embed", "blocks", "norm", "head", "adapters")

CENTER_HEAD_CHANNELS = 256  # OSTrack's MODEL.HEAD.NUM_CHANNELS


class TrackerModel(nn.Module):
    """See the module docstring. `forward` returns the dict described in docs/INTERFACES.md ("Model")."""

    def __init__(self, design: str, spec: ViTSpec, patch_size: int, template_size: int, search_size: int,
                 fusion: str = "rgb", drop_path: float = 0.0, ce_loc: Sequence[int] = (),
                 ce_keep_ratio: Sequence[float] = (), ce_start: float = 20 / 300, ce_warm: float = 80 / 300) -> None:
        super().__init__()
        if design not in ("lorat", "ostrack"):
            raise ConfigError(f"model.design: unknown design {design!r} (lorat or ostrack)")
        for name, size in (("template_size", template_size), ("search_size", search_size)):
            if size % patch_size:
                raise ConfigError(f"model.{name} {size} is not a multiple of model.patch_size {patch_size}")
        if fusion not in FUSIONS:
            raise ConfigError(f"model.fusion: {fusion!r} is not available here (choose from {sorted(FUSIONS)})")
        self.design = design
        self.spec = spec
        self.patch_size = patch_size
        self.template_size = template_size
        self.search_size = search_size
        self.template_grid = (template_size // patch_size, template_size // patch_size)
        self.search_grid = (search_size // patch_size, search_size // patch_size)
        self.layout = TokenLayout(self.template_grid, self.search_grid)
        self.fusion = fusion
        self.embed_dim = spec.embed_dim
        self.depth = spec.depth
        dim = spec.embed_dim
        zh, zw = self.template_grid
        xh, xw = self.search_grid
        if design == "lorat" and (zh > xh or zw > xw):
            raise ConfigError("model.template_size must not exceed model.search_size in the LoRAT design "
                              "(template tokens take a block of the search-grid position embedding)")

        self.patch_embed = PatchEmbed(patch_size, dim)
        if design == "lorat":
            self.pos_embed = nn.Parameter(torch.zeros(1, xh * xw, dim))
            self.token_type_embed = nn.Parameter(torch.zeros(3, dim))
        else:
            self.pos_embed_z = nn.Parameter(torch.zeros(1, zh * zw, dim))
            self.pos_embed_x = nn.Parameter(torch.zeros(1, xh * xw, dim))
        self.blocks = build_blocks(spec, drop_path)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fusion_module = FUSIONS[fusion](self)
        self._init_candidate_elimination(ce_loc, ce_keep_ratio, ce_start, ce_warm)
        if design == "lorat":
            self.head = MlpAnchorFreeHead(dim, self.search_grid)
        else:
            self.head = CenterHead(dim, self.search_grid, CENTER_HEAD_CHANNELS)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255, persistent=False)
        self.reset_parameters()

    @classmethod
    def from_config(cls, model_config) -> "TrackerModel":
        """Build (randomly initialised) from a `ModelConfig`."""
        spec = vit_spec(model_config.size, layer_scale=model_config.design == "lorat",
                        embed_dim=model_config.embed_dim, depth=model_config.depth,
                        num_heads=model_config.num_heads)
        return cls(model_config.design, spec, model_config.patch_size, model_config.template_size,
                   model_config.search_size, model_config.fusion, model_config.drop_path,
                   model_config.ce_loc, model_config.ce_keep_ratio, model_config.ce_start, model_config.ce_warm)

    def reset_parameters(self) -> None:
        """Random init (timm's ViT init; embeddings trunc-normal 0.02); heads init themselves."""
        init_vit_weights(self.blocks)
        init_vit_weights(self.norm)
        for name, parameter in self.named_parameters(recurse=False):
            nn.init.trunc_normal_(parameter, std=0.02)

    # ---- candidate elimination (see the module docstring) --------------------------------

    def _init_candidate_elimination(self, ce_loc, ce_keep_ratio, ce_start, ce_warm) -> None:
        ce_loc, ce_keep_ratio = [int(i) for i in ce_loc], [float(r) for r in ce_keep_ratio]
        if ce_loc:
            if self.design != "ostrack":
                raise ConfigError("model.ce_loc: candidate elimination belongs to the OSTrack design (model.design: ostrack)")
            if self.fusion not in ("rgb", "early_add"):
                raise ConfigError(f"model.ce_loc: candidate elimination runs with fusion rgb or early_add, not "
                                  f"{self.fusion} (set model.ce_loc: [])")
            if len(ce_keep_ratio) != len(ce_loc):
                raise ConfigError(f"model.ce_keep_ratio: {len(ce_keep_ratio)} ratios for {len(ce_loc)} ce_loc blocks")
            bad = [i for i in ce_loc if not 0 <= i < self.depth]
            if bad:
                raise ConfigError(f"model.ce_loc: blocks {bad} out of range for a {self.depth}-block model (0-based)")
            if not all(0.0 < r <= 1.0 for r in ce_keep_ratio):
                raise ConfigError(f"model.ce_keep_ratio: ratios must be within (0, 1], got {ce_keep_ratio}")
            if ce_start < 0 or ce_warm < 0:
                raise ConfigError("model.ce_start / model.ce_warm: fractions of training, >= 0")
        self.ce_keep = dict(zip(ce_loc, ce_keep_ratio))  # block index -> its keep ratio
        self.ce_start, self.ce_warm = float(ce_start), float(ce_warm)
        self.ce_keep_rate: Optional[float] = None  # training override (set_keep_ratio); None: the blocks' own
        zh, zw = self.template_grid
        # the template rows whose attention ranks the search tokens (CTR_POINT: the centre cell),
        # as indices (a boolean mask would need nonzero(), which the meta device cannot count)
        centre = torch.tensor([((zh - 1) // 2) * zw + (zw - 1) // 2], dtype=torch.long)
        self.register_buffer("ce_template_rows", centre, persistent=False)

    @property
    def candidate_elimination(self) -> bool:
        return bool(self.ce_keep)

    def keep_ratio_at(self, progress: float) -> float:
        """OSTrack's `adjust_keep_rate` on the fraction of training done: 1 before `ce_start`,
        the base ratio (the first CE block's) after `ce_start + ce_warm`, a half cosine between."""
        base = next(iter(self.ce_keep.values()), 1.0)
        if progress < self.ce_start:
            return 1.0
        if progress >= self.ce_start + self.ce_warm:
            return base
        return base + (1.0 - base) * (math.cos((progress - self.ce_start) / self.ce_warm * math.pi) + 1.0) * 0.5

    def set_keep_ratio(self, progress: Optional[float]) -> None:
        """The trainer's hook, once per step: the keep ratio every CE block uses in training
        (`keep_ratio_at(progress)`); None: each block's own ratio. No effect without CE."""
        self.ce_keep_rate = None if progress is None or not self.ce_keep else self.keep_ratio_at(progress)

    def _block_keep_ratio(self, index: int) -> float:
        if index not in self.ce_keep:
            return 1.0
        if self.training and self.ce_keep_rate is not None:
            return self.ce_keep_rate  # OSTrack: the actor's ce_keep_rate replaces every block's ratio
        return self.ce_keep[index]

    def eliminate(self, weights: torch.Tensor, tokens: torch.Tensor, keep_ratio: float,
                  search_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the `ceil(keep_ratio * Ns)` search tokens the template centre attends to most.

        weights (B, heads, Nz+Ns, Nz+Ns), tokens (B, Nz+Ns, C), search_index (B, Ns): the
        original positions of the current search tokens. Returns the tokens [template | kept
        search, most attended first] and the kept tokens' original positions."""
        nz = self.layout.template_len
        ns = tokens.shape[1] - nz
        keep = math.ceil(keep_ratio * ns)
        if keep >= ns:
            return tokens, search_index
        centre_rows = weights.index_select(2, self.ce_template_rows)  # (B, heads, centre rows, Nz+Ns)
        ranking = centre_rows[..., nz:].mean(dim=2).mean(dim=1)  # (B, Ns)
        order = torch.sort(ranking, dim=1, descending=True)[1][:, :keep]
        kept = tokens[:, nz:].gather(1, order.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return torch.cat([tokens[:, :nz], kept], dim=1), search_index.gather(1, order)

    def run_blocks_ce(self, tokens: torch.Tensor, return_blocks: Iterable[int]) -> tuple[torch.Tensor, dict]:
        """The blocks over one [template | search] sequence with candidate elimination: the
        normalised search tokens back in their original order (eliminated ones zero) and the
        requested block outputs as grids (eliminated cells zero)."""
        batch, _, dim = tokens.shape
        nz, nx = self.layout.template_len, self.layout.search_len
        search_index = torch.arange(nx, device=tokens.device).unsqueeze(0).expand(batch, -1)

        def restore(search: torch.Tensor) -> torch.Tensor:
            full = search.new_zeros(batch, nx, dim)
            return full.scatter(1, search_index.unsqueeze(-1).expand(-1, -1, dim), search)

        grids = {}
        for i, block in enumerate(self.blocks):
            keep_ratio = self._block_keep_ratio(i)
            if keep_ratio < 1.0:
                attended, weights = block.attn(block.norm1(tokens), return_weights=True)
                tokens = tokens + block.drop_path(block.ls1(attended))
                tokens, search_index = self.eliminate(weights, tokens, keep_ratio, search_index)
                tokens = tokens + block.mlp_residual(tokens)
            else:
                tokens = block(tokens)
            if i in return_blocks:
                grids[i] = self.search_grid_map(restore(tokens[:, nz:]))
        return restore(self.norm(tokens)[:, nz:]), grids

    # ---- building blocks the fusion schemes use ------------------------------------------

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.patch_embed.proj.weight.dtype

    def patch_tokens(self, images: torch.Tensor, patch_embed: Optional[PatchEmbed] = None) -> torch.Tensor:
        """uint8 / 0..255 images (B, 3, H, W) -> normalised -> patch tokens (B, H/p * W/p, C)."""
        pixels = (images.float() - self.pixel_mean) / self.pixel_std
        return (patch_embed or self.patch_embed)(pixels.to(self.compute_dtype))

    def add_embeddings(self, tokens: torch.Tensor, kind: str, template_mask: Optional[torch.Tensor] = None):
        """Add position (and LoRAT token-type) embeddings to template or search patch tokens."""
        dim = self.embed_dim
        if self.design == "ostrack":
            position = self.pos_embed_z if kind == "template" else self.pos_embed_x
            return tokens + position.to(tokens.dtype)
        xh, xw = self.search_grid
        if kind == "search":
            return tokens + (self.pos_embed + self.token_type_embed[2]).to(tokens.dtype)
        zh, zw = self.template_grid
        position = self.pos_embed.view(1, xh, xw, dim)[:, :zh, :zw].reshape(1, zh * zw, dim)
        if template_mask is None:  # no box given: every template token is foreground
            token_type = self.token_type_embed[1].view(1, 1, dim)
        else:
            if tuple(template_mask.shape[1:]) != (zh, zw):
                raise ValueError(f"template_mask has shape {tuple(template_mask.shape)}, expected (B, {zh}, {zw})")
            # rows 1 (foreground) / 0 (background) per cell; `where`, not an index lookup, because the
            # lookup's backward (index_put_ with accumulate) is not deterministic on CPU
            foreground = template_mask.flatten(1).bool().unsqueeze(-1)  # (B, zh*zw, 1)
            token_type = torch.where(foreground, self.token_type_embed[1], self.token_type_embed[0])  # (B, zh*zw, C)
        return tokens + (position + token_type).to(tokens.dtype)

    def run_blocks(self, tokens: torch.Tensor, search_of: Callable[[torch.Tensor], torch.Tensor],
                   return_blocks: Iterable[int]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """All blocks over one sequence; `search_of(tokens)` picks the search tokens for the
        requested block outputs, returned as grids (B, C, Gh, Gw)."""
        grids = {}
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i in return_blocks:
                grids[i] = self.search_grid_map(search_of(tokens))
        return tokens, grids

    def search_grid_map(self, search_tokens: torch.Tensor) -> torch.Tensor:
        """(B, Gh*Gw, C) -> (B, C, Gh, Gw)."""
        batch, _, dim = search_tokens.shape
        return search_tokens.transpose(1, 2).reshape(batch, dim, *self.search_grid)

    # ---- the tracker ---------------------------------------------------------------------

    def forward(self, template_rgb: torch.Tensor, search_rgb: torch.Tensor, template_aux: Optional[torch.Tensor] = None,
                search_aux: Optional[torch.Tensor] = None, template_mask: Optional[torch.Tensor] = None,
                return_blocks: Iterable[int] = ()) -> dict:
        return_blocks = set(return_blocks)
        bad = [i for i in return_blocks if not 0 <= i < self.depth]
        if bad:
            raise ValueError(f"return_blocks {bad} out of range for a {self.depth}-block model (0-based)")
        search_tokens, grids = self.fusion_module(self, template_rgb, search_rgb, template_aux, search_aux,
                                                  template_mask, return_blocks)
        out = self.head(search_tokens)
        out["blocks"] = grids
        out["search_tokens"] = search_tokens
        return out

    # ---- introspection -------------------------------------------------------------------

    def add_parameter_groups(self, groups: tuple[str, ...], group_of: Callable[[str], Optional[str]]) -> None:
        """Let an attached component name the groups of its parameters: `group_of(name)` is one
        of `groups` for the parameters it claims, None for the others. Claims are asked in the
        order they were added, before the base model's own groups."""
        claims = self.__dict__.setdefault("_group_claims", [])
        claims.append((tuple(groups), group_of))

    def parameter_group(self, name: str) -> str:
        """The group a parameter name belongs to (a claimed group, else one of `GROUPS`)."""
        for _, group_of in self.__dict__.get("_group_claims", []):
            group = group_of(name)
            if group is not None:
                return group
        first, _, rest = name.partition(".")
        if first == "fusion_module":
            return self.fusion_module.parameter_group(rest) or "adapters"
        named = {"patch_embed": "patch_embed", "pos_embed": "position", "pos_embed_z": "position",
                 "pos_embed_x": "position", "token_type_embed": "type_embed", "blocks": "blocks", "norm": "norm",
                 "head": "head"}
        return named.get(first, "adapters")

    def parameter_groups(self) -> dict[str, list[str]]:
        """Parameter names by group; every group of `GROUPS` and every claimed group is present
        (possibly empty), claimed groups just before the catch-all "adapters"."""
        claimed = [g for groups, _ in self.__dict__.get("_group_claims", []) for g in groups]
        order = [g for g in GROUPS if g != "adapters"] + [g for g in dict.fromkeys(claimed) if g not in GROUPS]
        groups: dict[str, list[str]] = {group: [] for group in order + ["adapters"]}
        for name, _ in self.named_parameters():
            groups[self.parameter_group(name)].append(name)
        return groups
