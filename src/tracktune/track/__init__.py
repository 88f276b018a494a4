"""Inference on full frames: `Tracker` (one target) and `BatchedRunner` (many sequences,
one forward pass per step). torch is imported on first use of these names."""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("Tracker", "TrackingCore", "hann_window"):
        from tracktune.track import tracker

        return getattr(tracker, name)
    if name in ("BatchedRunner", "SequenceResult"):
        from tracktune.track import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Tracker", "TrackingCore", "BatchedRunner", "SequenceResult", "hann_window"]
