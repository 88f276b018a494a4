"""Full-frame tracking with a one-stream tracker model (docs/tracking.md).

Per frame: crop the search region around the last box, forward template + search, combine
the score map with a window, take the best cell's box, map it back to the frame and clip
it. The template crop is taken once, at `init`. How each step is done is the tracking
pipeline (`track.pipeline`; null: the design's reference), each following its reference
tracker step by step; crops come from `tracktune.data.crops`, the same rules training pairs
use.

`lorat` (LitingLin/LoRAT: `trackit/runners/evaluation/distributed/tracker_evaluator/default/
pipelines/one_stream/__init__.py` `OneStreamTrackerPipeline`, `.../components/post_process/
box_with_score_map.py` `PostProcessing_BoxWithScoreMap`, `.../common/
siamfc_search_region_cropping_params_provider/simple.py`):
- template: SiamFC context crop (factor `template_factor`) of the init box, padded with the
  init frame's mean; foreground cells rasterised as `get_foreground_bounding_box`;
- search: the last box clamped to at least 10 px per side about its centre, SiamFC context
  crop (factor `search_factor`), padded with the INIT frame's mean (LoRAT caches the template
  image's mean and pads every search crop with it); crops stay float32;
- window: `torch.hann_window(n, periodic=False)` outer product (zero on the border), combined
  as `score * (1 - w) + window * w` with `w = track.window_influence` (LoRAT: 0.45) on the
  sigmoid scores; the confidence is the sigmoid score of the chosen cell;
- box: the cell's box times the crop size, mapped back through the crop's adjusted
  parameters, clipped to the frame (no minimum size); the next crop's box is updated only
  when the clipped box is valid (x0 < x1, y0 < y1), else the last one is kept.

`ostrack` (botaoye/OSTrack `lib/test/tracker/ostrack.py` `OSTrack.initialize / track /
map_box_back`, `lib/test/utils/hann.py` `hann2d`, `lib/utils/box_ops.py` `clip_box`):
- crops: `sample_target` (integer window, rounded corner, zero padding, uint8 resize) of the
  init box (`template_factor`) and of the last box (`search_factor`);
- window: `hann2d(centered=True)` (`0.5 * (1 - cos(2 pi k / (n + 1)))`, k = 1..n, no zeros),
  multiplied with the score map (`hann * score`, the score being OSTrack's clamped sigmoid
  `clamp(sigmoid, 1e-4, 1 - 1e-4)`); `track.window_influence` is not used;
- box: `cal_bbox` at the best cell (centre = cell + offset, size = clamped sigmoid size),
  times the crop side, mapped back around the last box's centre (`map_box_back`, which
  ignores the corner's rounding), clipped with `clip_box(margin=10)`.

`square` (tracktune's own): the continuous square crop (`crop_around`, frame-mean padding),
OSTrack's zero-free window blended as in `lorat`, the box clipped with a 1-pixel minimum.

Input normalisation is the model's (ImageNet mean / std on 0..255 input, the same as both
references' `x / 255` then normalise, up to float rounding). Remaining departures: no online
template update (`track.online_template` raises); the confidence reported by `ostrack` is
the chosen cell's clamped sigmoid score before the window (OSTrack reports none).

`Tracker` tracks one target; `BatchedRunner` (runner.py) runs many sequences with one
forward pass per step through the same functions here, so both give the same boxes.

The forward pass runs a prepared copy of the caller's model (`model.inference.inference_copy`)
in `track.precision` (`tracktune.precision.resolve_track_precision`: auto = bf16 where the
device computes bf16 natively; int8 on CPU by choice): weights already in that precision with
packed oneDNN GEMMs on CPU, no autocast; the caller's model is never changed. On CUDA with
`track.cuda_graphs`, batch-1 steps replay a captured CUDA graph (`GraphedForward`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tracktune.boxes import clip_xywh, grid_touch_mask, xywh_to_xyxy, xyxy_to_xywh
from tracktune.data.crops import (LORAT_MIN_OBJECT_SIZE, CropTransform, clamp_box_size, crop_around, image_mean,
                                  lorat_crop, lorat_mask_cells, ostrack_crop, resolve_pipeline, siamfc_params, to_chw)
from tracktune.errors import ConfigError, DataError
from tracktune.model.inference import GraphedForward, inference_copy
from tracktune.precision import resolve_track_precision, slow_cpu_precision

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()  # precisions already warned about as slow on this CPU

# the smallest box side (frame pixels) a prediction is clipped to (pipeline square)
MIN_BOX_SIZE = 1.0
# OSTrack's clip_box margin: a box keeps at least this size and this much inside the frame
OSTRACK_CLIP_MARGIN = 10.0


def hann_window(grid_h: int, grid_w: int) -> np.ndarray:
    """(grid_h, grid_w) float64: outer product of OSTrack's 1-D Hann windows
    `0.5 * (1 - cos(2 pi k / (n + 1)))`, k = 1..n (positive everywhere, 1 at an odd centre)."""

    def hann1d(n: int) -> np.ndarray:
        k = np.arange(1, n + 1, dtype=np.float64)
        return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n + 1)))

    return hann1d(grid_h)[:, None] * hann1d(grid_w)[None, :]


def lorat_hann_window(grid_h: int, grid_w: int) -> np.ndarray:
    """(grid_h, grid_w) float64: outer product of symmetric Hann windows as
    `torch.hann_window(n, periodic=False)`: `0.5 * (1 - cos(2 pi k / (n - 1)))`, k = 0..n-1
    (zero at both ends; a single cell is 1)."""

    def hann1d(n: int) -> np.ndarray:
        if n == 1:
            return np.ones(1)
        k = np.arange(n, dtype=np.float64)
        return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n - 1)))

    return hann1d(grid_h)[:, None] * hann1d(grid_w)[None, :]


def decode_ostrack(score_logits: np.ndarray, boxes: np.ndarray, window: np.ndarray):
    """OSTrack's decoding of one score map: `window * clamp(sigmoid, 1e-4, 1 - 1e-4)`, the
    best cell's (cx, cy, w, h) normalised (size clamped like OSTrack's size map).

    Returns (cxcywh normalised (4,), confidence = clamped score before the window, (row, col))."""
    scores = np.clip(1.0 / (1.0 + np.exp(-score_logits.astype(np.float64))), 1e-4, 1.0 - 1e-4)
    response = window * scores
    row, col = np.unravel_index(int(np.argmax(response)), response.shape)
    x0, y0, x1, y1 = boxes[row, col].astype(np.float64)
    size = np.clip([x1 - x0, y1 - y0], 1e-4, 1.0 - 1e-4)
    return (np.array([(x0 + x1) / 2, (y0 + y1) / 2, size[0], size[1]]), float(scores[row, col]),
            (int(row), int(col)))


def ostrack_clip_box(box_xywh, width: float, height: float, margin: float = OSTRACK_CLIP_MARGIN) -> np.ndarray:
    """OSTrack's `clip_box`: corners clamped to the frame keeping `margin` pixels, size at
    least `margin`."""
    x1, y1, w, h = (float(v) for v in box_xywh)
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0.0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return np.array([x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)], dtype=np.float64)


def decode_best(score_logits: np.ndarray, boxes: np.ndarray, window: np.ndarray, window_influence: float):
    """The best cell of one score map after the window penalty.

    score_logits (Gh, Gw), boxes (Gh, Gw, 4) normalised xyxy in the crop, window (Gh, Gw).
    Returns (box_xyxy normalised (4,), confidence = sigmoid score before the window, (row, col)).
    """
    scores = 1.0 / (1.0 + np.exp(-score_logits.astype(np.float64)))  # (Gh, Gw)
    penalised = scores * (1.0 - window_influence) + window * window_influence
    row, col = np.unravel_index(int(np.argmax(penalised)), penalised.shape)
    return boxes[row, col].astype(np.float64), float(scores[row, col]), (int(row), int(col))


def to_frame_box(box_xyxy_normalised, transform: CropTransform, width: int, height: int) -> np.ndarray:
    """Normalised crop xyxy -> frame xywh, clipped to the image (at least MIN_BOX_SIZE)."""
    frame_xyxy = transform.crop_to_frame(np.asarray(box_xyxy_normalised, dtype=np.float64), normalised=True)
    return clip_xywh(xyxy_to_xywh(frame_xyxy), float(width), float(height), min_size=MIN_BOX_SIZE)


def _check_frame(frame: np.ndarray, what: str) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise DataError(f"{what}: expected an HxWx3 uint8 image, got shape {frame.shape} dtype {frame.dtype}")
    return frame


@dataclass
class TargetState:
    """One target's tracking state: its template inputs and its last box."""

    template_rgb: torch.Tensor  # (3, Hz, Wz) uint8
    template_aux: torch.Tensor | None  # (3, Hz, Wz) uint8, or None when the model takes no aux
    template_mask: torch.Tensor  # (Gz_h, Gz_w) bool, the template cells the box touches
    box: np.ndarray  # (4,) float64 xywh in the frame, the box the next search crop is taken around
    pad_rgb: tuple | None = None  # pipeline lorat: the init frame's per-channel mean (search padding)
    pad_aux: tuple | None = None


