"""Full-frame tracking with a one-stream tracker model (docs/tracking.md).

Per frame: crop the search region around the last box (area factor `search_factor`, padded
with the image mean), forward template + search, add a Hann-window penalty to the sigmoid
score map (`score * (1 - w) + hann * w`), take the best cell's box, map it back to the frame
and clip it to the image. The confidence is the sigmoid score before the window. The
template crop (area factor `template_factor`) is taken once, at `init`.

Sources: OSTrack (botaoye/OSTrack, `lib/test/tracker/ostrack.py`) and LoRAT
(LitingLin/LoRAT) inference. Departures: crops come from `tracktune.data.crops.crop_around`
(the same code as training crops; continuous-coordinate similarity instead of OSTrack's
integer crop + resize); the Hann window is OSTrack's `hann2d` (zero-free, `0.5 * (1 -
cos(2 pi k / (n + 1)))`, k = 1..n); the box is clipped with a 1-pixel minimum size so the
next crop always exists. No online template update (`track.online_template` is not
implemented yet and raises).

`Tracker` tracks one target; `BatchedRunner` (runner.py) runs many sequences with one
forward pass per step through the same functions here, so both give the same boxes.

The forward pass runs a prepared copy of the caller's model (`model.inference.inference_copy`)
in `track.precision` (`tracktune.precision.resolve_track_precision`: auto = bf16 where the
device computes bf16 natively; int8 on CPU by choice): weights already in that precision with
packed oneDNN GEMMs on CPU, no autocast; the caller's model is never changed. On CUDA with
`track.cuda_graphs`, batch-1 steps replay a captured CUDA graph (`GraphedForward`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tracktune.boxes import clip_xywh, grid_touch_mask, xywh_to_xyxy, xyxy_to_xywh
from tracktune.data.crops import CropTransform, crop_around, to_chw
from tracktune.errors import ConfigError, DataError
from tracktune.model.inference import GraphedForward, inference_copy
from tracktune.precision import resolve_track_precision

# the smallest box side (frame pixels) a prediction is clipped to
MIN_BOX_SIZE = 1.0


def hann_window(grid_h: int, grid_w: int) -> np.ndarray:
    """(grid_h, grid_w) float64: outer product of OSTrack's 1-D Hann windows
    `0.5 * (1 - cos(2 pi k / (n + 1)))`, k = 1..n (positive everywhere, 1 at an odd centre)."""

    def hann1d(n: int) -> np.ndarray:
        k = np.arange(1, n + 1, dtype=np.float64)
        return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n + 1)))

    return hann1d(grid_h)[:, None] * hann1d(grid_w)[None, :]


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
    box: np.ndarray  # (4,) float64 xywh in the frame, the last estimate


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
        else:  # a deployed model (onnxruntime): it runs in the precision it was exported in
            self.precision = model.precision
            self.net = model
        self.graphed = None
        if self.device.type == "cuda" and track_config.cuda_graphs:
            self.graphed = GraphedForward(self.net)
        self.needs_aux = bool(getattr(model.fusion_module, "needs_aux", False))
        self.window = hann_window(*model.search_grid)

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
        template_rgb, transform = crop_around(frame_rgb, box, self.config.template_factor, size)
        template_aux = None
        if frame_aux is not None:
            template_aux, _ = crop_around(frame_aux, box, self.config.template_factor, size)
        box_in_crop = transform.frame_to_crop(xywh_to_xyxy(box), normalised=True)
        mask = grid_touch_mask(box_in_crop, *self.model.template_grid)
        return TargetState(to_chw(template_rgb), None if template_aux is None else to_chw(template_aux),
                           torch.from_numpy(np.asarray(mask, dtype=bool)), box)

    def search_inputs(self, state: TargetState, frame_rgb, frame_aux=None):
        """(search_rgb (3,H,W) uint8, search_aux or None, CropTransform) around the last box."""
        frame_rgb = _check_frame(frame_rgb, "frame")
        frame_aux = self._aux(frame_aux, "frame")
        size = self.model.search_size
        search_rgb, transform = crop_around(frame_rgb, state.box, self.config.search_factor, size)
        search_aux = None
        if frame_aux is not None:
            search_aux, _ = crop_around(frame_aux, state.box, self.config.search_factor, size)
            search_aux = to_chw(search_aux)
        return to_chw(search_rgb), search_aux, transform

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
            box_n, score, _ = decode_best(score_logits[i], boxes[i], self.window, self.config.window_influence)
            height, width = frame.shape[:2]
            state.box = to_frame_box(box_n, searches[i][2], width, height)
            results.append((state.box.copy(), score))
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


__all__ = ["Tracker", "TrackingCore", "TargetState", "hann_window", "decode_best", "to_frame_box", "MIN_BOX_SIZE"]
