from __future__ import annotations

import numpy as np
import pytest

from track_fixtures import MovingBoxSequence, micro_model
from tracktune.errors import DataError
from tracktune.track.runner import BatchedRunner
from tracktune.track.tracker import Tracker


def sequential(model, config, sequence, rgb_only=False):
    tracker = Tracker(model, config.track)
    aux = lambda i: sequence.frame(i, "rgb" if rgb_only else "thermal")  # noqa: E731
    tracker.init(sequence.frame(0), sequence.boxes[0], aux(0))
    boxes, scores = [sequence.boxes[0]], [1.0]
    for i in range(1, len(sequence.boxes)):
        box, score = tracker.update(sequence.frame(i), aux(i))
        boxes.append(box)
        scores.append(score)
    return np.array(boxes), np.array(scores)


@pytest.fixture(scope="module")
def model_and_config():
    return micro_model("early_add")


def test_batched_equals_sequential(model_and_config):
    model, config = model_and_config
    sequences = [MovingBoxSequence("a", 5, seed=1), MovingBoxSequence("b", 8, seed=2),
                 MovingBoxSequence("c", 3, seed=3), MovingBoxSequence("d", 1, seed=4)]
    calls = []
    handle = model.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        results = BatchedRunner(model, config.track, batch_size=3, progress=False).run(sequences)
    finally:
        handle.remove()
    steps = len(calls)
    # a (4 steps), b (7), c (2) in 3 slots; d has only its first frame: 7 steps in lockstep
    assert steps == 7
    assert [r.name for r in results] == ["a", "b", "c", "d"]
    for sequence, result in zip(sequences, results):
        boxes, scores = sequential(model, config, sequence)
        assert result.boxes.shape == (len(sequence.boxes), 4)
        np.testing.assert_array_equal(result.boxes[0], sequence.boxes[0])
        np.testing.assert_allclose(result.boxes, boxes, rtol=0, atol=1e-6)
        np.testing.assert_allclose(result.scores, scores, rtol=0, atol=1e-6)


def test_rgb_only_feeds_rgb_as_aux(model_and_config):
    model, config = model_and_config
    sequence = MovingBoxSequence("a", 4, seed=5)
    (result,) = BatchedRunner(model, config.track, batch_size=2, progress=False, rgb_only=True).run([sequence])
    boxes, _ = sequential(model, config, sequence, rgb_only=True)
    np.testing.assert_allclose(result.boxes, boxes, atol=1e-6)
    (with_aux,) = BatchedRunner(model, config.track, progress=False).run([sequence])
    assert not np.allclose(with_aux.boxes[1:], result.boxes[1:])


def test_missing_aux_or_first_box_is_an_error(model_and_config):
    model, config = model_and_config
    sequence = MovingBoxSequence("a", 3)
    del sequence.frames["thermal"]
    with pytest.raises(DataError, match="auxiliary"):
        BatchedRunner(model, config.track, progress=False).run([sequence])
    sequence = MovingBoxSequence("b", 3)
    sequence.boxes[0] = np.nan
    with pytest.raises(DataError, match="first frame"):
        BatchedRunner(model, config.track, progress=False).run([sequence])
