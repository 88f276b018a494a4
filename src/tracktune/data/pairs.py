"""Training pairs: template/search sampling, crops, augmentation and labels.

Sources: OSTrack (Ye et al., ECCV 2022; botaoye/OSTrack, `lib/train/data/{sampler,processing,
processing_utils}.py`) for the sampling, the crop geometry and the jitter; LoRAT (Lin et al.,
ECCV 2024; LitingLin/LoRAT) for mean padding, the template foreground mask and the positive
cells. The batch layout is the "Training batch" of docs/INTERFACES.md.

Crop geometry: the tracking pipeline's crop rule (`pipeline`; `from_config` takes
`track.pipeline`, null meaning the design's reference), so a model fine-tunes on the crops it
tracks on (rules in `tracktune.data.crops`); the template is never jittered:
- `lorat` (LoRAT `siamese_tracker_train/transform/default/processor.py` `SiamFCCropping`): the
  SiamFC context window, jittered as `get_jittered_scale_and_translation_factors` (per-axis
  scale `/ exp(N(0, 1) * scale_jitter)`, translation moved by up to `center_jitter * (w sx + h
  sy) / 2` output pixels), LoRAT's pixel-aligned crop padded with the frame's mean, rounded to
  uint8 (LoRAT keeps float crops; the batch contract is uint8); labels through the adjusted
  crop parameters; template foreground cells rasterised as LoRAT's mask generator. A jitter
  whose target misses the crop or is cut under 10 px (of 224; scaled with the crop) is redrawn
  up to 10 times (`lorat_jitter`), as LoRAT does; LoRAT then marks a still-failing pair
  negative, here it is kept as a positive with its clipped label.
- `ostrack` (OSTrack `processing.py` `_get_jittered_box`, `processing_utils.py`
  `jittered_center_crop`): size `* exp(N(0, 1) * scale_jitter)` per axis, centre moved by up
  to `center_jitter / 2 * sqrt(jittered area)` per axis, `sample_target`'s integer window
  with zero padding, labels as `transform_image_to_crop` (window centre at `(out - 1) / 2`).
- `square` (tracktune's rule): the OSTrack jitter, a square of side `ceil(sqrt(w * h) *
  factor)` padded with the frame's mean, one `cv2.warpAffine`, continuous coordinates.

Departures from the released code, and why:
- Horizontal flip is drawn once per pair (template and search alike, as OSTrack's joint
  transform) and applied identically to the RGB and auxiliary crops.
- Colour jitter (brightness, contrast, saturation, fixed order) and the one-of grayscale /
  blur / solarize are drawn per crop; colour jitter, grayscale and solarize touch RGB only (the
  auxiliary image is a sensor reading or a colormap, its colours carry meaning); blur touches
  both with the same sigma.
- Every sample draws from its own generator seeded by (seed, epoch, index), so a sample does
  not depend on the worker count, and resume and DDP sharding are exact.

Sampling: a source (dataset) by weight, a sequence uniformly within it, a template frame
uniformly among its visible frames, a search frame uniformly among the visible frames within
`max_gap` of the template (the template frame itself included, so one-frame sequences work,
as OSTrack's sampler allows). "Visible" is `Sequence.visible` and a finite box of positive
size; the index of such frames is built once, at construction. An unreadable frame is a
`DataError` naming the file, unless `data.skip_unreadable`: then the pair is redrawn, the
skip is logged as a warning and counted (`PairDataset.skipped_frames`, across workers).

Labels: boxes normalised to the crop and clipped to 0..1 (a jittered search crop may cut the
target; its centre stays inside, the offset being under half the crop side);
`template_mask` = `boxes.grid_touch_mask`, `search_positive` = `boxes.grid_center_mask`
(never empty in 1500 draws on 320x240 frames, but a loss should still divide by max(n, 1)).

Crops and their frame <-> crop transforms live in `tracktune.data.crops` (shared with the
tracker's inference crops).

Sharding (DDP): `ShardSampler(len(dataset), rank, world_size, start)` hands rank r the indices
r, r + W, r + 2W, ... (`len // W` of them, equal on every rank) starting at position `start`
(resume: `start = steps_done_this_epoch * batch_size`). `pair_loader` builds the DataLoader.
`torch.utils.data.DistributedSampler(dataset, shuffle=False, drop_last=True)` works too, since
each index is already a random draw. Call `dataset.set_epoch(e)` before creating the epoch's
iterator (workers are not persistent, so each epoch's workers see the new epoch).
"""

