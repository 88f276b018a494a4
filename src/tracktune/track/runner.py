"""`BatchedRunner`: many sequences in lockstep, one forward pass per step.

Up to `batch_size` sequences are active at once; each step advances every active sequence
by one frame with one forward pass. A sequence that ends frees its slot for the next one,
so sequences of different lengths drop out without stalling the others. The first frame's
box is the ground truth (score 1.0), as the one-pass evaluation protocols expect. The
boxes equal `Tracker`'s one-by-one boxes (same crops and decoding; `TrackingCore`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracktune.data.sequence import AUX_MODALITIES, RGB
from tracktune.errors import DataError
from tracktune.progress import progress_bar
from tracktune.track.tracker import TrackingCore


@dataclass
class SequenceResult:
    """One sequence's track: boxes (N, 4) xywh (frame 0 = ground truth), scores (N,)."""

    name: str
    boxes: np.ndarray
    scores: np.ndarray
    seconds: float = 0.0  # wall time spent on this sequence's frames (shared steps split evenly)


def aux_modality(sequence) -> str | None:
    """The sequence's auxiliary modality name (thermal / depth / event), or None."""
    present = [m for m in AUX_MODALITIES if m in sequence.frames]
    return present[0] if present else None


class BatchedRunner:
    """Run a tracker over whole sequences, `batch_size` at a time in lockstep.

    rgb_only: the RGB image stands in for the auxiliary frame (issue 8's forgetting
    measurement: how the tuned tracker does without its second modality).
    """

    def __init__(self, model, track_config, batch_size: int = 8, progress: bool = True, rgb_only: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.core = TrackingCore(model, track_config)
        self.batch_size = batch_size
        self.progress = progress
        self.rgb_only = rgb_only

    def _frames(self, sequence, index: int):
        rgb = sequence.frame(index, RGB)
        if not self.core.needs_aux:
            return rgb, None
        if self.rgb_only:
            return rgb, rgb
        modality = aux_modality(sequence)
        if modality is None:
            raise DataError(f"sequence {sequence.name}: the model needs an auxiliary modality but the sequence has "
                            f"only {sorted(sequence.frames)} (use --rgb-only to feed RGB in its place)")
        return rgb, sequence.frame(index, modality)

    def run(self, sequences, on_done=None) -> list[SequenceResult]:
        """Track every sequence from its first-frame ground truth; results in input order.
        `on_done(result)` is called with each sequence's `SequenceResult` as soon as its last
        frame is tracked (`tracktune run` writes its file then)."""
        import time

        for sequence in sequences:
            if len(sequence.boxes) == 0 or not np.isfinite(sequence.boxes[0]).all() or \
                    not (sequence.boxes[0][2] > 0 and sequence.boxes[0][3] > 0):
                raise DataError(f"sequence {sequence.name}: the first frame has no valid box {sequence.boxes[:1]}")
        lengths = [len(s.frames[RGB]) for s in sequences]
        boxes = [np.full((n, 4), np.nan) for n in lengths]
        scores = [np.full(n, np.nan) for n in lengths]
        seconds = [0.0] * len(sequences)
        pending = list(range(len(sequences)))[::-1]  # pop() takes the next in order
        active: dict[int, tuple[object, int]] = {}  # sequence index -> (state, next frame index)
        bar = progress_bar(sum(lengths), "tracking", "frame", self.progress)

        def finished(i: int) -> None:
            if on_done is not None:
                on_done(SequenceResult(sequences[i].name, boxes[i], scores[i], seconds[i]))
        try:
            while pending or active:
                while pending and len(active) < self.batch_size:
                    i = pending.pop()
                    start = time.perf_counter()
                    rgb, aux = self._frames(sequences[i], 0)
                    state = self.core.init_state(rgb, sequences[i].boxes[0], aux)
                    boxes[i][0], scores[i][0] = state.box, 1.0
                    seconds[i] += time.perf_counter() - start
                    bar.update(1)
                    if lengths[i] > 1:
                        active[i] = (state, 1)
                    else:
                        finished(i)
                if not active:
                    continue
                order = list(active)
                start = time.perf_counter()
                frames = [self._frames(sequences[i], active[i][1]) for i in order]
                results = self.core.step([active[i][0] for i in order], [f[0] for f in frames], [f[1] for f in frames])
                share = (time.perf_counter() - start) / len(order)
                for i, (box, score) in zip(order, results):
                    state, t = active[i]
                    boxes[i][t], scores[i][t] = box, score
                    seconds[i] += share
                    if t + 1 < lengths[i]:
                        active[i] = (state, t + 1)
                    else:
                        del active[i]
                        finished(i)
                bar.update(len(order))
        finally:
            bar.close()
        return [SequenceResult(s.name, b, c, t) for s, b, c, t in zip(sequences, boxes, scores, seconds)]


__all__ = ["BatchedRunner", "SequenceResult", "aux_modality"]
