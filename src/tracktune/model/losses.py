"""Tracking losses of the two base designs (the loss each head is trained with).

Sources: LoRAT (Lin et al., ECCV 2024; LitingLin/LoRAT, `trackit/criteria/methods/
box_with_score_map`) for the IoU-aware BCE + GIoU; OSTrack (Ye et al., ECCV 2022;
botaoye/OSTrack, `lib/train/actors/ostrack.py`, `lib/utils/heapmap_utils.py`,
`lib/utils/focal_loss.py`) for the focal + L1 + GIoU. Written from the papers and a reading of
the released code, not copied.

LoRAT design (`lorat_loss`), per search cell c of sample b, positive where its centre lies
inside the GT box (`batch["search_positive"]`):
- target t_bc = IoU(predicted box at c, GT) at positive cells (detached), 0 elsewhere;
- cls = sum_{b,c} BCEWithLogits(logit_bc, t_bc) / N;
- giou = sum_{positive} (1 - GIoU(box_bc, GT_b)) / N;
- N = max(number of positive cells, 1); both weights 1.

OSTrack design (`ostrack_loss`), per sample b:
- a CenterNet Gaussian heatmap on the score grid: centre cell round(centre * G) (the centre
  head decodes cell (i, j) + offset at (j + dx) / G, so the nearest corner index is the one
  with the smallest offset), radius from CornerNet's `gaussian_radius` at min overlap 0.7 on
  the box size in cells (OSTrack's "bug version", kept), sigma = (2r + 1) / 6;
- focal (CornerNet): p = clamp(sigmoid(logit), 1e-4, 1 - 1e-4);
  pos = -log(p) (1 - p)^2 where the heatmap is 1, neg = -log(1 - p) p^2 (1 - y)^4 elsewhere;
  focal = sum(pos + neg) / max(number of heatmap peaks, 1);
- the box at the argmax cell of the (detached) score map; giou = sum_b (1 - GIoU) / N and
  l1 = sum_b mean_4 |box - GT| / N with N = max(number of samples, 1) (OSTrack's means);
- weights focal 1, L1 5, GIoU 2.

Normalisation across processes: every term is a sum divided by a count. `normaliser`, when
given, replaces the local count (the trainer passes the count summed over ranks, so two
processes with half the batch each give the one-process loss; LoRAT all-reduces its positive
count the same way).

Departures: OSTrack clamps the GT box to 0..1 before the L1 / GIoU (our batch boxes already are);
the heatmap is built on the device in torch (no per-sample numpy), with CornerNet's radius
formula unchanged. The argmax-cell box is the released behaviour (a sample whose argmax is
far from the target gets its box loss there).
"""

from __future__ import annotations

from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F

from tracktune.boxes import giou_xyxy, iou_xyxy
from tracktune.errors import ConfigError

Number = Union[float, torch.Tensor]

LORAT_WEIGHTS = {"cls": 1.0, "giou": 1.0}
OSTRACK_WEIGHTS = {"focal": 1.0, "l1": 5.0, "giou": 2.0}
FOCAL_CLAMP = 1e-4  # OSTrack's clamped sigmoid
HEATMAP_MIN_OVERLAP = 0.7


def _divide(total: torch.Tensor, count: Number) -> torch.Tensor:
    if isinstance(count, torch.Tensor):
        return total / count.to(total.dtype).clamp(min=1.0)
    return total / max(float(count), 1.0)


# --------------------------------------------------------------------------------------
# LoRAT
# --------------------------------------------------------------------------------------


def lorat_positive_count(batch: dict) -> torch.Tensor:
    """Number of positive search cells in the batch (float scalar)."""
    return batch["search_positive"].sum().float()