from __future__ import annotations

import logging
import multiprocessing
from dataclasses import dataclass
from typing import Iterator, Literal, Sequence as SequenceOf

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tracktune.boxes import grid_center_mask, grid_touch_mask, is_valid_xywh, xywh_to_xyxy
from tracktune.config import DataConfig, ExperimentConfig
from tracktune.data.benchmarks import load
from tracktune.data.crops import (crop_window, jitter_box, lorat_crop, lorat_mask_cells, ostrack_crop,
                                  ostrack_label_transform, resolve_pipeline, siamfc_jittered_params, siamfc_params,
                                  to_chw, warp_crop)
from tracktune.data.degrade import Degradation, PairDegrader, parse_specs
from tracktune.data.sequence import RGB, RGB_CLEAN, Sequence
from tracktune.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

# a sample gives up after this many unreadable frames in a row (a dataset of broken files)
MAX_UNREADABLE_RETRIES = 100


# --------------------------------------------------------------------------------------
# Augmentation (uint8 in, uint8 out; the random numbers are drawn by the caller)
# --------------------------------------------------------------------------------------

_LEVELS = np.arange(256, dtype=np.float32)
_SOLARIZE_LUT = np.where(_LEVELS >= 128, 255 - _LEVELS, _LEVELS).astype(np.uint8)