class TrackingCore:
    """What `Tracker` and `BatchedRunner` share: crops, one batched forward, decoding."""

    def __init__(self, model, track_config) -> None:
        if track_config.online_template:
            raise ConfigError("track.online_template: the online template update is not implemented; set it false")
        self.config = track_config
        self.device = next(model.parameters()).device
        self.model = model
        if isinstance(model, nn.Module):
            self.precision = resolve_track_precision(track_config.precision, track_config.amp, self.device)
            # the caller's model is left as it is; the forward runs a prepared copy (model.inference)
            self.net = inference_copy(model, self.precision)
            slow = slow_cpu_precision(self.precision) if self.device.type == "cpu" else None
            if slow is not None and self.precision not in _WARNED:
                _WARNED.add(self.precision)  # once per process: a benchmark builds many trackers
                logger.warning("track.precision %s: %s; it tracks far slower than fp32 here "
                               "(track.precision auto picks fp32 on this CPU)", self.precision, slow)
        else:  # a deployed model (onnxruntime): it runs in the precision it was exported in
            self.precision = model.precision
            self.net = model
        self.graphed = None
        if self.device.type == "cuda" and track_config.cuda_graphs:
            self.graphed = GraphedForward(self.net)
        self.needs_aux = bool(getattr(model.fusion_module, "needs_aux", False))
        self.pipeline = resolve_pipeline(getattr(track_config, "pipeline", None), model.design)
        self.window = (lorat_hann_window if self.pipeline == "lorat" else hann_window)(*model.search_grid)

    def _aux(self, frame_aux, what: str):
        if not self.needs_aux:
            return None
        if frame_aux is None:
            raise DataError(f"{what}: this model's fusion needs the auxiliary frame (frame_aux)")
        return _check_frame(frame_aux, f"{what} (aux)")

    def init_state(self, frame_rgb, box_xywh, frame_aux=None) -> TargetState:
        frame_rgb = _check_frame(frame_rgb, "init frame")
        frame_aux = self._aux(frame_aux, "init frame")
        box = np.asarray(box_xywh, dtype=np.float64).reshape(4)
        size = self.model.template_size
        factor = self.config.template_factor
        frames = [frame_rgb] + ([frame_aux] if frame_aux is not None else [])
        pads = [None, None]
        if self.pipeline == "lorat":
            scale, translation = siamfc_params(xywh_to_xyxy(box), factor, size)
            pads = [image_mean(f) for f in frames] + [None]
            crops = [lorat_crop(f, scale, translation, size, pad) for f, pad in zip(frames, pads)]
            transform = crops[0][1]
            box_in_crop = transform.frame_to_crop(xywh_to_xyxy(box))
            mask = lorat_mask_cells(box_in_crop, self.model.patch_size, self.model.template_grid)
        else:
            if self.pipeline == "ostrack":
                crops = [ostrack_crop(f, box, factor, size)[:2] for f in frames]
            else:
                crops = [crop_around(f, box, factor, size) for f in frames]
            transform = crops[0][1]
            box_in_crop = transform.frame_to_crop(xywh_to_xyxy(box), normalised=True)
            mask = grid_touch_mask(box_in_crop, *self.model.template_grid)
        template_aux = to_chw(crops[1][0]) if frame_aux is not None else None
        return TargetState(to_chw(crops[0][0]), template_aux, torch.from_numpy(np.asarray(mask, dtype=bool)), box,
                           pads[0], pads[1])

    def search_inputs(self, state: TargetState, frame_rgb, frame_aux=None):
        """(search_rgb (3,H,W), search_aux or None, CropTransform) around the last box; uint8,
        float32 for the lorat pipeline."""
        frame_rgb = _check_frame(frame_rgb, "frame")
        frame_aux = self._aux(frame_aux, "frame")
        size = self.model.search_size
        factor = self.config.search_factor
        frames = [frame_rgb] + ([frame_aux] if frame_aux is not None else [])
        if self.pipeline == "lorat":
            window_box = clamp_box_size(xywh_to_xyxy(state.box), LORAT_MIN_OBJECT_SIZE)
            scale, translation = siamfc_params(window_box, factor, size)
            crops = [lorat_crop(f, scale, translation, size, pad)
                     for f, pad in zip(frames, (state.pad_rgb, state.pad_aux))]
        elif self.pipeline == "ostrack":
            crops = [ostrack_crop(f, state.box, factor, size)[:2] for f in frames]
        else:
            crops = [crop_around(f, state.box, factor, size) for f in frames]
        search_aux = to_chw(crops[1][0]) if frame_aux is not None else None
        return to_chw(crops[0][0]), search_aux, crops[0][1]

    def to_frame(self, state: TargetState, score_logits: np.ndarray, boxes: np.ndarray, transform: CropTransform,
                 width: int, height: int) -> tuple[np.ndarray, float]:
        """Decode one score map by the pipeline's rule: (reported box xywh, confidence); updates
        `state.box` (the next search crop's box)."""
        if self.pipeline == "ostrack":
            (cx, cy, w, h), score, _ = decode_ostrack(score_logits, boxes, self.window)
            box_n = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            frame = xyxy_to_xywh(transform.crop_to_frame(box_n, normalised=True))
            state.box = ostrack_clip_box(frame, width, height)
            return state.box.copy(), score
        box_n, score, _ = decode_best(score_logits, boxes, self.window, self.config.window_influence)
        if self.pipeline == "square":
            state.box = to_frame_box(box_n, transform, width, height)
            return state.box.copy(), score
        # lorat: clipped to the frame without a minimum size; the crop box moves only when valid
        x0, y0, x1, y1 = transform.crop_to_frame(box_n, normalised=True)
        x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
        y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
        reported = np.array([x0, y0, x1 - x0, y1 - y0], dtype=np.float64)
        if x0 < x1 and y0 < y1:
            state.box = reported.copy()
        return reported, score

    def forward(self, states: list[TargetState], searches: list) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass for len(states) targets -> (score_logits (B,Gh,Gw), boxes (B,Gh,Gw,4)).

        Runs the prepared copy `self.net` in `self.precision` (weights and kernels of that
        precision, no autocast); on CUDA with `track.cuda_graphs`, batch-1 steps replay a
        captured CUDA graph (`model.inference.GraphedForward`), larger batches run eagerly."""
        device = self.device
        inputs = {
            "template_rgb": torch.stack([s.template_rgb for s in states]).to(device),
            "search_rgb": torch.stack([s[0] for s in searches]).to(device),
            "template_mask": torch.stack([s.template_mask for s in states]).to(device),
        }
        if self.needs_aux:
            inputs["template_aux"] = torch.stack([s.template_aux for s in states]).to(device)
            inputs["search_aux"] = torch.stack([s[1] for s in searches]).to(device)
        run = self.graphed if self.graphed is not None and len(states) == 1 else self.net
        with torch.inference_mode():
            out = run(**inputs)
        return out["score_logits"].float().cpu().numpy(), out["boxes"].float().cpu().numpy()

    def step(self, states: list[TargetState], frames_rgb: list, frames_aux: list) -> list[tuple[np.ndarray, float]]:
        """Advance each target by one frame (one forward pass); updates each state's box."""
        searches = [self.search_inputs(s, f, a) for s, f, a in zip(states, frames_rgb, frames_aux)]
        score_logits, boxes = self.forward(states, searches)
        results = []
        for i, (state, frame) in enumerate(zip(states, frames_rgb)):
            height, width = frame.shape[:2]
            results.append(self.to_frame(state, score_logits[i], boxes[i], searches[i][2], width, height))
        return results


class Tracker:
    """One target on full frames: `init(frame, box)`, then `update(frame) -> (box_xywh, score)`.

    model: a `TrackerModel` (e.g. `load_tracker_model(run_dir)`); track_config: `TrackConfig`.
    Frames are HxWx3 uint8 RGB; `frame_aux` is the auxiliary modality's 3-channel form,
    required when the model's fusion uses it and ignored otherwise.
    """

    def __init__(self, model, track_config) -> None:
        self.core = TrackingCore(model, track_config)
        self.state: TargetState | None = None

    def init(self, frame_rgb, box_xywh, frame_aux=None) -> None:
        self.state = self.core.init_state(frame_rgb, box_xywh, frame_aux)

    def update(self, frame_rgb, frame_aux=None) -> tuple[np.ndarray, float]:
        if self.state is None:
            raise RuntimeError("Tracker.update before Tracker.init")
        return self.core.step([self.state], [frame_rgb], [frame_aux])[0]


__all__ = ["Tracker", "TrackingCore", "TargetState", "hann_window", "lorat_hann_window", "decode_best", "decode_ostrack",
           "ostrack_clip_box", "to_frame_box", "MIN_BOX_SIZE", "OSTRACK_CLIP_MARGIN"]
