"""`Sequence`: the one contract between data on disk and everything else.

A Sequence names its frames per modality (paths, loaded lazily), its ground-truth boxes
(`x, y, w, h` as the dataset stores them; NaN rows where the target is absent), per-frame
visibility, and attributes. Images come back as HxWx3 uint8 RGB; the auxiliary modality
is turned into its 3-channel form by `tracktune.data.modalities`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracktune.data.modalities import to_three_channel
from tracktune.errors import DataError

RGB = "rgb"
AUX_MODALITIES = ("thermal", "depth", "event")


def read_image(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Read an image file; colour images come back as HxWx3 uint8 RGB.

    `flags=cv2.IMREAD_UNCHANGED` returns the stored values (16-bit depth stays 16-bit).
    An unreadable or missing file is a `DataError` naming it.
    """
    path = Path(path)
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    if data is None:
        raise DataError(f"image not found: {path}")
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DataError(f"unreadable image (corrupt or not an image): {path}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return image


@dataclass
class Sequence:
    """One video of one target, in one or more modalities.

    Attributes:
        name: the dataset's sequence name.
        frames: modality -> list of frame paths ("rgb", and "thermal" / "depth" / "event").
        boxes: (N, 4) float64 `x, y, w, h`, the primary ground truth (NaN where absent).
        visible: (N,) bool, False where the target is absent, occluded fully or out of view.
        modality_boxes: per-modality ground truths where a benchmark has two (RGBT234,
            GTOT, LasHeR: {"rgb": ..., "thermal": ...}).
        attributes: per-sequence tags (`{"night": True}`) or per-frame arrays.
        meta: anything else the benchmark records (condition and severity for synthetic
            data, split, frame rate, the absent-flag file it came from).
    """

    name: str
    frames: dict[str, list[Path]]
    boxes: np.ndarray
    visible: np.ndarray | None = None
    modality_boxes: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.visible is None:
            self.visible = np.isfinite(self.boxes).all(axis=1) & (self.boxes[:, 2] > 0) & (self.boxes[:, 3] > 0)
        self.visible = np.asarray(self.visible, dtype=bool).reshape(-1)
        # a lazy FrameList (data/index_cache.py) stays lazy: 3.5M Path objects cost 16 s
        self.frames = {m: paths if hasattr(paths, "directory") else [Path(p) for p in paths]
                       for m, paths in self.frames.items()}
        if len(self.visible) != len(self.boxes):
            raise DataError(
                f"sequence {self.name}: {len(self.visible)} visibility flags for {len(self.boxes)} boxes"
            )

    def __len__(self) -> int:
        if self.frames:
            return min(len(paths) for paths in self.frames.values())
        return len(self.boxes)

    def __repr__(self) -> str:
        counts = ", ".join(f"{m}={len(p)}" for m, p in self.frames.items())
        return f"Sequence({self.name!r}, frames: {counts}, boxes={len(self.boxes)})"

    @property
    def modalities(self) -> list[str]:
        return list(self.frames)

    @property
    def aux_modality(self) -> str | None:
        """The auxiliary modality this sequence carries, if any."""
        aux = [m for m in self.frames if m != RGB]
        return aux[0] if aux else None

    def frame_path(self, index: int, modality: str = RGB) -> Path:
        if modality not in self.frames:
            raise DataError(f"sequence {self.name} has no '{modality}' frames (has {self.modalities})")
        paths = self.frames[modality]
        if not 0 <= index < len(paths):
            raise DataError(f"sequence {self.name}: frame {index} out of range 0..{len(paths) - 1} ({modality})")
        return paths[index]

    def raw_frame(self, index: int, modality: str = RGB) -> np.ndarray:
        """The stored values (16-bit depth stays 16-bit; colour comes back RGB)."""
        return read_image(self.frame_path(index, modality), cv2.IMREAD_UNCHANGED)

    def frame(self, index: int, modality: str = RGB) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB; auxiliary modalities in their 3-channel form."""
        if modality == RGB:
            return read_image(self.frame_path(index, modality))
        return to_three_channel(self.raw_frame(index, modality), modality)