def color_jitter(rgb: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Brightness (scale), contrast (about the mean luma), saturation (about the grey image),
    in that order, on a uint8 RGB crop (one lookup table for the first two)."""
    if brightness == 1.0 and contrast == 1.0 and saturation == 1.0:
        return rgb
    r, g, b = cv2.mean(rgb)[:3]
    mean_luma = (0.299 * r + 0.587 * g + 0.114 * b) * brightness
    lut = np.clip((_LEVELS * brightness - mean_luma) * contrast + mean_luma + 0.5, 0, 255).astype(np.uint8)
    out = cv2.LUT(rgb, lut)
    if saturation != 1.0:
        grey = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        out = cv2.addWeighted(out, saturation, grey, 1.0 - saturation, 0.0)
    return out


def grayscale(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def solarize(rgb: np.ndarray) -> np.ndarray:
    """Invert the levels at or above 128."""
    return cv2.LUT(rgb, _SOLARIZE_LUT)


# --------------------------------------------------------------------------------------
# Sources and the index of visible frames
# --------------------------------------------------------------------------------------


@dataclass
class PairSource:
    """One dataset of a training mixture.

    `rgb_only` says what aux becomes for a sequence without the mixture's auxiliary
    modality: "zero" (zeros, `aux_valid` False) or "duplicate" (the RGB crop before colour
    augmentation, `aux_valid` True); see `DatasetEntry.rgb_only`.
    """

    name: str
    sequences: list[Sequence]
    weight: float = 1.0
    rgb_only: Literal["zero", "duplicate"] = "zero"


def visible_frames(sequence: Sequence) -> np.ndarray:
    """Sorted indices of the frames with a visible target, a usable box and frame files."""
    count = min(len(sequence), len(sequence.boxes))
    ok = sequence.visible[:count] & is_valid_xywh(sequence.boxes[:count])
    return np.flatnonzero(ok)


@dataclass
class _IndexedSource:
    source: PairSource
    sequences: list[Sequence]  # those with at least one visible frame
    frames: list[np.ndarray]  # per sequence, its visible frame indices
    has_aux: list[bool]  # per sequence, whether it carries the mixture's aux modality


@dataclass(frozen=True)
class PairInfo:
    """Where a sample came from (for tests, debugging and the sheet drawer)."""

    source: str
    sequence: str
    template_frame: int
    search_frame: int
    aux_valid: bool
    flipped: bool


# --------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------


class PairDataset(Dataset):
    """`samples_per_epoch` template/search pairs per epoch, sample i seeded by (seed, epoch, i).

    Each item is a dict of tensors (the contract's training batch, without the batch axis):
    `template_rgb`, `search_rgb` uint8 (3,H,W); `template_aux`, `search_aux` when the
    modality is not "rgb"; `aux_valid` bool (); `template_box`, `search_box` float32 (4,)
    normalised xyxy clipped to 0..1; `template_mask` bool (Hz/p, Wz/p);
    `search_positive` bool (Hx/p, Wx/p).
    """

    def __init__(
        self,
        sources: SequenceOf[PairSource],
        data: DataConfig,
        template_size: int,
        search_size: int,
        patch_size: int,
        seed: int = 0,
        pipeline: str = "square",
    ) -> None:
        for name, size in (("template_size", template_size), ("search_size", search_size)):
            if size % patch_size:
                raise ConfigError(f"model.{name}={size} is not a multiple of model.patch_size={patch_size}")
        if data.max_gap < 0:
            raise ConfigError(f"data.max_gap must be >= 0, got {data.max_gap}")
        if data.samples_per_epoch < 1:
            raise ConfigError(f"data.samples_per_epoch must be >= 1, got {data.samples_per_epoch}")
        for key in ("flip_prob", "grayscale_prob", "blur_prob", "solarize_prob"):
            if not 0.0 <= getattr(data, key) <= 1.0:
                raise ConfigError(f"data.{key} must be within 0..1, got {getattr(data, key)}")
        one_of = data.grayscale_prob + data.blur_prob + data.solarize_prob
        if one_of > 1.0 + 1e-9:
            raise ConfigError(f"data.grayscale_prob + blur_prob + solarize_prob must be <= 1, got {one_of}")
        if not 0.0 <= data.color_jitter < 1.0:
            raise ConfigError(f"data.color_jitter must be within [0, 1), got {data.color_jitter}")
        self.data = data
        self.pipeline = resolve_pipeline(pipeline, "square")
        self.template_size = template_size
        self.search_size = search_size
        self.patch_size = patch_size
        self.seed = int(seed)
        self.epoch = 0
        self.aux_modality = None if data.modality == "rgb" else data.modality
        self.sources = [self._index(source) for source in sources]
        if not self.sources:
            raise DataError("no training sources given")
        weights = np.array([s.source.weight for s in self.sources], dtype=np.float64)
        if (weights < 0).any() or weights.sum() <= 0:
            raise ConfigError(f"source weights must be >= 0 with a positive sum, got {weights.tolist()}")
        self.cumulative_weights = np.cumsum(weights / weights.sum())
        self._skipped = multiprocessing.Value("q", 0)  # shared with the DataLoader's workers
        # non-ideal RGB (FCTL; data/degrade.py): drawn per pair from its own random stream
        self.degrader = PairDegrader(parse_specs(data.degrade, "data.degrade"), data.degrade_prob) if data.degrade else None

    @classmethod
    def from_config(cls, config: ExperimentConfig, sources: SequenceOf[PairSource]) -> "PairDataset":
        m = config.model
        return cls(sources, config.data, m.template_size, m.search_size, m.patch_size, seed=config.seed,
                   pipeline=resolve_pipeline(config.track.pipeline, m.design))

    def _index(self, source: PairSource) -> _IndexedSource:
        if source.rgb_only not in ("zero", "duplicate"):
            raise ConfigError(f"source {source.name}: rgb_only must be 'zero' or 'duplicate', got {source.rgb_only!r}")
        sequences, frames, has_aux = [], [], []
        dropped = []
        for sequence in source.sequences:
            if RGB not in sequence.frames:
                raise DataError(f"source {source.name}: sequence {sequence.name} has no rgb frames")
            indices = visible_frames(sequence)
            if not len(indices):
                dropped.append(sequence.name)
                continue
            sequences.append(sequence)
            frames.append(indices)
            has_aux.append(self.aux_modality is not None and self.aux_modality in sequence.frames)
        if dropped:
            logger.warning("source %s: %d sequences without a visible target are not sampled: %s",
                           source.name, len(dropped), ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else ""))
        if not sequences:
            raise DataError(f"source {source.name}: no sequence has a visible target ({len(source.sequences)} given)")
        missing = sum(not a for a in has_aux)
        if self.aux_modality is not None and missing:
            what = "zeroed (aux_valid False)" if source.rgb_only == "zero" else "duplicated from RGB"
            logger.info("source %s: %d of %d sequences have no %s frames; their aux is %s",
                        source.name, missing, len(sequences), self.aux_modality, what)
        return _IndexedSource(source, sequences, frames, has_aux)

    # -- epoch and counters ------------------------------------------------------------

    def __len__(self) -> int:
        return self.data.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's draws; call before creating the epoch's DataLoader iterator."""
        self.epoch = int(epoch)

    @property
    def skipped_frames(self) -> int:
        """Unreadable frames skipped so far (with `skip_unreadable`), across all workers."""
        return int(self._skipped.value)

    @property
    def frame_count(self) -> int:
        """Visible frames indexed, over all sources."""
        return sum(len(f) for s in self.sources for f in s.frames)

    # -- sampling ----------------------------------------------------------------------

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _draw_frames(self, rng: np.random.Generator) -> tuple[int, int, int, int]:
        source_i = int(np.searchsorted(self.cumulative_weights, rng.random(), side="right"))
        source_i = min(source_i, len(self.sources) - 1)
        indexed = self.sources[source_i]
        sequence_i = int(rng.integers(len(indexed.sequences)))
        frames = indexed.frames[sequence_i]
        template = int(frames[rng.integers(len(frames))])
        lo = np.searchsorted(frames, template - self.data.max_gap, side="left")
        hi = np.searchsorted(frames, template + self.data.max_gap, side="right")
        search = int(frames[rng.integers(lo, hi)])
        return source_i, sequence_i, template, search

    def _read(self, sequence: Sequence, index: int, modality: str, cache: dict) -> np.ndarray:
        key = (index, modality)
        if key not in cache:
            cache[key] = sequence.frame(index, modality)
        return cache[key]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.sample(index)[0]

    def sample(self, index: int) -> tuple[dict[str, torch.Tensor], PairInfo]:
        """Sample `index` of the current epoch and where it came from."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range 0..{len(self) - 1}")
        rng = self.rng(index)
        for _attempt in range(MAX_UNREADABLE_RETRIES):
            source_i, sequence_i, t, s = self._draw_frames(rng)
            indexed = self.sources[source_i]
            sequence = indexed.sequences[sequence_i]
            has_aux = indexed.has_aux[sequence_i]
            cache: dict = {}
            # the clean twin (synthetic sets written with twins) when the clean crops travel
            twin = self.degrader is not None and RGB_CLEAN in sequence.frames
            try:
                frames = []
                for frame_index in (t, s):
                    rgb = self._read(sequence, frame_index, RGB, cache)
                    aux = self._read(sequence, frame_index, self.aux_modality, cache) if has_aux else None
                    if aux is not None and aux.shape[:2] != rgb.shape[:2]:
                        raise DataError(
                            f"sequence {sequence.name} frame {frame_index}: {self.aux_modality} frame "
                            f"{aux.shape[1]}x{aux.shape[0]} does not match rgb {rgb.shape[1]}x{rgb.shape[0]} "
                            f"({sequence.frame_path(frame_index, self.aux_modality)})"
                        )
                    frames.append((rgb, aux, self._read(sequence, frame_index, RGB_CLEAN, cache) if twin else None))
            except DataError as exc:
                if not self.data.skip_unreadable:
                    raise
                with self._skipped.get_lock():
                    self._skipped.value += 1
                    count = self._skipped.value
                logger.warning("skipped unreadable frame (%d so far), drawing another pair: %s", count, exc)
                continue
            item, info = self._make_pair(rng, indexed, sequence, has_aux, t, s, frames)
            if self.degrader is not None:
                degrade_crops(item, self.degrader.draw(np.random.default_rng([self.seed, self.epoch, int(index), 1])))
            return item, info
        raise DataError(f"sample {index}: {MAX_UNREADABLE_RETRIES} unreadable frames in a row; is the dataset intact?")

    def _make_pair(self, rng, indexed, sequence, has_aux, t, s, frames):
        d = self.data
        # every random number is drawn whatever the settings, so the geometry of a sample
        # does not change when an augmentation is switched off
        flipped = bool(rng.random() < d.flip_prob)
        item: dict[str, torch.Tensor] = {}
        rgb_only = indexed.source.rgb_only
        aux_valid = has_aux or (self.aux_modality is not None and rgb_only == "duplicate")
        for role, frame_index, (rgb, aux, twin), factor, size, jitter in (
            ("template", t, frames[0], d.template_factor, self.template_size, (0.0, 0.0)),
            ("search", s, frames[1], d.search_factor, self.search_size, (d.scale_jitter, d.center_jitter)),
        ):
            box = sequence.boxes[frame_index]
            gaussians, uniforms = rng.standard_normal(2), rng.random(2)
            retry_seed = int(rng.integers(2**62)) if self.pipeline == "lorat" else 0
            rgb_crop, aux_crop, twin_crop, label = self._crop(rgb, aux, twin, box, factor, size, jitter, gaussians,
                                                              uniforms, flipped, retry_seed)
            if aux_crop is None and self.aux_modality is not None:
                aux_crop = rgb_crop if rgb_only == "duplicate" else np.zeros_like(rgb_crop)
            rgb_crop, aux_crop, twin_crop = self._photometric(rng, rgb_crop, aux_crop, aux_is_sensor=has_aux,
                                                              twin=twin_crop)
            if twin_crop is not None:
                item[f"{role}_rgb_twin"] = to_chw(twin_crop)
            box_norm = np.clip(label.frame_to_crop(xywh_to_xyxy(box), normalised=True), 0.0, 1.0)
            grid = size // self.patch_size
            item[f"{role}_rgb"] = to_chw(rgb_crop)
            if self.aux_modality is not None:
                item[f"{role}_aux"] = to_chw(aux_crop)
            item[f"{role}_box"] = torch.from_numpy(box_norm.astype(np.float32))
            if role == "template" and self.pipeline == "lorat":
                box_pixels = label.frame_to_crop(xywh_to_xyxy(box))
                item["template_mask"] = torch.from_numpy(lorat_mask_cells(box_pixels, self.patch_size, (grid, grid)))
            elif role == "template":
                item["template_mask"] = torch.from_numpy(grid_touch_mask(box_norm, grid, grid))
            else:
                item["search_positive"] = torch.from_numpy(grid_center_mask(box_norm, grid, grid))
        item["aux_valid"] = torch.tensor(bool(aux_valid))
        info = PairInfo(indexed.source.name, sequence.name, t, s, bool(aux_valid), flipped)
        return item, info

    def _crop(self, rgb, aux, twin, box, factor, size, jitter, gaussians, uniforms, flipped, retry_seed=0):
        """(rgb crop, aux crop or None, clean-twin crop or None, label transform) by the pipeline's
        rule; the auxiliary image and the clean twin are cut with the RGB crop's window."""
        scale_jitter, center_jitter = jitter
        if self.pipeline == "lorat":
            box_xyxy = xywh_to_xyxy(np.asarray(box, dtype=np.float64))
            if any(jitter):
                scale, translation = lorat_jitter(box_xyxy, factor, size, scale_jitter, center_jitter, gaussians,
                                                  uniforms, retry_seed)
            else:
                scale, translation = siamfc_params(box_xyxy, factor, size)
            crops = [lorat_crop(image, scale, translation, size, flipped=flipped, exact=False) if image is not None
                     else (None, None)
                     for image in (rgb, aux, twin)]
            # to uint8, rounding half to even like np.rint (the crops are >= 0: the abs is a no-op)
            rounded = [None if c is None else cv2.convertScaleAbs(c) for c, _ in crops]
            return rounded[0], rounded[1], rounded[2], crops[0][1]
        window_box = jitter_box(box, scale_jitter, center_jitter, gaussians, uniforms) if any(jitter) else box
        if self.pipeline == "ostrack":
            rgb_crop, transform, _ = ostrack_crop(rgb, window_box, factor, size, flipped)
            aux_crop, twin_crop = (ostrack_crop(image, window_box, factor, size, flipped)[0] if image is not None else None
                                   for image in (aux, twin))
            return rgb_crop, aux_crop, twin_crop, ostrack_label_transform(transform)
        transform = crop_window(window_box, factor, size, flipped)
        aux_crop, twin_crop = (warp_crop(image, transform) if image is not None else None for image in (aux, twin))
        return warp_crop(rgb, transform), aux_crop, twin_crop, transform

    def _photometric(self, rng, rgb, aux, aux_is_sensor: bool, twin=None):
        """The photometric augmentation of one RGB crop (and its aux crop's blur); a clean
        twin crop gets the same operations with the same draws."""
        d = self.data
        j = d.color_jitter
        factors = rng.uniform(1.0 - j, 1.0 + j, size=3)  # exactly 1.0 when j == 0
        pick, sigma = rng.random(), rng.uniform(0.1, 2.0)
        out = color_jitter(rgb, *factors)
        twin = color_jitter(twin, *factors) if twin is not None else None
        if pick < d.grayscale_prob:
            out = grayscale(out)
            twin = grayscale(twin) if twin is not None else None
        elif pick < d.grayscale_prob + d.blur_prob:
            out = blur(out, sigma)
            twin = blur(twin, sigma) if twin is not None else None
            if aux is not None and (aux_is_sensor or aux is rgb):  # zeroed aux stays zero
                aux = blur(aux, sigma)
        elif pick < d.grayscale_prob + d.blur_prob + d.solarize_prob:
            out = solarize(out)
            twin = solarize(twin) if twin is not None else None
        return out, aux, twin


# LoRAT's redraws of a search-crop jitter (`prepare_siamfc_cropping_with_augmentation`): at most
# this many more draws, and the smallest target side kept in the crop (its `min_object_size: 10`
# for 224 px crops, scaled with the crop size)
LORAT_JITTER_RETRIES = 10
LORAT_MIN_CROPPED_SIDE = 10.0 / 224


def lorat_jitter(box_xyxy, factor, size, scale_jitter, center_jitter, gaussians, uniforms, retry_seed):
    """LoRAT's jittered search window, redrawn (from a generator seeded by `retry_seed`, so the
    sample's own random stream does not depend on the redraws) while the target misses the
    crop or is cut to under `LORAT_MIN_CROPPED_SIDE * size` per side; after the last redraw the
    window is kept whatever it holds, as LoRAT's (which then marks the pair negative)."""
    retry = None
    for attempt in range(LORAT_JITTER_RETRIES + 1):
        if attempt:
            retry = retry or np.random.default_rng(retry_seed)
            gaussians, uniforms = retry.standard_normal(2), retry.random(2)
        scale, translation = siamfc_jittered_params(box_xyxy, factor, size, scale_jitter, center_jitter,
                                                    gaussians, uniforms)
        x0, x1 = box_xyxy[0] * scale[0] + translation[0], box_xyxy[2] * scale[0] + translation[0]
        y0, y1 = box_xyxy[1] * scale[1] + translation[1], box_xyxy[3] * scale[1] + translation[1]
        w = min(max(x1, 0), size) - min(max(x0, 0), size)
        h = min(max(y1, 0), size) - min(max(y0, 0), size)
        if w > 0 and h > 0 and min(w, h) >= LORAT_MIN_CROPPED_SIDE * size:
            break
    return scale, translation


def degrade_crops(item: dict[str, torch.Tensor], degradation: Degradation | None) -> None:
    """Degrade a pair's RGB crops alike (same drawn parameters; streams 0 template, 1 search),
    keeping the clean crops as `template_rgb_clean` / `search_rgb_clean` (FCTL's teacher input;
    always present when degradation is on, equal to the RGB crops for an undegraded pair).
    A pair cut from a sequence with a clean twin (`{role}_rgb_twin`, popped here) takes the
    twin's crops as the clean ones: the RGB frame may be degraded already (a synthetic night),
    and the on-the-fly degradation then acts on that frame."""
    for stream, role in enumerate(("template", "search")):
        rgb = item[f"{role}_rgb"]
        twin = item.pop(f"{role}_rgb_twin", None)
        item[f"{role}_rgb_clean"] = twin if twin is not None else rgb
        if degradation is not None:
            item[f"{role}_rgb"] = to_chw(degradation(np.ascontiguousarray(rgb.numpy().transpose(1, 2, 0)), stream))


# --------------------------------------------------------------------------------------
# Sharding and loading
# --------------------------------------------------------------------------------------


class ShardSampler(Sampler[int]):
    """Rank `rank` of `world_size` takes indices rank, rank + W, ... (`length // W` of them,
    the same count on every rank), starting at its `start`-th (to resume mid-epoch)."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"bad shard: rank {rank} of world size {world_size}")
        self.length, self.rank, self.world_size = int(length), int(rank), int(world_size)
        self.per_rank = self.length // self.world_size
        if not 0 <= start <= self.per_rank:
            raise ConfigError(f"resume position {start} outside 0..{self.per_rank}")
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank + self.start * self.world_size, self.per_rank * self.world_size, self.world_size))

    def __len__(self) -> int:
        return self.per_rank - self.start


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # the workers are the parallelism


def pair_loader(
    dataset: PairDataset,
    batch_size: int,
    num_workers: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    start_batch: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int | None = None,
) -> DataLoader:
    """The DataLoader over this rank's shard of the current epoch, from batch `start_batch`
    (resume), dropping a last incomplete batch so every rank takes the same number of steps.

    With workers it sets `cv2.setNumThreads(1)` in the calling process (see below).
    """
    workers = dataset.data.num_workers if num_workers is None else num_workers
    if workers > 0:
        # OpenCV's thread pool off in this process before the workers fork: the workers are
        # the parallelism, and calling `cv2.setNumThreads` inside a forked worker whose parent
        # had a live pool deadlocks (pthread_cond_destroy on the inherited pool; seen here)
        cv2.setNumThreads(1)
    sampler = ShardSampler(len(dataset), rank, world_size, start=start_batch * batch_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        drop_last=True,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers > 0 else None,
        prefetch_factor=prefetch_factor if workers > 0 else None,
        persistent_workers=False,
    )


def sources_from_config(data: DataConfig) -> list[PairSource]:
    """The training mixture `data.train` loaded through `tracktune.data.benchmarks.load`."""
    return [
        PairSource(f"{entry.name}:{entry.split}", load(entry.name, entry.root, entry.split, modality=data.modality),
                   entry.weight, entry.rgb_only)
        for entry in data.train
    ]
