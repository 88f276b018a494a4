"""Import pretrained weights into a `TrackerModel` by key mapping, accounting for every tensor.

Formats (`model.pretrained_format`; `auto` tells them apart by their keys):
- `dinov2` (facebookresearch/dinov2 `*_pretrain.pth`): `patch_embed.proj`, `pos_embed`
  (1, 1 + 37*37, C) for 518 px / patch 14 with the class token's entry first, `cls_token`,
  `mask_token`, `register_tokens` (the `_reg` variants), `blocks.N.{norm1, attn.qkv,
  attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2 | mlp.w12, mlp.w3, ls2.gamma}`, `norm`.
  Chunked training checkpoints (`blocks.K.N.*`) are read too.
- `timm` / `mae` (timm `vision_transformer.py`, MAE's `models_vit.py`): as above without
  layer-scale; `head.*` (classifier), `dist_token`, `reg_token`, MAE's `decoder_*` and
  `mask_token` are discarded by name. `fc_norm` (global-pool fine-tunes) is not a final
  norm and is left unused, so such files fail loudly.
- `ostrack` (`OSTrack_ep0300.pth.tar`: a dict whose `net` holds `backbone.*` with
  `pos_embed_z` (1, 64, C), `pos_embed_x` (1, 256, C) beside the pretraining `pos_embed`,
  and `box_head.conv{1..5}_{ctr,offset,size}.*`): OSTrack design only.
- `lorat` (LitingLin/LoRAT trainable-only checkpoints: `token_type_embed`,
  `blocks.N.attn.qkv.{q,k,v}.lora.{A,B}`, `blocks.N.{attn.proj, mlp.fc1, mlp.fc2}.lora.{A,B}`,
  `head.{cls,reg}_mlp.layers.{0,1,2}.*`, scalars `lora_alpha`, `use_rslora`) on top of the
  DINOv2 file `model.pretrained_base`: the LoRA deltas are merged into the base weights
  (W + alpha/r B A, alpha/sqrt(r) with rsLoRA), giving the LoRAT tracker as a plain model.
- `tracktune`: a safetensors file of this model's own state-dict names
  (`save_model_weights`), e.g. an exported RGB tracker loaded into an RGB-X model.

Rules. Fused `attn.qkv` (3C, C) is split row-wise into q, k, v. A pretraining position grid is
resized to the tracker's grids with bicubic interpolation (align_corners=False, no
antialiasing, by output size, as LoRAT and OSTrack do); the LoRAT design resizes it to the
search grid, the OSTrack design to the template and the search grids separately. Model
entries a file cannot have are initialised by an explicit rule and reported: the fusion
scheme's auxiliary copies of RGB parts (`FusionModule.pretrained_counterpart`, e.g. the
auxiliary patch embedding from the RGB one), the fusion scheme's new parameters, head and
token-type embedding from a backbone-only file (random init), and identity layer-scale
(gamma = 1) when a file without layer-scale enters the LoRAT design (exactly equivalent).
Every other file key must be used and every other model entry filled, else CheckpointError.

`torch.load` runs with `weights_only=True` only: a pickle holding anything but tensors and
plain containers is refused with a message saying how to convert it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from tracktune.errors import CheckpointError, ConfigError
from tracktune.files import atomic_write_with

FORMATS = ("dinov2", "timm", "mae", "ostrack", "lorat", "tracktune")

# file keys discarded by design: a tracker reads patch tokens only, and classifiers / MAE's
# decoder have no counterpart
_DISCARD_RULES = [
    (re.compile(r"^(cls_token|dist_token|reg_token|register_tokens)$"), "class / register token: a tracker reads patch tokens only"),
    (re.compile(r"^mask_token$"), "masked-image-modelling token: unused at tracking time"),
    (re.compile(r"^(head|head_dist|pre_logits)\..*"), "image classifier"),
    (re.compile(r"^decoder_.*"), "MAE decoder"),
    (re.compile(r"^cls_pos_embed$"), "OSTrack's class-token position (no class token)"),
]


@dataclass
class ImportReport:
    """What an import did with every file key and every model entry."""

    path: str
    format: str
    filled: dict[str, str] = field(default_factory=dict)  # model entry -> file key(s) it came from
    initialised: dict[str, str] = field(default_factory=dict)  # model entry -> rule that set it
    discarded: dict[str, str] = field(default_factory=dict)  # file key -> why
    unused: list[str] = field(default_factory=list)  # file keys no rule used (an error when strict)
    unfilled: list[str] = field(default_factory=list)  # model entries nothing set (an error when strict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"imported {self.path} (format {self.format}): {len(self.filled)} entries filled, "
                 f"{len(self.initialised)} initialised by rule, {len(self.discarded)} file keys discarded"]
        rules: dict[str, int] = {}
        for rule in self.initialised.values():
            rules[rule] = rules.get(rule, 0) + 1
        lines += [f"  initialised ({count}): {rule}" for rule, count in sorted(rules.items())]
        reasons: dict[str, list[str]] = {}
        for key, why in self.discarded.items():
            reasons.setdefault(why, []).append(key)
        lines += [f"  discarded {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}: {why}"
                  for why, keys in reasons.items()]
        lines += [f"  note: {note}" for note in self.notes]
        if self.unused:
            lines.append(f"  UNUSED file keys ({len(self.unused)}): {', '.join(self.unused[:10])}")
        if self.unfilled:
            lines.append(f"  UNFILLED model entries ({len(self.unfilled)}): {', '.join(self.unfilled[:10])}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a checkpoint file and the container key they sat under ('' if none)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"pretrained weights not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path)), ""
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: torch.load(weights_only=True) refused it ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
            "tracktune never unpickles arbitrary objects; in an environment you trust, load the file and save "
            "its state dict with safetensors.torch.save_file, then point model.pretrained at that") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    container = ""
    for key in ("net", "model", "state_dict"):  # OSTrack, MAE / DeiT, generic trainers
        if isinstance(data.get(key), dict):
            data, container = data[key], key
            break
    tensors = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    others = sorted(k for k in data if k not in tensors)
    if others:
        raise CheckpointError(f"{path}{f' [{container}]' if container else ''}: entries that are not tensors: "
                              f"{', '.join(map(str, others[:10]))}")
    return tensors, container


def detect_format(keys) -> str:
    """Tell the formats apart by their keys (see the module docstring)."""
    keys = set(keys)
    if any(k.startswith("box_head.") or k.startswith("backbone.pos_embed_") for k in keys):
        return "ostrack"
    if any(".lora.A" in k for k in keys):
        return "lorat"
    if any(re.match(r"^blocks\.\d+\.attn\.q\.weight$", k) for k in keys):
        return "tracktune"
    if any(k.startswith("decoder_") for k in keys):
        return "mae"
    if "mask_token" in keys or any(k.endswith("ls1.gamma") for k in keys):
        return "dinov2"
    if "pos_embed" in keys and any(k.startswith("blocks.") for k in keys):
        return "timm"
    raise CheckpointError("cannot tell the checkpoint format from its keys (first keys: "
                          f"{', '.join(sorted(keys)[:6])}); set model.pretrained_format")


# --------------------------------------------------------------------------------------
# Position embeddings
# --------------------------------------------------------------------------------------


def resize_position_grid(position: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """(1, oh*ow, C) row-major grid -> (1, nh*nw, C) by bicubic interpolation (float32)."""
    dim = position.shape[-1]
    if tuple(old_grid) == tuple(new_grid):
        return position.float().clone()
    grid = position.float().reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], dim)


def split_position_prefix(position: torch.Tensor, key: str) -> tuple[torch.Tensor, int, tuple[int, int]]:
    """Drop the class / distillation entries before a square grid: (grid tokens, prefix, (h, w))."""
    if position.ndim != 3 or position.shape[0] != 1:
        raise CheckpointError(f"{key}: expected shape (1, tokens, C), found {tuple(position.shape)}")
    count = position.shape[1]
    for prefix in (0, 1, 2):
        side = math.isqrt(count - prefix)
        if side * side == count - prefix:
            return position[:, prefix:], prefix, (side, side)
    raise CheckpointError(f"{key}: {count} entries are not a square grid after 0-2 class-token entries")


# --------------------------------------------------------------------------------------
# The import
# --------------------------------------------------------------------------------------

_BLOCK_KEY = re.compile(r"^blocks\.(?:\d+\.)?(\d+)\.(.+)$")  # DINOv2 chunked blocks: blocks.K.N.*
_BLOCK_PARTS = ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.proj.weight", "attn.proj.bias",
                "ls1.gamma", "ls2.gamma", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
                "mlp.w12.weight", "mlp.w12.bias", "mlp.w3.weight", "mlp.w3.bias")


class _Import:
    """Collects model-entry assignments from file keys, then checks and applies them."""

    def __init__(self, model, path: str, fmt: str) -> None:
        self.model = model
        self.state = model.state_dict()  # tensors sharing storage with the model's
        self.report = ImportReport(str(path), fmt)
        self.values: dict[str, torch.Tensor] = {}
        self.used: set[str] = set()

    def assign(self, entry: str, value: torch.Tensor, source: str) -> None:
        if entry not in self.state:
            raise CheckpointError(f"{self.report.path}: key {source} maps to {entry}, which this model does not have "
                                  f"(design {self.model.design}, depth {self.model.depth})")
        target = self.state[entry]
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(f"{self.report.path}: key {source} has shape {tuple(value.shape)} but model entry "
                                  f"{entry} has shape {tuple(target.shape)}" + _shape_hint(entry, self.model))
        self.values[entry] = value
        self.report.filled[entry] = source

    def discard(self, key: str, why: str) -> None:
        self.used.add(key)
        self.report.discarded[key] = why

    # ---- ViT backbones (dinov2 / timm / mae / the backbone of ostrack) --------------------

    def backbone(self, tensors: dict[str, torch.Tensor], prefix: str = "") -> None:
        for key, value in tensors.items():
            if not key.startswith(prefix):
                continue
            local = key[len(prefix):]
            match = _BLOCK_KEY.match(local)
            if match:
                index, part = int(match.group(1)), match.group(2)
                if part in ("attn.qkv.weight", "attn.qkv.bias"):
                    kind = part.rsplit(".", 1)[1]
                    if value.shape[0] % 3:
                        raise CheckpointError(f"{self.report.path}: {key} has {value.shape[0]} rows, not 3 x C")
                    for name, chunk in zip("qkv", value.chunk(3, dim=0)):
                        self.assign(f"blocks.{index}.attn.{name}.{kind}", chunk, key)
                    self.used.add(key)
                elif part in _BLOCK_PARTS:
                    self.assign(f"blocks.{index}.{part}", value, key)
                    self.used.add(key)
            elif local in ("patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"):
                self.assign(local, value, key)
                self.used.add(key)
            elif local == "pos_embed" and not (prefix and f"{prefix}pos_embed_x" in tensors):
                self.position(value, key)
                self.used.add(key)
            else:
                for pattern, why in _DISCARD_RULES:
                    if pattern.match(local):
                        self.discard(key, why)
                        break

    def position(self, value: torch.Tensor, key: str) -> None:
        grid_tokens, prefix, old_grid = split_position_prefix(value, key)
        model = self.model
        if model.design == "lorat":
            self.assign("pos_embed", resize_position_grid(grid_tokens, old_grid, model.search_grid), key)
        else:
            self.assign("pos_embed_z", resize_position_grid(grid_tokens, old_grid, model.template_grid), key)
            self.assign("pos_embed_x", resize_position_grid(grid_tokens, old_grid, model.search_grid), key)
        if old_grid != model.search_grid:
            self.report.notes.append(f"{key}: {old_grid[0]}x{old_grid[1]} grid (after {prefix} class-token "
                                     f"entries) resized bicubically to the tracker's grids")

    # ---- formats -------------------------------------------------------------------------

    def ostrack(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.model.design != "ostrack":
            raise CheckpointError(f"{self.report.path}: an OSTrack checkpoint (centre head, separate template / "
                                  "search positions) needs model.design: ostrack")
        self.backbone(tensors, "backbone.")
        for key, value in tensors.items():
            if key in ("backbone.pos_embed_z", "backbone.pos_embed_x"):
                self.assign(key[len("backbone."):], value, key)
                self.used.add(key)
            elif key == "backbone.pos_embed":
                self.discard(key, "OSTrack keeps the pretraining grid; pos_embed_z / pos_embed_x are its tracker's")
            elif key.startswith("box_head."):
                self.assign("head." + key[len("box_head."):], value, key)
                self.used.add(key)

    def lorat(self, tensors: dict[str, torch.Tensor], default_alpha: Optional[float]) -> None:
        """Merge LoRAT's LoRA deltas onto the (already assigned) DINOv2 base weights."""
        if self.model.design != "lorat":
            raise CheckpointError(f"{self.report.path}: a LoRAT checkpoint needs model.design: lorat")
        alpha = tensors.get("lora_alpha")
        rslora = bool(tensors["use_rslora"].item()) if "use_rslora" in tensors else False
        for key in ("lora_alpha", "use_rslora"):
            if key in tensors:
                self.used.add(key)
                self.report.discarded[key] = "LoRA scaling, applied while merging"
        if alpha is None:
            if default_alpha is None:
                raise CheckpointError(f"{self.report.path}: no lora_alpha in the file; set lora.alpha")
            alpha_value = float(default_alpha)
            self.report.notes.append(f"no lora_alpha in the file: merged with lora.alpha = {alpha_value}")
        else:
            alpha_value = float(alpha.item())
        pattern = re.compile(r"^blocks\.(\d+)\.(attn\.qkv\.[qkv]|attn\.proj|mlp\.fc1|mlp\.fc2|mlp\.w12|mlp\.w3)\.lora\.A$")
        for key, a_matrix in tensors.items():
            if key in ("token_type_embed",) or key.startswith("head."):
                self.assign(key, a_matrix, key)
                self.used.add(key)
                continue
            match = pattern.match(key)
            if not match:
                continue
            b_key = key[:-1] + "B"
            if b_key not in tensors:
                raise CheckpointError(f"{self.report.path}: {key} has no matching {b_key}")
            index, layer = match.groups()
            layer = layer.replace("attn.qkv.", "attn.")
            entry = f"blocks.{index}.{layer}.weight"
            if entry not in self.values:
                raise CheckpointError(f"{self.report.path}: {key} adapts {entry}, which the base file did not fill")
            a_matrix, b_matrix = a_matrix.float(), tensors[b_key].float()
            rank = a_matrix.shape[0]
            scaling = alpha_value / (math.sqrt(rank) if rslora else rank)
            base = self.values[entry].float()
            if (b_matrix.shape[0], a_matrix.shape[1]) != tuple(base.shape) or b_matrix.shape[1] != rank:
                raise CheckpointError(f"{self.report.path}: {key} {tuple(a_matrix.shape)} / {b_key} "
                                      f"{tuple(b_matrix.shape)} do not fit {entry} {tuple(base.shape)}")
            self.values[entry] = base + scaling * (b_matrix @ a_matrix)
            self.report.filled[entry] += f" + LoRA {key[:-2]}"
            self.used.update((key, b_key))

    def tracktune(self, tensors: dict[str, torch.Tensor]) -> None:
        for key, value in tensors.items():
            if key in self.state:
                self.assign(key, value, key)
                self.used.add(key)

    # ---- rules for what a file cannot hold, checks, application ---------------------------

    def initialise_rest(self, backbone_only: bool) -> None:
        model = self.model
        report = self.report
        file_has_layer_scale = any(e.endswith("ls1.gamma") for e in self.values)
        for entry in self.state:
            if entry in self.values:
                continue
            group = model.parameter_group(entry)
            first, _, rest = entry.partition(".")
            if first == "fusion_module":
                counterpart = model.fusion_module.pretrained_counterpart(rest)
                if counterpart is not None:
                    if counterpart not in self.values:
                        continue  # reported as unfilled below, with its counterpart
                    self.values[entry] = self.values[counterpart].clone()
                    report.initialised[entry] = f"copied from its RGB counterpart {counterpart}"
                else:
                    report.initialised[entry] = f"new parameter of fusion {model.fusion} (random init)"
            elif backbone_only and group in ("head", "type_embed"):
                report.initialised[entry] = "new: the tracker's head / token-type embedding (random init)"
            elif entry.endswith(("ls1.gamma", "ls2.gamma")) and not file_has_layer_scale:
                self.values[entry] = torch.ones_like(self.state[entry])
                report.initialised[entry] = "identity layer-scale (the file has none)"
        report.unfilled = [e for e in self.state if e not in self.values and e not in report.initialised]

    def finish(self, tensors: dict[str, torch.Tensor], strict: bool) -> ImportReport:
        report = self.report
        report.unused = sorted(k for k in tensors if k not in self.used)
        if strict and (report.unused or report.unfilled):
            raise CheckpointError(report.summary())
        with torch.no_grad():
            for entry, value in self.values.items():
                self.state[entry].copy_(value.to(self.state[entry].dtype))
        return report


