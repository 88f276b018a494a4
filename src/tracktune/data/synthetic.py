"""The synthetic RGB-X benchmark: procedural sequences written in real benchmarks' layouts.

Why: the demo, the tests and the method comparisons need RGB-X data with known, named
challenges when no real benchmark is at hand. Each sequence shows one target among
distractors over a textured background that pans with the camera, rendered in RGB and an
aligned auxiliary modality:
- thermal: objects carry temperatures (the target and some distractors warm), the
  background is a smooth cool field; optics blur and sensor noise (per-pixel and fixed
  column pattern); little texture, where RGB has colour and patterns;
- depth: per-object depth planes over a background depth field (far at the top, near at
  the bottom), 16-bit millimetres, nearer objects hide farther ones;
- event: ON/OFF events where the log intensity of the clean rendering moved by more than a
  contrast threshold since the pixel's last event (a DVS model: per-pixel reference),
  plus uniform noise events, drawn as VisEvent event frames (white, ON red, OFF blue).

Named per-sequence conditions with a severity 1..5 (`CONDITIONS`): clean, night (RGB
low light; the auxiliary modality intact), fog, over_exposure (RGB through
`tracktune.data.degrade`, the one home of degradations), occlusion (a foreground board
the target passes behind; frames where under 15 % of the target shows are not visible),
fast_motion (fast target, RGB motion blur), scale_change, distractors (target look-alikes
in RGB, cool in thermal, farther in depth, crossing behind the target), out_of_view (the
target leaves the frame and returns). Ordinary distractors pass behind the target, so only
occlusion and out_of_view hide it; the target is the warmest object in thermal throughout.
Boxes are the target's full extent clipped to the frame (coordinates >= 1: the LasHeR
toolkit reads a 0 as an invalid row); frames where it is not visible are written as each
layout's absent row (LasHeR / VisEvent `0,0,0,0`, DepthTrack NaN).

Clean twins (ideal / non-ideal pairs): where a condition degrades RGB (night, fog,
over_exposure, fast_motion's blur; `RGB_DEGRADATION`), `Rendered.rgb_clean` holds the same
frames with that degradation off: the same scene, motion, camera pan and random draws, so
the twin of a night sequence equals, pixel for pixel, the RGB of the same plan rendered as
`clean` (fast_motion keeps its fast motion, only the blur goes). `synthesise(twins=True)`
writes them to `<seq>/rgb_clean/` (thermal layout) and names each sequence's twin folder in
`conditions.json` (`visible` where the frames are clean already); the LasHeR loader reads
them as the `rgb_clean` frames (FCTL's teacher input; the clean-RGB forgetting test).

`synthesise(out_dir, modality=...)` writes LasHeR's layout for thermal, DepthTrack's (VOT)
for depth, VisEvent's for event, with split lists and `conditions.json` (condition and
severity per sequence), so the real loaders read it. Every sequence is a pure function of
(seed, index, condition, severity, frames, size): the same arguments give identical bytes,
whatever the number of worker processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracktune.data import degrade as D
from tracktune.data.benchmarks.common import CONDITIONS_FILE
from tracktune.data.modalities import OFF_COLOUR, ON_COLOUR
from tracktune.errors import ConfigError
from tracktune.progress import progress_bar, progress_mode
from tracktune.suggest import did_you_mean

logger = logging.getLogger(__name__)

CONDITIONS = ("clean", "night", "fog", "over_exposure", "occlusion", "fast_motion", "scale_change",
              "distractors", "out_of_view")
MODALITIES = ("thermal", "depth", "event")
RGB_DEGRADATION = {"night": "low_light", "fog": "fog", "over_exposure": "over_exposure",
                   "fast_motion": "motion_blur"}  # condition -> degrade.py kind
FORMAT = 1  # bump when the rendering changes (part of the synthetic loader's cache key)
VISIBLE_FRACTION = 0.15  # a target showing less than this fraction of its area is not visible
LAYOUT_FOR = {"thermal": "lasher", "depth": "depthtrack", "event": "visevent"}
EVENT_THRESHOLD = 0.22  # log-intensity contrast threshold
EVENT_NOISE = 0.002  # noise events per pixel per frame
PAN_MARGIN = 48  # background pixels beyond the frame on each side, for the camera pan


# --------------------------------------------------------------------------------------
# Plan: which sequence gets which condition, severity and split
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceSpec:
    """One planned sequence; its pixels are a pure function of these fields."""

    name: str
    index: int
    condition: str
    severity: int
    split: str
    seed: int
    frames: int
    size: tuple[int, int]  # (width, height)
    modality: str


def parse_condition(text: str) -> tuple[str, int, int]:
    """"night" -> (night, 1, 5); "night:4" -> (night, 4, 4); "night:2-5" -> (night, 2, 5)."""
    name, _, severity = str(text).strip().partition(":")
    if name not in CONDITIONS:
        raise ConfigError(f"synthetic: unknown condition '{name}'{did_you_mean(name, CONDITIONS, cutoff=0.6)}; known: {', '.join(CONDITIONS)}")
    if not severity:
        return name, 1, 5
    low, _, high = severity.partition("-")
    try:
        low_i, high_i = int(low), int(high or low)
    except ValueError:
        raise ConfigError(f"synthetic: '{text}' must look like name, name:3 or name:2-4") from None
    if not 1 <= low_i <= high_i <= 5:
        raise ConfigError(f"synthetic: '{text}': severity must be within 1..5")
    return name, low_i, high_i


def split_counts(sequences: int, splits) -> tuple[int, int]:
    """(train, test) counts from counts or fractions."""
    train, test = splits
    if isinstance(train, int) and isinstance(test, int) and not isinstance(train, bool):
        if train + test != sequences or train < 0 or test < 0:
            raise ConfigError(f"synthetic: splits {splits} do not add up to {sequences} sequences")
        return train, test
    total = float(train) + float(test)
    if total <= 0 or train < 0 or test < 0:
        raise ConfigError(f"synthetic: splits {splits} must be non-negative fractions or counts")
    n_test = int(round(sequences * float(test) / total))
    return sequences - n_test, n_test


def plan(sequences: int, frames: int, seed: int, size=(320, 240), conditions=None, splits=(0.75, 0.25),
         modality: str = "thermal") -> list[SequenceSpec]:
    """The sequences to render: conditions cycled in order, severities drawn in their
    range, the test split spread evenly over the indices (so both splits hold every
    condition)."""
    if modality not in MODALITIES:
        raise ConfigError(f"synthetic: unknown modality '{modality}'; known: {', '.join(MODALITIES)}")
    if sequences < 1 or frames < 2:
        raise ConfigError(f"synthetic: need at least 1 sequence and 2 frames, got {sequences} x {frames}")
    width, height = int(size[0]), int(size[1])
    if width < 32 or height < 24:
        raise ConfigError(f"synthetic: frame size {width}x{height} is below 32x24")
    parsed = [parse_condition(c) for c in (CONDITIONS if conditions is None else conditions)]
    if not parsed:
        raise ConfigError("synthetic: empty condition list")
    _, n_test = split_counts(sequences, splits)
    rng = np.random.default_rng([int(seed), 0x5EED])
    specs = []
    for index in range(sequences):
        name, low, high = parsed[index % len(parsed)]
        severity = int(rng.integers(low, high + 1))
        is_test = (index + 1) * n_test // sequences > index * n_test // sequences
        specs.append(SequenceSpec(f"s{index:04d}_{name}", index, name, severity, "test" if is_test else "train",
                                  int(rng.integers(2**62)), int(frames), (width, height), modality))
    check_split_coverage(specs)
    return specs


def check_split_coverage(specs: list[SequenceSpec]) -> list[str]:
    """Warn (and return the warnings) where a split large enough to hold every condition
    misses one: the even spread of the test indices can fall in step with the cycled
    conditions (196 sequences, 140 test, 7 conditions: the test split holds 5 of them and
    the training split the other 2). A warning, not an error: such plans existed before this
    check; pick counts whose test fraction has a period prime to the number of conditions
    (half the sequences, with 7 conditions)."""
    names = sorted({s.condition for s in specs})
    warnings = []
    for split in ("train", "test"):
        held = {s.condition for s in specs if s.split == split}
        count = sum(1 for s in specs if s.split == split)
        missing = [c for c in names if c not in held]
        if missing and count >= len(names):
            warnings.append(f"synthetic: with {len(specs)} sequences and {count} in the {split} split, the {split} "
                            f"split holds no {', '.join(missing)} sequence (the test indices fall in step with the "
                            f"{len(names)} cycled conditions); pick other counts, e.g. a test split of half the sequences")
            logger.warning("%s", warnings[-1])
    return warnings


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float, channels: int = 1) -> np.ndarray:
    """Value noise in 0..1 with features about `cell` pixels wide: HxWxC float32."""
    small = rng.random((max(2, int(height / cell) + 2), max(2, int(width / cell) + 2), channels)).astype(np.float32)
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(big.reshape(height, width, channels), 0.0, 1.0)


def random_colour(rng: np.random.Generator, saturation=(0.5, 1.0), value=(0.4, 1.0), hue=None) -> np.ndarray:
    """An RGB colour in 0..1 from HSV draws (hue in 0..180, OpenCV's range)."""
    h = float(rng.uniform(0, 180)) if hue is None else float(hue) % 180
    hsv = np.array([[[h, rng.uniform(*saturation) * 255, rng.uniform(*value) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


@dataclass
class Look:
    """How one object looks: shape, two colours and a pattern, temperature, depth."""

    shape: int  # 0 ellipse, 1 rectangle, 2 rounded rectangle, 3 diamond
    colours: np.ndarray  # (2, 3) RGB 0..1
    pattern: int  # 0 stripes, 1 checker, 2 spots, 3 plain with a rim
    frequency: float
    angle: float
    temperature: float  # 0..1 thermal level
    depth_mm: float


def draw_look(rng: np.random.Generator, temperature: float, depth_mm: float, like: Look | None = None) -> Look:
    """A random look; `like` gives a look-alike (same shape and pattern, near colours)."""
    if like is not None:
        colours = np.clip(like.colours + rng.normal(0, 0.04, like.colours.shape), 0, 1).astype(np.float32)
        return Look(like.shape, colours, like.pattern, like.frequency, like.angle, temperature, depth_mm)
    first = random_colour(rng)
    second = random_colour(rng, hue=rng.uniform(0, 180), value=(0.1, 0.9))
    return Look(int(rng.integers(4)), np.stack([first, second]), int(rng.integers(4)), float(rng.uniform(0.25, 0.6)),
                float(rng.uniform(0, math.pi)), temperature, depth_mm)


def render_sprite(look: Look, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha HxW, rgb HxWx3, thermal HxW) float32 of one object at its size (antialiased
    edges; the pattern scales with the object, so its look is the same at every size)."""
    width, height = max(2, int(width)), max(2, int(height))
    k = 4  # drawn 4x larger, area-resized
    canvas = np.zeros((height * k, width * k), np.float32)
    w, h = width * k, height * k
    if look.shape == 0:
        cv2.ellipse(canvas, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1.0, -1)
    elif look.shape == 1:
        canvas[:] = 1.0
    elif look.shape == 2:
        r = min(w, h) // 4
        cv2.rectangle(canvas, (r, 0), (w - 1 - r, h - 1), 1.0, -1)
        cv2.rectangle(canvas, (0, r), (w - 1, h - 1 - r), 1.0, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(canvas, (cx, cy), r, 1.0, -1)
    else:
        points = np.array([[w // 2, 0], [w - 1, h // 2], [w // 2, h - 1], [0, h // 2]], np.int32)
        cv2.fillConvexPoly(canvas, points, 1.0)
    alpha = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    u = (np.arange(width, dtype=np.float32) + 0.5) / width - 0.5
    v = (np.arange(height, dtype=np.float32) + 0.5) / height - 0.5
    uu, vv = np.meshgrid(u, v)
    along = (uu * math.cos(look.angle) + vv * math.sin(look.angle)) * 8.0 * look.frequency * 2.0
    if look.pattern == 0:
        mix = (np.sin(along * math.pi * 2.0) > 0).astype(np.float32)
    elif look.pattern == 1:
        mix = ((np.floor(uu * 6) + np.floor(vv * 6)) % 2).astype(np.float32)
    elif look.pattern == 2:
        mix = ((np.sin(uu * 20) * np.sin(vv * 20)) > 0.4).astype(np.float32)
    else:
        mix = ((np.abs(uu) > 0.36) | (np.abs(vv) > 0.36)).astype(np.float32)
    mix = cv2.GaussianBlur(mix, (0, 0), 0.6)
    rgb = look.colours[0] * (1.0 - mix[:, :, None]) + look.colours[1] * mix[:, :, None]
    radial = np.clip(1.0 - (uu * uu + vv * vv) * 2.0, 0.0, 1.0)
    thermal = look.temperature * (0.88 + 0.12 * radial)  # warmest in the middle; little texture
    return alpha, rgb.astype(np.float32), thermal.astype(np.float32)


@dataclass
class Track:
    """One object's per-frame top-left position, size, look and draw order."""

    look: Look
    xy: np.ndarray  # (F, 2) top-left, frame coordinates
    wh: np.ndarray  # (F, 2) size
    is_target: bool = False
    sprites: dict = field(default_factory=dict)

    def sprite(self, t: int):
        key = (int(round(self.wh[t, 0])), int(round(self.wh[t, 1])))
        if key not in self.sprites:
            self.sprites[key] = render_sprite(self.look, *key)
        return self.sprites[key]


def wander(rng: np.random.Generator, frames: int, start: np.ndarray, speed: float, turn: float,
           lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """(F, 2) positions: a smooth random walk at about `speed` px/frame (heading turns by
    N(0, turn) radians a frame, speed varies +-30 %), reflected at the bounds."""
    heading = float(rng.uniform(0, 2 * math.pi)) + np.cumsum(rng.normal(0, turn, frames))
    speeds = speed * (1.0 + 0.3 * np.sin(np.linspace(0, rng.uniform(1, 4) * math.pi, frames) + rng.uniform(0, 6)))
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speeds[:, None]
    steps[0] = 0.0
    raw = start[None, :] + np.cumsum(steps, axis=0)
    span = np.maximum(upper - lower, 1e-3)
    folded = np.mod(raw - lower, 2 * span)  # reflect: a triangle wave over the bounds
    return lower + np.where(folded > span, 2 * span - folded, folded)


def smooth_hump(frames: int, begin: float, end: float) -> np.ndarray:
    """0 outside [begin, end], rising to 1 in the middle (a raised cosine)."""
    t = np.arange(frames, dtype=np.float64)
    phase = np.clip((t - begin) / max(end - begin, 1.0), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(2 * math.pi * phase)


def make_tracks(spec: SequenceSpec, rng: np.random.Generator) -> tuple[list[Track], Track]:
    """The target, distractors and occluders of one sequence, in draw order (far to near)."""
    width, height = spec.size
    frames, cond, sev = spec.frames, spec.condition, spec.severity
    unit = min(width / 320.0, height / 240.0)  # sizes and speeds scale with the frame
    base = rng.uniform(26, 46, 2) * unit
    base[1] = base[0] * rng.uniform(0.7, 1.4)
    scale = np.ones(frames)
    if cond == "scale_change":
        ratio = 1.3 + 0.35 * sev  # largest / smallest size over the sequence
        ramp = np.linspace(-0.5, 0.5, frames) * (1 if rng.random() < 0.5 else -1)
        scale = np.exp(math.log(ratio) * ramp)
    wh = base[None, :] * scale[:, None]
    speed = (6.0 + 2.0 * sev if cond == "fast_motion" else rng.uniform(1.0, 2.5)) * unit
    start = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height]) - base / 2
    lower = np.array([2.0, 2.0])
    upper = np.array([width, height]) - wh.max(axis=0) - 2.0
    centre_path = wander(rng, frames, start, speed, 0.12, lower, upper) + wh.max(axis=0) / 2
    if cond == "out_of_view":
        begin = rng.uniform(0.2, 0.5) * frames
        length = frames * (0.06 + 0.03 * sev)  # the excursion takes 2 * length frames
        side = int(rng.integers(4))
        direction = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]][side], np.float64)
        peak = centre_path[min(int(begin + length), frames - 1)]
        to_edge = [width - peak[0], peak[0], height - peak[1], peak[1]][side] + wh.max()  # fully out beyond this
        reach = to_edge * (1.1 + 0.1 * sev)  # not visible in about 6 % (severity 1) to 20 % (5) of the frames
        centre_path = centre_path + direction[None, :] * smooth_hump(frames, begin, begin + 2 * length)[:, None] * reach
    target_xy = centre_path - wh / 2
    target_temperature = float(rng.uniform(0.82, 0.95))  # warmer than any distractor
    target = Track(draw_look(rng, target_temperature, float(rng.uniform(2500, 4500))), target_xy, wh, is_target=True)

    tracks = [target]
    n_distractors = int(rng.integers(2, 4))
    for _ in range(n_distractors):  # ordinary distractors: other looks, some warm
        warm = rng.random() < 0.5
        behind = cond != "occlusion" or rng.random() < 0.5  # only the occlusion condition hides the target
        depth_mm = target.look.depth_mm + (rng.uniform(300, 3000) if behind else -rng.uniform(300, 1500))
        look = draw_look(rng, float(rng.uniform(0.6, 0.76) if warm else rng.uniform(0.38, 0.5)), float(depth_mm))
        dwh = rng.uniform(20, 56, 2) * unit
        path = wander(rng, frames, rng.uniform(0, 1, 2) * (np.array([width, height]) - dwh), rng.uniform(0.8, 2.5) * unit,
                      0.1, np.array([-dwh[0] / 2, -dwh[1] / 2]), np.array([width, height]) - dwh / 2)
        tracks.append(Track(look, path, np.repeat(dwh[None, :], frames, axis=0)))
    if cond == "distractors":  # look-alikes crossing behind the target, cool in thermal
        for _ in range(1 + (sev + 1) // 2):
            look = draw_look(rng, float(rng.uniform(0.36, 0.46)), target.look.depth_mm + rng.uniform(800, 1500),
                             like=target.look)
            crossing = int(rng.uniform(0.15, 0.85) * frames)
            angle = rng.uniform(0, 2 * math.pi)
            velocity = np.array([math.cos(angle), math.sin(angle)]) * rng.uniform(1.5, 3.0) * unit
            t = np.arange(frames)[:, None] - crossing
            path = target_xy[crossing][None, :] + velocity[None, :] * t
            tracks.append(Track(look, path, wh * rng.uniform(0.9, 1.1)))
    tracks.sort(key=lambda track: -track.look.depth_mm)  # far to near
    if cond == "occlusion":  # a board in front of everything that sweeps across the target
        crossing = int(rng.uniform(0.3, 0.6) * frames)
        ow = wh[crossing, 0] * rng.uniform(1.4, 1.8)
        oh = wh[crossing, 1] * 1.8 + 4 * speed
        hidden = max(2.0, frames * (0.01 + 0.012 * sev))  # frames of full occlusion (about; partial around it)
        centres = target_xy + wh / 2
        before, after = max(crossing - 1, 0), min(crossing + 1, frames - 1)
        velocity = (centres[after] - centres[before]) / max(after - before, 1)
        velocity[0] += (ow - wh[crossing, 0]) / hidden * (1 if rng.random() < 0.5 else -1)
        path = centres[crossing][None, :] - np.array([ow, oh])[None, :] / 2 + velocity[None, :] * (
            np.arange(frames)[:, None] - crossing)
        look = draw_look(rng, float(rng.uniform(0.3, 0.4)), 1000.0)
        look.shape = 1
        tracks.append(Track(look, path, np.repeat(np.array([[ow, oh]]), frames, axis=0)))
    return tracks, target


def background_layers(spec: SequenceSpec, rng: np.random.Generator):
    """(rgb HxWx3, thermal HxW, depth HxW) of the background, PAN_MARGIN larger on each side."""
    width, height = spec.size
    h, w = height + 2 * PAN_MARGIN, width + 2 * PAN_MARGIN
    coarse = smooth_noise(rng, h, w, 60.0, 1)
    colours = np.stack([random_colour(rng, (0.2, 0.7), (0.3, 0.8)) for _ in range(3)])
    blend = smooth_noise(rng, h, w, 25.0, 1)
    rgb = colours[0] * coarse + colours[1] * (1 - coarse)
    rgb = rgb * (1 - 0.5 * blend) + colours[2] * 0.5 * blend
    fine = smooth_noise(rng, h, w, 3.0, 3) - 0.5
    rgb = np.clip(rgb + 0.18 * fine + 0.12 * (smooth_noise(rng, h, w, 8.0, 1) - 0.5), 0, 1).astype(np.float32)
    thermal = (0.2 + 0.15 * smooth_noise(rng, h, w, 70.0, 1)[:, :, 0]
               + 0.04 * np.linspace(0, 1, h, dtype=np.float32)[:, None]).astype(np.float32)
    rows = np.linspace(9000, 2500, h, dtype=np.float32)[:, None]
    depth = (rows * (0.85 + 0.3 * smooth_noise(rng, h, w, 50.0, 1)[:, :, 0])).astype(np.float32)
    return rgb, thermal, depth


def _paste(track: Track, t: int, layers: dict, target_alpha: np.ndarray | None):
    """Alpha-composite one object into the frame layers (in place); returns the object's
    alpha in frame coordinates within its clipped window, and that window."""
    alpha, rgb, thermal = track.sprite(t)
    sh, sw = alpha.shape
    x0, y0 = int(round(track.xy[t, 0])), int(round(track.xy[t, 1]))
    height, width = layers["thermal"].shape
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + sw, width), min(y0 + sh, height)
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    sx0, sy0 = fx0 - x0, fy0 - y0
    a = alpha[sy0:sy0 + fy1 - fy0, sx0:sx0 + fx1 - fx0]
    window = (slice(fy0, fy1), slice(fx0, fx1))
    a3 = a[:, :, None]
    layers["rgb"][window] = layers["rgb"][window] * (1 - a3) + rgb[sy0:sy0 + fy1 - fy0, sx0:sx0 + fx1 - fx0] * a3
    layers["thermal"][window] = layers["thermal"][window] * (1 - a) + thermal[sy0:sy0 + fy1 - fy0, sx0:sx0 + fx1 - fx0] * a
    if "depth" in layers:
        layers["depth"][window] = np.where(a > 0.5, track.look.depth_mm, layers["depth"][window])
    if target_alpha is not None:
        target_alpha[window] *= 1 - a
    return a, window


@dataclass
class Rendered:
    """One sequence in memory: uint8 RGB frames, auxiliary frames, ground truth."""

    spec: SequenceSpec
    rgb: list  # HxWx3 uint8 RGB
    aux: list  # thermal HxW uint8 / depth HxW uint16 mm / event HxWx3 uint8 RGB
    boxes: np.ndarray  # (F, 4) x, y, w, h (NaN where not visible)
    visible: np.ndarray  # (F,) bool
    # the clean twin: the same RGB frames with the condition's RGB degradation off (same scene,
    # motion and noise draws); None when the condition does not degrade RGB (the twin is `rgb`)
    rgb_clean: list | None = None


def render(spec: SequenceSpec) -> Rendered:
    """Render one planned sequence (a pure function of `spec`)."""
    rng = np.random.default_rng([spec.seed, spec.index])
    width, height = spec.size
    tracks, target = make_tracks(spec, rng)
    bg_rgb, bg_thermal, bg_depth = background_layers(spec, rng)
    pan_phase, pan_period = rng.uniform(0, 2 * math.pi, 2), rng.uniform(150, 300, 2)  # frames; <= 2 px/frame
    t_all = np.arange(spec.frames)
    pan = PAN_MARGIN + (PAN_MARGIN - 1) * np.sin(2 * math.pi * t_all[:, None] / pan_period[None, :] + pan_phase[None, :])
    pan = np.rint(pan).astype(int)
    kind = RGB_DEGRADATION.get(spec.condition)
    degradation = D.draw(kind, spec.severity, rng) if kind else None
    fog_veil = 0.05 * spec.severity if spec.condition == "fog" else 0.0  # LWIR sees through fog, mostly
    column_pattern = rng.normal(0, 0.012, width).astype(np.float32)  # thermal fixed-pattern noise
    noise_rng = np.random.default_rng([spec.seed, spec.index, 1])
    boxes = np.full((spec.frames, 4), np.nan)
    visible = np.zeros(spec.frames, bool)
    rgb_frames, aux_frames = [], []
    twin_frames = [] if degradation is not None else None
    reference = None  # event camera: per-pixel log intensity at its last event
    for t in range(spec.frames):
        ox, oy = pan[t]
        layers = {"rgb": bg_rgb[oy:oy + height, ox:ox + width].copy(),
                  "thermal": bg_thermal[oy:oy + height, ox:ox + width].copy()}
        if spec.modality == "depth":
            layers["depth"] = bg_depth[oy:oy + height, ox:ox + width].copy()
        target_alpha = None
        for track in tracks:
            if track.is_target:
                pasted = _paste(track, t, layers, None)
                target_alpha = np.zeros((height, width), np.float32)
                if pasted is not None:
                    target_alpha[pasted[1]] = pasted[0]
            else:
                _paste(track, t, layers, target_alpha)
        full_area = float(target.wh[t, 0] * target.wh[t, 1]) * (0.7 if target.look.shape in (0, 3) else 0.95)
        shown = float(target_alpha.sum()) / max(full_area, 1.0)
        x, y = target.xy[t]
        w, h = target.wh[t]
        # 1-based-like: a 0 coordinate reads as an invalid row in the LasHeR toolkit
        x0, y0, x1, y1 = max(x, 1.0), max(y, 1.0), min(x + w, width - 1.0), min(y + h, height - 1.0)
        if shown >= VISIBLE_FRACTION and x1 - x0 >= 2 and y1 - y0 >= 2:
            visible[t] = True
            boxes[t] = [x0, y0, x1 - x0, y1 - y0]
        clean = (np.clip(layers["rgb"], 0, 1) * 255 + 0.5).astype(np.uint8)
        rgb_frames.append(degradation(clean, t) if degradation is not None else clean)
        if twin_frames is not None:
            twin_frames.append(clean)
        if spec.modality == "thermal":
            thermal = cv2.GaussianBlur(layers["thermal"], (0, 0), 1.0 * max(width / 320, 0.5))
            if fog_veil:
                thermal = thermal * (1 - fog_veil) + fog_veil * float(thermal.mean())
            thermal = thermal + column_pattern[None, :] + noise_rng.standard_normal((height, width), np.float32) * 0.012
            aux_frames.append((np.clip(thermal, 0, 1) * 255 + 0.5).astype(np.uint8))
        elif spec.modality == "depth":
            depth = layers["depth"] * (1 + noise_rng.standard_normal((height, width), np.float32) * 0.005)
            depth[noise_rng.random((height, width)) < 0.01] = 0  # sensor holes read 0
            aux_frames.append(np.clip(depth, 0, 65535).astype(np.uint16))
        else:
            grey = cv2.GaussianBlur(cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY), (0, 0), 1.0)  # optics, pixel pitch
            log_intensity = np.log(grey.astype(np.float32) / 255.0 + 0.05)
            if reference is None:
                reference = log_intensity
            change = log_intensity - reference
            on, off = change > EVENT_THRESHOLD, change < -EVENT_THRESHOLD
            fired = on | off
            reference = np.where(fired, log_intensity, reference)
            noise = noise_rng.random((height, width)) < EVENT_NOISE
            noise_on = noise & (noise_rng.random((height, width)) < 0.5) & ~fired
            noise_off = noise & ~noise_on & ~fired
            frame = np.full((height, width, 3), 255, np.uint8)
            frame[on | noise_on] = ON_COLOUR
            frame[off | noise_off] = OFF_COLOUR
            aux_frames.append(frame)
    return Rendered(spec, rgb_frames, aux_frames, boxes, visible, twin_frames)


def has_twin_folder(spec: SequenceSpec) -> bool:
    """Whether a sequence's clean twin differs from its RGB frames (the condition degrades
    RGB), so that `twins=True` writes it to its own folder."""
    return spec.condition in RGB_DEGRADATION


# --------------------------------------------------------------------------------------
# Writers: one per real layout
# --------------------------------------------------------------------------------------


def _write_image(path: Path, image: np.ndarray, params=()) -> None:
    """Encode and write (cv2.imencode: no locale or path quirks; RGB is stored as BGR)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(path.suffix, image, list(params))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(data.tobytes())


def _box_lines(boxes: np.ndarray, visible: np.ndarray, absent: str, sep: str = ",") -> str:
    lines = []
    for box, shown in zip(boxes, visible):
        lines.append(sep.join(f"{v:.2f}".rstrip("0").rstrip(".") for v in box) if shown else absent)
    return "\n".join(lines) + "\n"


JPEG = (cv2.IMWRITE_JPEG_QUALITY, 92)


def write_lasher(out: Path, seq: Rendered, twins: bool = False) -> None:
    """LasHeR: `<seq>/visible/v%06d.jpg`, `infrared/i%06d.jpg`, visible/infrared/init.txt;
    with `twins`, the clean twin of a sequence whose condition degrades RGB in
    `<seq>/rgb_clean/v%06d.jpg` (`conditions.json` names each sequence's twin folder)."""
    folder = out / seq.spec.name
    (folder / "visible").mkdir(parents=True, exist_ok=True)
    (folder / "infrared").mkdir(parents=True, exist_ok=True)
    for t, (rgb, thermal) in enumerate(zip(seq.rgb, seq.aux)):
        _write_image(folder / "visible" / f"v{t:06d}.jpg", rgb, JPEG)
        _write_image(folder / "infrared" / f"i{t:06d}.jpg", thermal, JPEG)
    if twins and seq.rgb_clean is not None:
        (folder / TWIN_FOLDER).mkdir(parents=True, exist_ok=True)
        for t, rgb in enumerate(seq.rgb_clean):
            _write_image(folder / TWIN_FOLDER / f"v{t:06d}.jpg", rgb, JPEG)
    text = _box_lines(seq.boxes, seq.visible, "0,0,0,0")
    for name in ("visible.txt", "infrared.txt", "init.txt"):
        (folder / name).write_text(text)


def write_depthtrack(out: Path, seq: Rendered) -> None:
    """DepthTrack (VOT): `<split>/<seq>/color/%08d.jpg`, `depth/%08d.png` (16-bit mm),
    `groundtruth.txt` (NaN lines absent), `sequence`, per-frame `full-occlusion.tag`."""
    folder = out / seq.spec.split / seq.spec.name
    (folder / "color").mkdir(parents=True, exist_ok=True)
    (folder / "depth").mkdir(parents=True, exist_ok=True)
    for t, (rgb, depth) in enumerate(zip(seq.rgb, seq.aux), start=1):
        _write_image(folder / "color" / f"{t:08d}.jpg", rgb, JPEG)
        _write_image(folder / "depth" / f"{t:08d}.png", depth, (cv2.IMWRITE_PNG_COMPRESSION, 1))
    (folder / "groundtruth.txt").write_text(_box_lines(seq.boxes, seq.visible, "nan,nan,nan,nan"))
    width, height = seq.spec.size
    (folder / "sequence").write_text(
        f"channels.color=color/%08d.jpg\nchannels.depth=depth/%08d.png\nformat=default\nfps=30\n"
        f"name={seq.spec.name}\nheight={height}\nwidth={width}\n")
    (folder / "full-occlusion.tag").write_text("".join("0\n" if v else "1\n" for v in seq.visible))


def write_visevent(out: Path, seq: Rendered) -> None:
    """VisEvent: `<seq>/vis_imgs/frame%04d.bmp`, `event_imgs/frame%04d.bmp`,
    `groundtruth.txt`, `absent_label.txt` (1 = present)."""
    folder = out / seq.spec.name
    (folder / "vis_imgs").mkdir(parents=True, exist_ok=True)
    (folder / "event_imgs").mkdir(parents=True, exist_ok=True)
    for t, (rgb, event) in enumerate(zip(seq.rgb, seq.aux)):
        _write_image(folder / "vis_imgs" / f"frame{t:04d}.bmp", rgb)
        _write_image(folder / "event_imgs" / f"frame{t:04d}.bmp", event)
    (folder / "groundtruth.txt").write_text(_box_lines(seq.boxes, seq.visible, "0,0,0,0"))
    (folder / "absent_label.txt").write_text("".join("1\n" if v else "0\n" for v in seq.visible))


WRITERS = {"thermal": write_lasher, "depth": write_depthtrack, "event": write_visevent}
TWIN_FOLDER = "rgb_clean"  # where `twins=True` writes the clean twins (thermal / LasHeR layout)
TWIN_MODALITIES = ("thermal",)  # layouts whose writer and loader know the twins


def _render_and_write(job: tuple) -> str:
    out, spec, twins = job
    if twins:
        WRITERS[spec.modality](out, render(spec), twins=True)
    else:
        WRITERS[spec.modality](out, render(spec))
    return spec.name


def write_lists(out: Path, specs: list[SequenceSpec], modality: str, twins: bool = False) -> None:
    """Split lists in each layout's names, and `conditions.json`."""
    names = {split: [s.name for s in specs if s.split == split] for split in ("train", "test")}
    if modality == "thermal":
        lists = {"trainingsetList.txt": names["train"], "testingsetList.txt": names["test"]}
    elif modality == "event":
        lists = {"trainlist.txt": names["train"], "testlist.txt": names["test"]}
    else:
        lists = {f"{split}/list.txt": names[split] for split in ("train", "test")}
    for relative, items in lists.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text("".join(f"{n}\n" for n in items))
    first = specs[0]
    record = {
        "generator": "tracktune.data.synthetic", "format": FORMAT, "modality": modality,
        "layout": LAYOUT_FOR[modality], "frames": first.frames, "size": list(first.size),
        "sequences": {s.name: {"condition": s.condition, "severity": s.severity, "split": s.split} for s in specs},
    }
    if twins:  # the folder holding each sequence's clean twin (its own RGB folder when undegraded)
        for s in specs:
            record["sequences"][s.name]["rgb_clean"] = TWIN_FOLDER if has_twin_folder(s) else "visible"
    (out / CONDITIONS_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def synthesise(out_dir, modality: str = "thermal", sequences: int = 40, frames: int = 100, seed: int = 0,
               size=(320, 240), conditions=None, splits=(0.75, 0.25), workers: int | None = None,
               progress: bool = False, twins: bool = False) -> Path:
    """Write a synthetic RGB-X benchmark to `out_dir` in the real layout of `modality`
    (thermal: LasHeR, depth: DepthTrack, event: VisEvent) and return `out_dir`.

    Args:
        conditions: None (every condition, cycled) or a list of names / "name:3" /
            "name:2-4"; `["clean"]` gives clean daylight sequences (RGB pretraining).
        splits: (train, test) as counts adding up to `sequences`, or fractions.
        workers: processes (None: every core; 0 or 1: this process).
        twins: also write each sequence's clean twin (`Rendered.rgb_clean`: the condition's
            RGB degradation off) where the condition degrades RGB (thermal layout only).
    """
    if twins and modality not in TWIN_MODALITIES:
        raise ConfigError(f"synthetic: clean twins are written for {', '.join(TWIN_MODALITIES)} only, not {modality}")
    specs = plan(sequences, frames, seed, size, conditions, splits, modality)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, spec, bool(twins)) for spec in specs]
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    bar = progress_bar(len(jobs), f"synthesising {modality}", "seq", progress)
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn" if os.name == "nt" else "fork").Pool(min(workers, len(jobs))) as pool:
            for _ in pool.imap_unordered(_render_and_write, jobs):
                bar.update()
    else:
        for job in jobs:
            _render_and_write(job)
            bar.update()
    bar.close()
    write_lists(out, specs, modality, twins=bool(twins))
    return out


def params_hash(**params) -> str:
    """A short hash of the generation parameters (the synthetic loader's cache folder)."""
    key = json.dumps({"format": FORMAT, **params}, sort_keys=True, default=list)
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 320x240, got {text!r}") from None
    return width, height


def synth_command(args: argparse.Namespace) -> int:
    """`tracktune data synth`."""
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: is a file; expected a new or empty folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ConfigError(f"--out {out_dir}: not empty; data synth writes only into a new or empty folder "
                          "(it would mix its layout with what is there)")
    conditions = getattr(args, "conditions", None)
    if isinstance(conditions, str):
        conditions = [c for c in conditions.split(",") if c.strip()]
    out = synthesise(args.out, modality=args.modality, sequences=args.sequences, frames=args.frames, seed=args.seed,
                     size=parse_size(args.size), conditions=conditions, workers=args.workers,
                     progress=progress_mode(args))
    print(f"wrote {args.sequences} {args.modality} sequences x {args.frames} frames ({LAYOUT_FOR[args.modality]} "
          f"layout) to {out}")
    return 0
