"""Tracking losses against hand computations (model/losses.py)."""

from __future__ import annotations

import math

import pytest
import torch

from tracktune.model.losses import (
    focal_loss_sum,
    gaussian_heatmap,
    gaussian_radius,
    lorat_loss,
    ostrack_loss,
    tracking_loss,
)
from tracktune.errors import ConfigError


def bce(x: float, t: float) -> float:
    p = 1 / (1 + math.exp(-x))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def lorat_case():
    gt = torch.tensor([[0.25, 0.25, 0.75, 0.75]])
    logits = torch.tensor([[[0.0, 1.0], [-1.0, 2.0]]], requires_grad=True)
    boxes = torch.tensor([[[[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.1, 0.1]],
                           [[0.3, 0.3, 0.9, 0.9], [0.5, 0.5, 1.0, 1.0]]]], requires_grad=True)
    positive = torch.tensor([[[True, False], [False, True]]])
    batch = {"search_box": gt, "search_positive": positive}
    return {"score_logits": logits, "boxes": boxes}, batch


def test_lorat_loss_matches_hand_computation():
    outputs, batch = lorat_case()
    terms = lorat_loss(outputs, batch)
    # cell (1,1): box [.5,.5,1,1] vs GT [.25,.25,.75,.75]: inter .0625, union .4375, IoU 1/7,
    # enclosing .5625 -> GIoU 1/7 - .125/.5625
    iou11 = 0.0625 / 0.4375
    giou11 = iou11 - (0.5625 - 0.4375) / 0.5625
    cls = (bce(0.0, 1.0) + bce(1.0, 0.0) + bce(-1.0, 0.0) + bce(2.0, iou11)) / 2
    giou = ((1 - 1.0) + (1 - giou11)) / 2
    assert terms["cls"].item() == pytest.approx(cls, rel=1e-5)
    assert terms["giou"].item() == pytest.approx(giou, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(cls + giou, rel=1e-5)
    # an explicit (e.g. all-rank) normaliser replaces the local positive count
    halved = lorat_loss(outputs, batch, normaliser=torch.tensor(4.0))
    assert halved["loss"].item() == pytest.approx((cls + giou) / 2, rel=1e-5)


def test_lorat_iou_target_is_detached():
    """The boxes get gradient from the GIoU term only; the logits from BCE toward the IoU target."""
    outputs, batch = lorat_case()
    lorat_loss(outputs, batch)["cls"].backward()
    assert outputs["boxes"].grad is None or torch.count_nonzero(outputs["boxes"].grad) == 0
    iou11 = 0.0625 / 0.4375
    expected = torch.tensor([[[0.5 - 1.0, 1 / (1 + math.exp(-1))], [1 / (1 + math.exp(1)),
                                                                  1 / (1 + math.exp(-2)) - iou11]]]) / 2
    torch.testing.assert_close(outputs["score_logits"].grad, expected, rtol=1e-5, atol=1e-6)


def test_lorat_loss_without_positives_divides_by_one():
    outputs, batch = lorat_case()
    batch["search_positive"] = torch.zeros_like(batch["search_positive"])
    terms = lorat_loss(outputs, batch)
    assert terms["giou"].item() == 0.0
    assert terms["cls"].item() == pytest.approx(bce(0, 0) + bce(1, 0) + bce(-1, 0) + bce(2, 0), rel=1e-5)


def test_gaussian_radius_and_heatmap_by_hand():
    # CornerNet radius for a 8x8-cell box at min overlap 0.7: the third case is the smallest
    a3, b3, c3 = 4 * 0.7, -2 * 0.7 * 16, (0.7 - 1) * 64
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    assert gaussian_radius(torch.tensor(8.0), torch.tensor(8.0)).item() == pytest.approx(r3, rel=1e-5)
    assert int(r3) == 2
    heat = gaussian_heatmap(torch.tensor([[0.25, 0.25, 0.75, 0.75]]), 16, 16)[0]  # centre cell (8, 8)
    sigma = 5 / 6
    assert heat[8, 8].item() == 1.0
    assert heat[8, 9].item() == pytest.approx(math.exp(-1 / (2 * sigma ** 2)), rel=1e-5)
    assert heat[10, 10].item() == pytest.approx(math.exp(-8 / (2 * sigma ** 2)), rel=1e-5)
    assert heat[8, 11].item() == 0.0  # outside the (2r+1)^2 window
    assert int((heat == 1).sum()) == 1 and int((heat > 0).sum()) == 25


def test_focal_loss_by_hand():
    logits = torch.tensor([[[2.0, -1.0], [0.5, -3.0]]])
    heat = torch.tensor([[[1.0, 0.5], [0.0, 0.25]]])
    p = [1 / (1 + math.exp(-v)) for v in (2.0, -1.0, 0.5, -3.0)]
    expected = -math.log(p[0]) * (1 - p[0]) ** 2
    expected += -math.log(1 - p[1]) * p[1] ** 2 * (1 - 0.5) ** 4
    expected += -math.log(1 - p[2]) * p[2] ** 2
    expected += -math.log(1 - p[3]) * p[3] ** 2 * (1 - 0.25) ** 4
    assert focal_loss_sum(logits, heat).item() == pytest.approx(expected, rel=1e-5)


def test_ostrack_loss_reads_the_argmax_box():
    grid = 4
    gt = torch.tensor([[0.25, 0.25, 0.75, 0.75], [0.0, 0.0, 0.5, 0.5]])
    logits = torch.full((2, grid, grid), -2.0)
    logits[0, 1, 2] = 3.0  # argmax cells
    logits[1, 0, 0] = 1.0
    boxes = torch.zeros(2, grid, grid, 4)
    boxes[..., 2:] = 0.1
    boxes[0, 1, 2] = torch.tensor([0.25, 0.25, 0.75, 0.75])  # exact: GIoU 1, L1 0
    boxes[1, 0, 0] = torch.tensor([0.0, 0.0, 0.25, 0.5])  # IoU .5, enclosing = union
    terms = ostrack_loss({"score_logits": logits, "boxes": boxes}, {"search_box": gt})
    heat = gaussian_heatmap(gt, grid, grid)
    focal = focal_loss_sum(logits, heat).item() / 2
    l1 = (0.0 + (0.25 / 4)) / 2
    giou = (0.0 + (1 - 0.5)) / 2
    assert terms["focal"].item() == pytest.approx(focal, rel=1e-5)
    assert terms["l1"].item() == pytest.approx(5 * l1, rel=1e-5)
    assert terms["giou"].item() == pytest.approx(2 * giou, rel=1e-5)
    assert terms["loss"].item() == pytest.approx(focal + 5 * l1 + 2 * giou, rel=1e-5)


def test_tracking_loss_picks_the_design():
    outputs, batch = lorat_case()
    assert set(tracking_loss("lorat", outputs, batch)) == {"cls", "giou", "loss"}
    assert set(tracking_loss("ostrack", outputs, batch)) == {"focal", "l1", "giou", "loss"}
    with pytest.raises(ConfigError):
        tracking_loss("siamfc", outputs, batch)
