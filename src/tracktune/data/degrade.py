"""Non-ideal image synthesis: low light, fog, rain, Gaussian / motion blur, noise, over-exposure.

FCTL (docs/methods.md#fctl) trains a student on degraded RGB while a frozen teacher reads the
ideal crop, and the synthetic benchmark uses these as conditions. Each degradation has a
severity 1..5; its scalar parameters are drawn once (`draw`) from a seeded numpy Generator and
kept in a `Degradation`, so the same degradation can be applied identically to a frame's
template and search crops (`degrade_pair`) or to every frame of a sequence. Per-pixel
randomness (noise, rain seeds) comes from the degradation's own seed and a `stream` number
(0 template, 1 search, or the frame index), so the result is a pure function of
(degradation, image, stream).

Models, in float 0..1 (uint8 in, uint8 out):
- low_light: inverse gamma (x^2.2, to linear), scale by U(0.1, 0.3) (severity picks a fifth of
  that range, darkest at 5), Poisson-Gaussian noise in linear units (photon count and read
  noise by severity), gamma back (x^(1/2.2)). After Lv et al. / Cui et al. (MAET) synthesis.
- fog: atmospheric scattering I = J t + A (1 - t), t = exp(-beta d), d a depth-like ramp
  (far at the top, near at the bottom, a small random horizontal tilt), grey airlight A.
- rain: a streak layer (sparse seeds smeared along a near-vertical line kernel) screen-blended
  over a slightly dimmed image.
- gaussian_blur, motion_blur (line kernel, random angle), noise (additive Gaussian),
  over_exposure (gain in linear units, clipped).
Severity tables are ours (no paper fixes them); each severity's parameter range is disjoint
from its neighbours', so the damage grows with severity (tested: PSNR against the clean
image falls, fog's local contrast falls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence as SequenceOf

import cv2
import numpy as np

from tracktune.data.sequence import RGB, Sequence
from tracktune.errors import ConfigError
from tracktune.suggest import did_you_mean

SEVERITIES = (1, 2, 3, 4, 5)
GAMMA = 2.2  # display gamma undone before low light / over-exposure, redone after

# --------------------------------------------------------------------------------------
# Parameter tables: per severity 1..5 (index severity - 1)
# --------------------------------------------------------------------------------------

LOW_LIGHT_SCALE = np.linspace(0.3, 0.1, 6)  # severity s draws U(edge[s], edge[s-1])
LOW_LIGHT_PHOTONS = (1000.0, 600.0, 350.0, 200.0, 120.0)  # photons at full white, before darkening
LOW_LIGHT_READ_NOISE = (0.002, 0.003, 0.005, 0.007, 0.010)  # linear units
FOG_BETA = (0.6, 1.0, 1.5, 2.1, 2.8)  # x U(0.9, 1.1)
RAIN_DENSITY = (0.002, 0.004, 0.007, 0.011, 0.016)  # streak seeds per pixel
RAIN_LENGTH = (8, 12, 16, 21, 27)  # pixels
RAIN_OPACITY = (0.45, 0.55, 0.65, 0.75, 0.85)
RAIN_DIM = (0.97, 0.94, 0.91, 0.88, 0.85)
BLUR_SIGMA = (0.8, 1.4, 2.0, 2.8, 3.8)  # pixels, x U(0.9, 1.1)
MOTION_LENGTH = (5, 9, 13, 19, 25)  # pixels
NOISE_SIGMA = (0.03, 0.06, 0.09, 0.13, 0.18)  # of the 0..1 range
EXPOSURE_GAIN = (1.4, 1.8, 2.3, 2.9, 3.6)  # linear units, x U(0.95, 1.05)


# --------------------------------------------------------------------------------------
# Parameter draws (scalars only; per-pixel randomness happens at apply time)
# --------------------------------------------------------------------------------------


def _draw_low_light(s: int, rng: np.random.Generator) -> dict:
    return {
        "scale": float(rng.uniform(LOW_LIGHT_SCALE[s], LOW_LIGHT_SCALE[s - 1])),
        "photons": LOW_LIGHT_PHOTONS[s - 1] * float(rng.uniform(0.9, 1.1)),
        "read_noise": LOW_LIGHT_READ_NOISE[s - 1],
    }


def _draw_fog(s: int, rng: np.random.Generator) -> dict:
    return {
        "beta": FOG_BETA[s - 1] * float(rng.uniform(0.9, 1.1)),
        "airlight": float(rng.uniform(0.75, 0.95)),
        "near": float(rng.uniform(0.1, 0.3)),  # depth at the bottom row (the top row is 1)
        "tilt": float(rng.uniform(-0.15, 0.15)),  # depth change across the width
    }


def _draw_rain(s: int, rng: np.random.Generator) -> dict:
    return {
        "density": RAIN_DENSITY[s - 1],
        "length": RAIN_LENGTH[s - 1],
        "angle": float(rng.uniform(-20.0, 20.0)),  # degrees from vertical
        "opacity": RAIN_OPACITY[s - 1],
        "dim": RAIN_DIM[s - 1],
    }


def _draw_gaussian_blur(s: int, rng: np.random.Generator) -> dict:
    return {"sigma": BLUR_SIGMA[s - 1] * float(rng.uniform(0.9, 1.1))}


def _draw_motion_blur(s: int, rng: np.random.Generator) -> dict:
    return {"length": MOTION_LENGTH[s - 1], "angle": float(rng.uniform(0.0, 180.0))}


def _draw_noise(s: int, rng: np.random.Generator) -> dict:
    return {"sigma": NOISE_SIGMA[s - 1]}


def _draw_over_exposure(s: int, rng: np.random.Generator) -> dict:
    return {"gain": EXPOSURE_GAIN[s - 1] * float(rng.uniform(0.95, 1.05))}


# --------------------------------------------------------------------------------------
# Application (float32 HxWx3 in 0..1 -> same)
# --------------------------------------------------------------------------------------


def line_kernel(length: int, angle_degrees: float) -> np.ndarray:
    """A normalised line of `length` pixels through the centre of a square kernel;
    angle 0 is horizontal, 90 vertical."""
    size = int(length) | 1  # odd
    canvas = np.zeros((size * 4, size * 4), np.float32)  # drawn 4x larger, then area-resized
    c = (size * 4 - 1) / 2.0
    dx = math.cos(math.radians(angle_degrees)) * (length * 4 - 1) / 2.0
    dy = -math.sin(math.radians(angle_degrees)) * (length * 4 - 1) / 2.0
    p0 = (int(round((c - dx) * 16)), int(round((c - dy) * 16)))
    p1 = (int(round((c + dx) * 16)), int(round((c + dy) * 16)))
    cv2.line(canvas, p0, p1, 1.0, thickness=4, lineType=cv2.LINE_AA, shift=4)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def _apply_low_light(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    linear = np.power(x, GAMMA) * p["scale"]
    shot = rng.poisson(linear * p["photons"]).astype(np.float32) / p["photons"]
    noisy = shot + rng.normal(0.0, p["read_noise"], size=x.shape).astype(np.float32)
    return np.power(np.clip(noisy, 0.0, 1.0), 1.0 / GAMMA)


def _apply_fog(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    rows = np.linspace(1.0, p["near"], h, dtype=np.float32)[:, None]
    cols = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :] * p["tilt"]
    depth = np.clip(rows + cols, 0.0, 1.0)
    transmission = np.exp(-p["beta"] * depth)[:, :, None]
    return x * transmission + p["airlight"] * (1.0 - transmission)


def _apply_rain(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = x.shape[:2]
    seeds = (rng.random((h, w)) < p["density"]).astype(np.float32) * rng.uniform(0.6, 1.0, (h, w)).astype(np.float32)
    kernel = line_kernel(p["length"], 90.0 + p["angle"])
    streaks = cv2.filter2D(seeds, -1, kernel * p["length"], borderType=cv2.BORDER_CONSTANT)
    streaks = cv2.GaussianBlur(streaks, (0, 0), 0.6)
    layer = (np.clip(streaks, 0.0, 1.0) * p["opacity"])[:, :, None]
    return 1.0 - (1.0 - x * p["dim"]) * (1.0 - layer)


def _apply_gaussian_blur(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), p["sigma"], borderType=cv2.BORDER_REFLECT)


def _apply_motion_blur(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    return cv2.filter2D(x, -1, line_kernel(p["length"], p["angle"]), borderType=cv2.BORDER_REFLECT)


def _apply_noise(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, p["sigma"], size=x.shape).astype(np.float32)


def _apply_over_exposure(x: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    return np.power(np.clip(np.power(x, GAMMA) * p["gain"], 0.0, 1.0), 1.0 / GAMMA)


# kind -> (draw parameters, apply)
KINDS: dict[str, tuple[Callable, Callable]] = {
    "low_light": (_draw_low_light, _apply_low_light),
    "fog": (_draw_fog, _apply_fog),
    "rain": (_draw_rain, _apply_rain),
    "gaussian_blur": (_draw_gaussian_blur, _apply_gaussian_blur),
    "motion_blur": (_draw_motion_blur, _apply_motion_blur),
    "noise": (_draw_noise, _apply_noise),
    "over_exposure": (_draw_over_exposure, _apply_over_exposure),
}


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def check_kind(kind: str, where: str = "degradation") -> None:
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown degradation '{kind}'{did_you_mean(kind, KINDS)}; known: {', '.join(KINDS)}")


def _check_severity(severity: int, where: str = "degradation") -> None:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ConfigError(f"{where}: severity must be an integer 1..5, got {severity!r}")


@dataclass(frozen=True)
class Degradation:
    """One drawn degradation: its kind, severity, scalar parameters and the seed of its
    per-pixel randomness. Calling it degrades an image; equal objects degrade equally."""

    kind: str
    severity: int
    params: dict = field(hash=False)
    seed: int = 0

    def __call__(self, image: np.ndarray, stream: int = 0) -> np.ndarray:
        """HxWx3 uint8 RGB -> degraded HxWx3 uint8. `stream` selects the per-pixel random
        realisation (0 template, 1 search, or a frame index): same parameters, fresh noise."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"degrade expects an HxWx3 uint8 image, got {image.dtype} {image.shape}")
        rng = np.random.default_rng([self.seed, int(stream)])
        x = image.astype(np.float32) * (1.0 / 255.0)
        out = KINDS[self.kind][1](x, self.params, rng)
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def draw(kind: str, severity: int, rng: np.random.Generator) -> Degradation:
    """Draw the parameters of `kind` at `severity` (1..5) from `rng`."""
    check_kind(kind)
    _check_severity(severity)
    params = KINDS[kind][0](int(severity), rng)
    return Degradation(kind, int(severity), params, int(rng.integers(2**62)))