def lorat_loss(outputs: dict, batch: dict, normaliser: Optional[Number] = None) -> dict[str, torch.Tensor]:
    """LoRAT's IoU-aware BCE + GIoU; returns {"cls", "giou", "loss"} (weighted terms and their sum)."""
    logits = outputs["score_logits"].float()  # (B, Gh, Gw)
    boxes = outputs["boxes"].float()  # (B, Gh, Gw, 4) normalised xyxy
    positive = batch["search_positive"].to(logits.device).bool()  # (B, Gh, Gw)
    gt = batch["search_box"].to(logits.device).float()  # (B, 4)
    if positive.shape != logits.shape:
        raise ValueError(f"search_positive {tuple(positive.shape)} does not match score_logits {tuple(logits.shape)}")
    count = positive.sum().float() if normaliser is None else normaliser
    gt_cells = gt[:, None, None, :].expand_as(boxes)  # (B, Gh, Gw, 4)
    positive_boxes = boxes[positive]  # (P, 4)
    positive_gt = gt_cells[positive]  # (P, 4)
    with torch.no_grad():
        target = torch.zeros_like(logits)
        target[positive] = iou_xyxy(positive_boxes, positive_gt).clamp(0.0, 1.0)
    cls = _divide(F.binary_cross_entropy_with_logits(logits, target, reduction="sum"), count)
    giou = _divide((1.0 - giou_xyxy(positive_boxes, positive_gt)).sum(), count)
    terms = {"cls": LORAT_WEIGHTS["cls"] * cls, "giou": LORAT_WEIGHTS["giou"] * giou}
    terms["loss"] = terms["cls"] + terms["giou"]
    return terms


# --------------------------------------------------------------------------------------
# OSTrack
# --------------------------------------------------------------------------------------


def gaussian_radius(width: torch.Tensor, height: torch.Tensor, min_overlap: float = HEATMAP_MIN_OVERLAP) -> torch.Tensor:
    """CornerNet's radius (the version OSTrack and CenterNet use: r = (b + sqrt(b^2 - 4ac)) / 2
    for each of the three cases, the smallest taken)."""
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_heatmap(boxes_xyxy: torch.Tensor, grid_h: int, grid_w: int,
                     min_overlap: float = HEATMAP_MIN_OVERLAP) -> torch.Tensor:
    """(B, 4) normalised xyxy -> (B, Gh, Gw) CenterNet heatmaps, exactly 1 at each centre cell."""
    boxes = boxes_xyxy.float()
    scale = torch.tensor([grid_w, grid_h, grid_w, grid_h], dtype=torch.float32, device=boxes.device)
    cells = boxes * scale
    width, height = cells[:, 2] - cells[:, 0], cells[:, 3] - cells[:, 1]
    cx = torch.round((cells[:, 0] + cells[:, 2]) / 2).clamp(0, grid_w - 1)  # (B,)
    cy = torch.round((cells[:, 1] + cells[:, 3]) / 2).clamp(0, grid_h - 1)
    radius = gaussian_radius(width, height, min_overlap).clamp(min=0).floor()  # int() truncation, r >= 0
    sigma = (2 * radius + 1) / 6  # (B,)
    ys = torch.arange(grid_h, dtype=torch.float32, device=boxes.device).view(1, grid_h, 1)
    xs = torch.arange(grid_w, dtype=torch.float32, device=boxes.device).view(1, 1, grid_w)
    dx, dy = xs - cx.view(-1, 1, 1), ys - cy.view(-1, 1, 1)
    heat = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma.view(-1, 1, 1) ** 2))
    r = radius.view(-1, 1, 1)
    inside = (dx.abs() <= r) & (dy.abs() <= r)  # the (2r+1)^2 window CenterNet draws
    heat = torch.where(inside & (heat >= torch.finfo(torch.float64).eps), heat, torch.zeros_like(heat))
    return heat