def _shape_hint(entry: str, model) -> str:
    if entry.startswith("patch_embed"):
        return f" (is model.patch_size {model.patch_size} the checkpoint's patch size?)"
    if entry.startswith("pos_embed"):
        return " (a checkpoint's own tracker grid must match model.template_size / search_size)"
    if entry.startswith("blocks") or entry.startswith("norm"):
        return f" (is model.size right? this model has embed_dim {model.embed_dim})"
    return ""


def load_pretrained(model, path: str | Path, fmt: str = "auto", base_path: str | Path | None = None,
                    default_alpha: Optional[float] = None, strict: bool = True) -> ImportReport:
    """Fill `model` from a checkpoint (see the module docstring); returns the report.

    `base_path`: the DINOv2 file under a LoRAT checkpoint. `default_alpha`: LoRA alpha for a
    LoRAT file that does not store it. With `strict` (the default) an unused file key or an
    unfilled model entry raises CheckpointError before anything is written.
    """
    tensors, container = read_state_dict(path)
    if fmt == "auto":
        fmt = detect_format(tensors)
    if fmt not in FORMATS:
        raise ConfigError(f"model.pretrained_format: unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    work = _Import(model, str(path), fmt)
    if container:
        work.report.notes.append(f"tensors read from the file's '{container}' entry")
    if fmt in ("dinov2", "timm", "mae"):
        work.backbone(tensors)
        work.initialise_rest(backbone_only=True)
        return work.finish(tensors, strict)
    if fmt == "ostrack":
        work.ostrack(tensors)
        work.initialise_rest(backbone_only=False)
        return work.finish(tensors, strict)
    if fmt == "tracktune":
        work.tracktune(tensors)
        work.initialise_rest(backbone_only=False)
        return work.finish(tensors, strict)
    # lorat: the DINOv2 base first (its own report merged in), then the LoRAT file on top
    if base_path is None:
        raise ConfigError(f"{path}: a LoRAT checkpoint holds only the trained parameters; set "
                          "model.pretrained_base to the DINOv2 file it was trained on")
    base_tensors, _ = read_state_dict(base_path)
    base_format = detect_format(base_tensors)
    if base_format not in ("dinov2", "timm"):
        raise CheckpointError(f"{base_path}: expected a DINOv2 backbone under the LoRAT file, found format {base_format}")
    base = _Import(model, str(base_path), "dinov2")
    base.backbone(base_tensors)
    base_unused = sorted(k for k in base_tensors if k not in base.used)
    if strict and base_unused:
        raise CheckpointError(f"{base_path}: unused keys in the LoRAT base: {', '.join(base_unused[:10])}")
    work.values, work.report.filled = base.values, base.report.filled
    work.report.discarded.update({f"{base_path}:{k}": why for k, why in base.report.discarded.items()})
    work.report.notes += base.report.notes + [f"base weights from {base_path}"]
    work.lorat(tensors, default_alpha)
    work.initialise_rest(backbone_only=False)
    return work.finish(tensors, strict)


def save_model_weights(model, path: str | Path) -> Path:
    """Write the model's state dict as safetensors (`pretrained_format: tracktune`), atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return atomic_write_with(path, lambda tmp: save_file(state, str(tmp)))
