"""The `lorat` and `ostrack` tracking pipelines against independent reimplementations of their
reference trackers' loops, written here from the references' formulas (LitingLin/LoRAT's
`OneStreamTrackerPipeline` + `scale_and_translate` + `PostProcessing_BoxWithScoreMap` +
`SiamFCCroppingParameterSimpleProvider`; botaoye/OSTrack's `OSTrack.track` + `sample_target` +
`hann2d` + `cal_bbox` + `map_box_back` + `clip_box`), each driving the same tracktune network:
frame after frame on a real OTB sequence, the boxes must agree to 0.01 px."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracktune.config import ModelConfig, TrackConfig
from tracktune.model.tracker_model import TrackerModel
from tracktune.track.tracker import Tracker, hann_window, lorat_hann_window

CROSSING = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "otb_crossing"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# ---- windows against their closed forms ----------------------------------------------------


def test_lorat_window_is_torch_symmetric_hann():
    for n in (1, 2, 3, 8, 16):
        k = np.arange(n)
        closed = np.sin(np.pi * k / (n - 1)) ** 2 if n > 1 else np.ones(1)  # sin^2 form of 0.5 (1 - cos)
        np.testing.assert_allclose(lorat_hann_window(n, n), np.outer(closed, closed), atol=1e-12)
        reference = torch.outer(torch.hann_window(n, periodic=False, dtype=torch.float64),
                                torch.hann_window(n, periodic=False, dtype=torch.float64)).numpy()
        np.testing.assert_allclose(lorat_hann_window(n, n), reference, atol=1e-12)
    window = lorat_hann_window(16, 16)
    assert window[0].max() == 0 and window[:, -1].max() == 0  # zero on the border, unlike OSTrack's
    assert (hann_window(16, 16) > 0).all()


def test_ostrack_window_is_hann2d_centered():
    for n in (7, 8, 16):
        closed = np.sin(np.pi * np.arange(1, n + 1) / (n + 1)) ** 2
        np.testing.assert_allclose(hann_window(n, n), np.outer(closed, closed), atol=1e-12)


# ---- the LoRAT reference loop ----------------------------------------------------------------


def _siamfc(box_xyxy, factor, out):
    w, h = box_xyxy[2] - box_xyxy[0], box_xyxy[3] - box_xyxy[1]
    context = (factor - 1) * (w + h) / 2
    s = math.sqrt(out * out / ((w + context) * (h + context)))
    cx, cy = (box_xyxy[0] + box_xyxy[2]) / 2, (box_xyxy[1] + box_xyxy[3]) / 2
    return (s, s), (out / 2 - cx * s, out / 2 - cy * s)


def _raster(box):
    return [math.floor(box[0]), math.floor(box[1]), math.floor(box[2] + 1 - 1e-4), math.floor(box[3] + 1 - 1e-4)]


def _scale_and_translate(image_chw: torch.Tensor, out: int, scale, translation, background: torch.Tensor):
    """LoRAT's pixel-aligned crop: the frame rectangle in crop coordinates, clipped, rounded out;
    back to the frame, rounded out, clipped; that region bilinearly resized onto that one."""
    _, h, w = image_chw.shape
    sx, sy = scale
    tx, ty = translation
    ob = [0 * sx + tx, 0 * sy + ty, w * sx + tx, h * sy + ty]
    ob = [min(max(ob[0], 0), out), min(max(ob[1], 0), out), min(max(ob[2], 0), out), min(max(ob[3], 0), out)]
    ob = _raster(ob)
    ib = _raster([ob[0] * (1 / sx) + (-tx / sx), ob[1] * (1 / sy) + (-ty / sy),
                  ob[2] * (1 / sx) + (-tx / sx), ob[3] * (1 / sy) + (-ty / sy)])
    ib = [min(max(ib[0], 0), w), min(max(ib[1], 0), h), min(max(ib[2], 0), w), min(max(ib[3], 0), h)]
    crop = background.view(3, 1, 1).expand(3, out, out).clone()
    crop[:, ob[1]:ob[3], ob[0]:ob[2]] = F.interpolate(image_chw[None, :, ib[1]:ib[3], ib[0]:ib[2]],
                                                      (ob[3] - ob[1], ob[2] - ob[0]), mode="bilinear",
                                                      align_corners=False)[0]
    rs = (np.float32(ob[2] - ob[0]) / np.float32(ib[2] - ib[0]), np.float32(ob[3] - ob[1]) / np.float32(ib[3] - ib[1]))
    rt = (np.float32(ob[0]) - np.float32(ib[0]) * rs[0], np.float32(ob[1]) - np.float32(ib[1]) * rs[1])
    return crop, (float(rs[0]), float(rs[1])), (float(rt[0]), float(rt[1]))


def lorat_reference(model, frames, init_xywh, template_factor=2.0, search_factor=4.0, influence=0.45):
    zs, xs = model.template_size, model.search_size
    grid = model.search_grid[0]
    window = torch.outer(torch.hann_window(grid, periodic=False), torch.hann_window(grid, periodic=False)).flatten()
    x, y, w, h = init_xywh
    state = [x, y, x + w, y + h]
    first = torch.from_numpy(frames[0]).permute(2, 0, 1).float()
    mean = first.mean(dim=(-2, -1))
    scale, translation = _siamfc(state, template_factor, zs)
    z, zs_, zt_ = _scale_and_translate(first, zs, scale, translation, mean)
    stride = zs / model.template_grid[0]
    cells = _raster([(state[0] * zs_[0] + zt_[0]) / stride, (state[1] * zs_[1] + zt_[1]) / stride,
                     (state[2] * zs_[0] + zt_[0]) / stride, (state[3] * zs_[1] + zt_[1]) / stride])
    gz = model.template_grid[0]
    cells = [min(max(c, 0), gz) for c in cells]
    mask = torch.zeros(1, gz, gz, dtype=torch.bool)
    mask[0, cells[1]:cells[3], cells[0]:cells[2]] = True
    boxes_out = []
    for frame in frames[1:]:
        height, width = frame.shape[:2]
        cx, cy = (state[0] + state[2]) / 2, (state[1] + state[3]) / 2
        bw, bh = max(state[2] - state[0], 10.0), max(state[3] - state[1], 10.0)
        window_box = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
        scale, translation = _siamfc(window_box, search_factor, xs)
        image = torch.from_numpy(frame).permute(2, 0, 1).float()
        crop, rs, rt = _scale_and_translate(image, xs, scale, translation, mean)
        with torch.no_grad():
            out = _network(model, z, crop, mask)
        score = out["score_logits"].float().sigmoid().view(1, -1)
        penalised = score * (1 - influence) + window.view(1, -1) * influence
        best = int(torch.max(penalised, 1)[1])
        box = out["boxes"].view(-1, 4)[best].double().numpy() * xs
        frame_box = [(box[0] - rt[0]) / rs[0], (box[1] - rt[1]) / rs[1], (box[2] - rt[0]) / rs[0],
                     (box[3] - rt[1]) / rs[1]]
        frame_box = [min(max(frame_box[0], 0), width), min(max(frame_box[1], 0), height),
                     min(max(frame_box[2], 0), width), min(max(frame_box[3], 0), height)]
        if frame_box[0] < frame_box[2] and frame_box[1] < frame_box[3]:
            state = frame_box
        boxes_out.append([frame_box[0], frame_box[1], frame_box[2] - frame_box[0], frame_box[3] - frame_box[1]])
    return np.array(boxes_out)


def _network(model, template, search, mask):
    """The tracktune network on the reference's own normalisation: inputs are de-normalised
    back to 0..255 floats ((x / 255 - mean) / std inverted), which the model normalises."""
    z = ((template[None] / 255.0 - MEAN) / STD) * STD * 255.0 + MEAN * 255.0
    x = ((search[None] / 255.0 - MEAN) / STD) * STD * 255.0 + MEAN * 255.0
    return model(template_rgb=z, search_rgb=x, template_mask=mask)


# ---- the OSTrack reference loop --------------------------------------------------------------


def _sample_target(image, box, factor, out):
    x, y, w, h = box
    crop_sz = math.ceil(math.sqrt(w * h) * factor)
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    x2, y2 = x1 + crop_sz, y1 + crop_sz
    x1_pad, y1_pad = max(0, -x1), max(0, -y1)
    x2_pad, y2_pad = max(x2 - image.shape[1] + 1, 0), max(y2 - image.shape[0] + 1, 0)
    patch = image[y1 + y1_pad:y2 - y2_pad, x1 + x1_pad:x2 - x2_pad, :]
    patch = cv2.copyMakeBorder(patch, y1_pad, y2_pad, x1_pad, x2_pad, cv2.BORDER_CONSTANT)
    return cv2.resize(patch, (out, out)), out / crop_sz


def _hann1d(n):
    return 0.5 * (1 - torch.cos((2 * math.pi / (n + 1)) * torch.arange(1, n + 1).float()))


def ostrack_reference(model, frames, init_xywh, template_factor=2.0, search_factor=4.0, head_maps=None,
                      search_tokens=None):
    zs, xs = model.template_size, model.search_size
    g = model.search_grid[0]
    window = _hann1d(g).reshape(1, 1, -1, 1) * _hann1d(g).reshape(1, 1, 1, -1)
    template, _ = _sample_target(frames[0], list(init_xywh), template_factor, zs)
    z = torch.from_numpy(template).permute(2, 0, 1).float()
    state = [float(v) for v in init_xywh]
    boxes_out = []
    for frame in frames[1:]:
        height, width = frame.shape[:2]
        patch, resize_factor = _sample_target(frame, state, search_factor, xs)
        x = torch.from_numpy(patch).permute(2, 0, 1).float()
        with torch.no_grad():
            tokens = (_network(model, z, x, None)["search_tokens"] if search_tokens is None
                      else search_tokens(model, z[None], x[None]))
            score_map, size_map, offset_map = head_maps(model, tokens)
        response = window * score_map
        idx = int(torch.max(response.flatten(1), dim=1)[1])
        iy, ix = idx // g, idx % g
        size = size_map.flatten(2)[0, :, idx]
        offset = offset_map.flatten(2)[0, :, idx]
        pred = [(ix + float(offset[0])) / g, (iy + float(offset[1])) / g, float(size[0]), float(size[1])]
        pred = [v * xs / resize_factor for v in pred]
        cx_prev, cy_prev = state[0] + 0.5 * state[2], state[1] + 0.5 * state[3]
        half = 0.5 * xs / resize_factor
        cx, cy = pred[0] + cx_prev - half, pred[1] + cy_prev - half
        box = [cx - 0.5 * pred[2], cy - 0.5 * pred[3], pred[2], pred[3]]
        # clip_box(margin=10)
        x1, y1, x2, y2 = box[0], box[1], box[0] + box[2], box[1] + box[3]
        x1, x2 = min(max(0, x1), width - 10), min(max(10, x2), width)
        y1, y2 = min(max(0, y1), height - 10), min(max(10, y2), height)
        state = [x1, y1, max(10, x2 - x1), max(10, y2 - y1)]
        boxes_out.append(list(state))
    return np.array(boxes_out)


def center_head_maps(model, search_tokens):
    """OSTrack's `get_score_map` on the model's search tokens: clamped sigmoid score and size."""
    head = model.head
    grid_h, grid_w = head.grid
    fmap = search_tokens.transpose(1, 2).reshape(search_tokens.shape[0], -1, grid_h, grid_w)
    clamp = lambda t: torch.clamp(t.sigmoid(), 1e-4, 1 - 1e-4)  # noqa: E731
    return clamp(head.tower("ctr", fmap)), clamp(head.tower("size", fmap)), head.tower("offset", fmap)


# ---- the comparison -------------------------------------------------------------------------


# frames tracked per comparison (the sequence has 120; 40 keep the suite's time on 2 cores)
FRAMES = 40


def crossing_frames():
    if not CROSSING.is_dir():
        pytest.skip("../shared/data/otb_crossing absent")
    paths = sorted((CROSSING / "img").glob("*.jpg"))[:FRAMES + 1]
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    first = np.loadtxt(CROSSING / "groundtruth_rect.txt", max_rows=1)
    return frames, [first[0] - 1, first[1] - 1, first[2], first[3]]


def seeded_model(design, **extra):
    torch.manual_seed(0)
    if design == "lorat":
        config = ModelConfig(design="lorat", size="tiny", patch_size=14, template_size=112, search_size=224,
                             fusion="rgb", depth=2, embed_dim=64, num_heads=2, **extra)
    else:
        config = ModelConfig(design="ostrack", size="tiny", patch_size=16, template_size=128, search_size=256,
                             fusion="rgb", depth=2, embed_dim=64, num_heads=2, **extra)
    model = TrackerModel.from_config(config).eval()
    with torch.no_grad():  # boxes of a plausible size, so the trajectory moves rather than fills the frame
        if design == "lorat":
            model.head.reg_mlp.layers[2].bias.fill_(-2.0)
        else:
            model.head.conv5_size.bias.fill_(-1.5)
    return model


def tracktune_boxes(model, frames, init, pipeline=None):
    tracker = Tracker(model, TrackConfig(pipeline=pipeline, amp="none"))
    tracker.init(frames[0], init)
    return np.array([tracker.update(frame)[0] for frame in frames[1:]])


def test_lorat_pipeline_tracks_as_lorat_on_a_real_sequence():
    frames, init = crossing_frames()
    model = seeded_model("lorat")
    ours = tracktune_boxes(model, frames, init)
    reference = lorat_reference(model, frames, init)
    difference = np.abs(ours - reference).max(axis=1)
    assert difference.max() < 0.01, f"frame {int(difference.argmax()) + 1}: {difference.max():.4g} px"
    # the trajectory is not degenerate (moves, keeps a box smaller than the frame)
    assert np.ptp(reference[:, 0]) > 5 and (reference[:, 2] < 300).all()
    # the square pipeline is a different tracker: it does not reproduce LoRAT's boxes
    square = tracktune_boxes(model, frames[:11], init, pipeline="square")
    assert np.abs(square - reference[:10]).max() > 0.5


def test_ostrack_pipeline_tracks_as_ostrack_on_a_real_sequence():
    frames, init = crossing_frames()
    model = seeded_model("ostrack")
    ours = tracktune_boxes(model, frames, init)
    reference = ostrack_reference(model, frames, init, head_maps=center_head_maps)
    difference = np.abs(ours - reference).max(axis=1)
    assert difference.max() < 0.01, f"frame {int(difference.argmax()) + 1}: {difference.max():.4g} px"
    assert np.ptp(reference[:, 0]) > 5 and (reference[:, 2] < 300).all()
    square = tracktune_boxes(model, frames[:11], init, pipeline="square")
    assert np.abs(square - reference[:10]).max() > 0.5


def _independent_ce_forward():
    """`reference_ce_forward` of tests/model/test_candidate_elimination.py (OSTrack's CE forward
    written out), loaded by path: the test directories are not packages."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "model" / "test_candidate_elimination.py"
    spec = importlib.util.spec_from_file_location("ce_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_ce_forward


def test_ostrack_pipeline_with_candidate_elimination_tracks_as_ostrack():
    frames, init = crossing_frames()
    frames = frames[:11]
    torch.manual_seed(0)
    config = ModelConfig(design="ostrack", size="tiny", patch_size=16, template_size=128, search_size=256,
                         fusion="rgb", depth=10, embed_dim=64, num_heads=2, ce_loc=[3, 6, 9],
                         ce_keep_ratio=[0.7, 0.7, 0.7])
    model = TrackerModel.from_config(config).eval()
    with torch.no_grad():
        model.head.conv5_size.bias.fill_(-1.5)
    ours = tracktune_boxes(model, frames, init)
    reference = ostrack_reference(model, frames, init, head_maps=center_head_maps,
                                  search_tokens=_independent_ce_forward())
    difference = np.abs(ours - reference).max(axis=1)
    assert difference.max() < 0.01, f"frame {int(difference.argmax()) + 1}: {difference.max():.4g} px"
    assert np.ptp(reference[:, 0]) > 2
