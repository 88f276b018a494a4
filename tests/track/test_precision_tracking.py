"""Trackers run a prepared copy of the model in `track.precision`: the caller's model is never
changed, the legacy `track.amp` still decides while precision is auto, bf16 / int8 agree with
fp32 within their rounding, batching never changes an int8 track, and the CUDA-graph path of
`TrackingCore.forward` runs (with a stand-in graph) on CPU."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from track_fixtures import MovingBoxSequence
from tracktune.config import TrackConfig, from_dict
from tracktune.model.inference import GraphedForward, Int8Linear, PackedLinear, cpu_packing_available, int8_available
from tracktune.precision import cpu_has_fast_bf16, resolve_track_precision
from tracktune.track.runner import BatchedRunner
from tracktune.track.tracker import Tracker, TrackingCore


def with_precision(config, precision):
    return dataclasses.replace(config.track, precision=precision, amp=None)


@pytest.fixture(scope="module")
def model_and_config():
    """The micro tracker, 128 wide so that int8 replaces its Linears (INT8_MIN_FEATURES)."""
    from tracktune.config import load_config
    from tracktune.model import build_model

    config = load_config(None, [
        "model.design=lorat", "model.size=tiny", "model.embed_dim=128", "model.depth=2", "model.num_heads=2",
        "model.patch_size=16", "model.template_size=64", "model.search_size=128", "model.fusion=early_add",
        "model.pretrained=null", "methods=[full]", "track.amp=none", "data.modality=thermal"])
    torch.manual_seed(0)
    return build_model(config).eval(), config


def test_precision_names_resolve():
    cases = [  # (precision, amp, device) -> expected, by the documented rule
        (("int8", None, "cpu"), "int8"),
        (("fp32", "bf16", "cpu"), "fp32"),  # precision, when set, wins over the legacy amp
        (("auto", "none", "cpu"), "fp32"),
        (("auto", "bf16", "cpu"), "bf16"),
        (("auto", "fp16", "cpu"), "fp16"),
        (("auto", None, "cpu"), "bf16" if cpu_has_fast_bf16() else "fp32"),
    ]
    for args, expected in cases:
        assert resolve_track_precision(*args) == expected, args
    from tracktune.errors import ConfigError

    with pytest.raises(ConfigError):
        resolve_track_precision("int4", None, "cpu")
    # a config saved before track.precision existed still loads, and its amp still decides
    old = from_dict(TrackConfig, {"window_influence": 0.3, "amp": "none"})
    assert old.precision == "auto" and resolve_track_precision(old.precision, old.amp, "cpu") == "fp32"


def test_tracker_runs_a_prepared_copy_and_leaves_the_model_alone(model_and_config):
    model, config = model_and_config
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tracker = Tracker(model, with_precision(config, "bf16"))
    assert tracker.core.precision == "bf16" and tracker.core.net is not model
    # oneDNN's packed bf16 Linears where the CPU runs them; plain bf16 Linears elsewhere
    assert any(isinstance(m, PackedLinear) for m in tracker.core.net.modules()) == cpu_packing_available()
    sequence = MovingBoxSequence("a", 3, seed=1)
    tracker.init(sequence.frame(0), sequence.boxes[0], sequence.frame(0, "thermal"))
    tracker.update(sequence.frame(1), sequence.frame(1, "thermal"))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not any(isinstance(m, PackedLinear) for m in model.modules())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    legacy = Tracker(model, dataclasses.replace(config.track, precision="auto", amp="none"))
    assert legacy.core.precision == "fp32" and legacy.core.net is model  # fp32 eval model: no copy


def forward_all(core, sequence):
    """Per frame t >= 1: the model's outputs for the search crop around the ground truth of t-1
    and the template of frame 0 (the same inputs whatever the precision)."""
    state = core.init_state(sequence.frame(0), sequence.boxes[0], sequence.frame(0, "thermal"))
    scores, boxes = [], []
    for t in range(1, len(sequence.boxes)):
        state.box = sequence.boxes[t - 1]
        search = core.search_inputs(state, sequence.frame(t), sequence.frame(t, "thermal"))
        s, b = core.forward([state], [search])
        scores.append(s[0])
        boxes.append(b[0])
    return np.array(scores), np.array(boxes)


def test_bf16_and_int8_agree_with_fp32_over_a_sequence(model_and_config):
    """Bound on every cell's box (normalised to the search crop: 0.02 is 2.6 px of a 128 px crop)
    and score logit, frame after frame of a synthetic sequence."""
    model, config = model_and_config
    sequence = MovingBoxSequence("a", 8, seed=7)
    reference = forward_all(TrackingCore(model, with_precision(config, "fp32")), sequence)
    bounds = {"bf16": (0.1, 0.02), "int8": (0.3, 0.05)}
    for precision in ["bf16"] + (["int8"] if int8_available() else []):
        scores, boxes = forward_all(TrackingCore(model, with_precision(config, precision)), sequence)
        assert np.abs(scores - reference[0]).max() < bounds[precision][0], precision
        assert np.abs(boxes - reference[1]).max() < bounds[precision][1], precision


def test_int8_batched_equals_int8_one_by_one(model_and_config):
    if not int8_available():
        pytest.skip("no oneDNN quantised linear in this torch build")
    model, config = model_and_config
    track = with_precision(config, "int8")
    sequences = [MovingBoxSequence("a", 4, seed=1), MovingBoxSequence("b", 5, seed=2)]
    results = BatchedRunner(model, track, batch_size=2, progress=False).run(sequences)
    for sequence, result in zip(sequences, results):
        tracker = Tracker(model, track)
        assert any(isinstance(m, Int8Linear) for m in tracker.core.net.modules())
        tracker.init(sequence.frame(0), sequence.boxes[0], sequence.frame(0, "thermal"))
        boxes = [sequence.boxes[0]] + [tracker.update(sequence.frame(t), sequence.frame(t, "thermal"))[0]
                                       for t in range(1, len(sequence.boxes))]
        np.testing.assert_allclose(result.boxes, np.array(boxes), rtol=0, atol=1e-6)


class RerunGraph:
    """Stands in for torch.cuda.CUDAGraph: `replay` reruns the bound function."""

    def __init__(self):
        self.rerun = None
        self.replays = 0

    def replay(self):
        self.replays += 1
        self.rerun()


def copy_into(static, fresh):
    if isinstance(static, torch.Tensor):
        static.copy_(fresh)
    elif isinstance(static, dict):
        for key in static:
            copy_into(static[key], fresh[key])


def test_forward_replays_a_graph_for_batch_one(model_and_config):
    """TrackingCore.forward's CUDA path (set up on CUDA when track.cuda_graphs): batch-1 steps go
    through GraphedForward, larger batches run the model eagerly; same outputs either way."""
    model, config = model_and_config
    core = TrackingCore(model, with_precision(config, "bf16"))
    assert core.graphed is None  # CPU: no graphs
    graphed = GraphedForward(core.net, graph_type=RerunGraph, capture=lambda graph: torch.no_grad(),
                             stream_factory=lambda: None, warmup=1)
    capture = graphed._capture

    def bound_capture(inputs):
        graph, static, outputs = capture(inputs)
        graph.rerun = lambda: copy_into(outputs, core.net(**static))
        return graph, static, outputs

    graphed._capture = bound_capture
    sequences = [MovingBoxSequence("a", 3, seed=1), MovingBoxSequence("b", 3, seed=2)]
    eager = [forward_all(core, s) for s in sequences]
    core.graphed = graphed
    replayed = [forward_all(core, s) for s in sequences]
    for (s0, b0), (s1, b1) in zip(eager, replayed):
        np.testing.assert_array_equal(s0, s1)
        np.testing.assert_array_equal(b0, b1)
    (graph, _, _), = graphed.graphs.values()
    assert graph.replays == 4  # 2 sequences x 2 tracked frames, one capture
    states = [core.init_state(s.frame(0), s.boxes[0], s.frame(0, "thermal")) for s in sequences]
    searches = [core.search_inputs(st, s.frame(1), s.frame(1, "thermal")) for st, s in zip(states, sequences)]
    core.forward(states, searches)  # batch 2: eager, no new graph
    assert len(graphed.graphs) == 1 and graph.replays == 4


def test_a_slow_precision_is_warned_about_once(model_and_config, monkeypatch, caplog):
    import logging

    import tracktune.track.tracker as tracker_module

    model, config = model_and_config
    monkeypatch.setattr(tracker_module, "_WARNED", set())
    monkeypatch.setattr(tracker_module, "slow_cpu_precision", lambda p: "this CPU lacks it" if p == "bf16" else None)
    with caplog.at_level(logging.WARNING, logger="tracktune.track.tracker"):
        Tracker(model, with_precision(config, "fp32"))
        Tracker(model, with_precision(config, "bf16"))
        Tracker(model, with_precision(config, "bf16"))
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "track.precision bf16: this CPU lacks it" in warned[0] and "auto" in warned[0]