def focal_loss_sum(logits: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
    """CornerNet's focal loss, summed (not normalised)."""
    p = logits.float().sigmoid().clamp(FOCAL_CLAMP, 1 - FOCAL_CLAMP)
    positive = heatmap.eq(1).float()
    pos = torch.log(p) * (1 - p) ** 2 * positive
    neg = torch.log(1 - p) * p ** 2 * (1 - heatmap) ** 4 * (1 - positive)
    return -(pos + neg).sum()


def ostrack_positive_count(batch: dict) -> torch.Tensor:
    """Samples in the batch (one heatmap peak and one box each)."""
    return torch.tensor(float(batch["search_box"].shape[0]))


def ostrack_loss(outputs: dict, batch: dict, normaliser: Optional[Number] = None) -> dict[str, torch.Tensor]:
    """OSTrack's focal + L1 + GIoU; returns {"focal", "l1", "giou", "loss"} (weighted)."""
    logits = outputs["score_logits"].float()  # (B, Gh, Gw)
    boxes = outputs["boxes"].float()  # (B, Gh, Gw, 4)
    gt = batch["search_box"].to(logits.device).float()  # (B, 4)
    batch_size, grid_h, grid_w = logits.shape
    heatmap = gaussian_heatmap(gt, grid_h, grid_w)
    count = float(batch_size) if normaliser is None else normaliser
    focal = _divide(focal_loss_sum(logits, heatmap), count)
    best = logits.detach().flatten(1).argmax(dim=1)  # (B,)
    predicted = boxes.flatten(1, 2)[torch.arange(batch_size, device=boxes.device), best]  # (B, 4)
    giou = _divide((1.0 - giou_xyxy(predicted, gt)).sum(), count)
    l1 = _divide((predicted - gt).abs().mean(dim=-1).sum(), count)
    terms = {"focal": OSTRACK_WEIGHTS["focal"] * focal, "l1": OSTRACK_WEIGHTS["l1"] * l1,
             "giou": OSTRACK_WEIGHTS["giou"] * giou}
    terms["loss"] = terms["focal"] + terms["l1"] + terms["giou"]
    return terms


# --------------------------------------------------------------------------------------
# By design
# --------------------------------------------------------------------------------------

LOSSES: dict[str, Callable[..., dict[str, torch.Tensor]]] = {"lorat": lorat_loss, "ostrack": ostrack_loss}
POSITIVE_COUNTS: dict[str, Callable[[dict], torch.Tensor]] = {"lorat": lorat_positive_count,
                                                              "ostrack": ostrack_positive_count}


def loss_for(design: str) -> Callable[..., dict[str, torch.Tensor]]:
    if design not in LOSSES:
        raise ConfigError(f"model.design: no loss for {design!r} (choose from {sorted(LOSSES)})")
    return LOSSES[design]


def tracking_loss(design: str, outputs: dict, batch: dict, normaliser: Optional[Number] = None) -> dict[str, torch.Tensor]:
    """The design's loss terms and their weighted sum under "loss"."""
    return loss_for(design)(outputs, batch, normaliser)


def model_inputs(batch: dict, device: torch.device) -> dict:
    """The forward's keyword arguments from a training batch (moved to `device`)."""
    keys = ("template_rgb", "search_rgb", "template_aux", "search_aux", "template_mask")
    return {k: batch[k].to(device, non_blocking=True) for k in keys if k in batch}


def tracking_loss_fn(config) -> Callable:
    """loss_fn(model, batch) -> the batch's tracking loss (SRFT's prior reads it on the RGB model)."""
    design = config.model.design
    loss_for(design)

    def loss_fn(model, batch: dict) -> torch.Tensor:
        device = next(model.parameters()).device
        outputs = model(**model_inputs(batch, device))
        return tracking_loss(design, outputs, {k: v.to(device) for k, v in batch.items()})["loss"]

    return loss_fn


__all__ = ["lorat_loss", "ostrack_loss", "gaussian_heatmap", "gaussian_radius", "focal_loss_sum", "tracking_loss",
           "tracking_loss_fn", "loss_for", "POSITIVE_COUNTS", "model_inputs"]