def degrade(image: np.ndarray, kind: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `kind` at `severity` from `rng` and apply it to one image."""
    return draw(kind, severity, rng)(image)


def degrade_pair(
    template: np.ndarray, search: np.ndarray, kind: str, severity: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Degradation]:
    """Apply one drawn degradation to a frame's template and search crops (same parameters;
    independent noise realisations, streams 0 and 1). Returns both crops and the draw."""
    degradation = draw(kind, severity, rng)
    return degradation(template, 0), degradation(search, 1), degradation


@dataclass(frozen=True)
class DegradeSpec:
    """A degradation kind with a severity range, parsed from "fog:3", "fog:2-4" or "fog" (1-5)."""

    kind: str
    low: int = 1
    high: int = 5

    def draw(self, rng: np.random.Generator) -> Degradation:
        severity = int(rng.integers(self.low, self.high + 1))
        return draw(self.kind, severity, rng)

    def __str__(self) -> str:
        return f"{self.kind}:{self.low}" if self.low == self.high else f"{self.kind}:{self.low}-{self.high}"


def parse_spec(text: str, where: str = "degradation") -> DegradeSpec:
    """"fog:3" -> DegradeSpec("fog", 3, 3); "fog:2-4" -> ("fog", 2, 4); "fog" -> ("fog", 1, 5)."""
    text = str(text).strip()
    kind, _, severity = text.partition(":")
    kind = kind.strip()
    check_kind(kind, where)
    if not severity.strip():
        return DegradeSpec(kind)
    low_text, _, high_text = severity.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text.strip() else low
    except ValueError:
        raise ConfigError(f"{where}: '{text}' must look like kind, kind:3 or kind:2-4 (severity 1..5)") from None
    _check_severity(low, where)
    _check_severity(high, where)
    if high < low:
        raise ConfigError(f"{where}: '{text}': severity range {low}-{high} is empty")
    return DegradeSpec(kind, low, high)


def parse_specs(texts: str | SequenceOf[str], where: str = "degradation") -> list[DegradeSpec]:
    """A comma-separated string or a list of specs; "all" means every kind at 1-5."""
    items = [t for t in texts.split(",")] if isinstance(texts, str) else list(texts)
    specs: list[DegradeSpec] = []
    for i, item in enumerate(items):
        item_where = where if isinstance(texts, str) else f"{where}[{i}]"
        if str(item).strip() == "all":
            specs.extend(DegradeSpec(kind) for kind in KINDS)
        else:
            specs.append(parse_spec(item, item_where))
    return specs


class PairDegrader:
    """The training pipeline's degradation: per pair, with probability `prob`, one spec picked
    uniformly and drawn (severity uniform in its range); None means the pair stays clean."""

    def __init__(self, specs: SequenceOf[DegradeSpec], prob: float = 1.0) -> None:
        if not specs:
            raise ConfigError("degradation: no degradation specs given")
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"degradation probability must be within 0..1, got {prob}")
        self.specs = list(specs)
        self.prob = float(prob)

    def draw(self, rng: np.random.Generator) -> Degradation | None:
        take, pick = rng.random(), int(rng.integers(len(self.specs)))
        degradation = self.specs[pick].draw(rng)
        return degradation if take < self.prob else None


@dataclass(repr=False)
class DegradedSequence(Sequence):
    """A sequence whose RGB frames come back degraded by `degradation` (stream = frame index)."""

    degradation: Degradation | None = None

    def frame(self, index: int, modality: str = RGB) -> np.ndarray:
        image = super().frame(index, modality)
        return self.degradation(image, index) if modality == RGB and self.degradation is not None else image


def degrade_sequence(sequence: Sequence, degradation: Degradation, condition: str | None = None) -> DegradedSequence:
    """A copy of `sequence` whose RGB frames come back degraded (same parameters on every
    frame, per-pixel noise stream = frame index; the auxiliary modality is untouched): a
    non-ideal condition of a benchmark. `meta["degradation"]` records "kind:severity"."""
    return DegradedSequence(
        sequence.name if condition is None else f"{sequence.name}_{condition}",
        dict(sequence.frames), sequence.boxes.copy(), sequence.visible.copy(), dict(sequence.modality_boxes),
        dict(sequence.attributes), {**sequence.meta, "degradation": f"{degradation.kind}:{degradation.severity}"},
        degradation,
    )


# --------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------


def local_contrast(image: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the luma (0..255 units): detail that haze removes."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))
