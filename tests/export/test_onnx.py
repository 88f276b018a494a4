"""ONNX export: onnxruntime's outputs against PyTorch's on the same inputs (an independent
runtime executing the exported graph), the dynamic batch, the named inputs, the command, and
tracking through the onnxruntime backend against the PyTorch model's boxes."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

for _module in ("onnx", "onnxruntime", "onnxscript"):
    pytest.importorskip(_module, reason=f"the optional '{_module}' package is not installed "
                                        f"(pip install 'tracktune[onnx]'); ONNX export tests skipped")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "track"))

from track_fixtures import MovingBoxSequence, run_dir  # noqa: E402, F401 (run_dir: a fixture)
from tracktune.cli import main as cli_main  # noqa: E402
from tracktune.config import load_config  # noqa: E402
from tracktune.export.onnx import (OUTPUT_NAMES, OnnxRuntimeModel, example_inputs, export_onnx,  # noqa: E402
                                   input_names, load_tracking_model, run_session, session)
from tracktune.runs import build_training_model  # noqa: E402

TOLERANCE = 1e-4


def random_model(name: str):
    """A shipped config's inference model with random weights (no pretrained file)."""
    config = load_config(name, ["model.pretrained=null", "srft.cache_dir=null"])
    torch.manual_seed(0)
    model, methods = build_training_model(config)
    for method in methods:
        model = method.export(model)
    model.config = config
    return model.eval()


def assert_matches(model, path, batch):
    sess = session(path)
    inputs = example_inputs(model, batch=batch, seed=batch)
    with torch.inference_mode():
        reference = model(**inputs)
    got = run_session(sess, inputs)
    for name in OUTPUT_NAMES:
        ours = reference[name].float().numpy()
        assert got[name].shape == ours.shape
        assert np.abs(got[name] - ours).max() < TOLERANCE, (name, np.abs(got[name] - ours).max())
    return sess


@pytest.mark.parametrize("name", ["tiny_rgbt", "tiny_patrack", "tiny_srft", "lorat_b224_rgbt"])
def test_fp32_matches_pytorch_at_any_batch(name, tmp_path):
    model = random_model(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    sess = assert_matches(model, path, batch=1)
    assert_matches(model, path, batch=3)  # the example batch was 5: the batch is dynamic
    assert [i.name for i in sess.get_inputs()] == input_names(model)
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    expected = ["template_rgb", "search_rgb", "template_aux", "search_aux", "template_mask"]
    assert input_names(model) == expected  # every shipped tiny config reads thermal
    shapes = {i.name: i.shape for i in sess.get_inputs()}
    zs, xs = model.template_size, model.search_size
    assert shapes["template_rgb"][1:] == [3, zs, zs] and shapes["search_rgb"][1:] == [3, xs, xs]
    assert shapes["template_mask"][1:] == list(model.template_grid)
    assert isinstance(shapes["template_rgb"][0], str)  # a named (dynamic) batch dimension
    # the file carries the config: a deployed .onnx alone rebuilds what the tracker needs
    deployed = OnnxRuntimeModel(path)
    assert deployed.config == model.config and deployed.search_grid == tuple(model.search_grid)
    assert deployed.fusion_module.needs_aux


def test_rgb_model_has_no_aux_inputs_and_int8_fp16_run(tmp_path):
    model = random_model("tiny_rgbt")
    config = copy.deepcopy(model.config)
    config.model.fusion = "rgb"
    torch.manual_seed(0)
    rgb_model, methods = build_training_model(config)
    rgb_model.config = config
    rgb_model.eval()
    path = export_onnx(rgb_model, tmp_path / "rgb.onnx")
    assert input_names(rgb_model) == ["template_rgb", "search_rgb", "template_mask"]
    assert_matches(rgb_model, path, batch=2)
    for precision, bound in (("int8", 0.05), ("fp16", 0.05)):
        low = export_onnx(model, tmp_path / f"{precision}.onnx", precision)
        sess = session(low)
        inputs = example_inputs(model, batch=2)
        got = run_session(sess, inputs)
        with torch.inference_mode():
            ref = model(**inputs)
        assert np.abs(got["boxes"] - ref["boxes"].numpy()).max() < bound
    assert (tmp_path / "int8.onnx").stat().st_size < (tmp_path / "fp16.onnx").stat().st_size


def test_command_reports_differences_and_speed(run_dir, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    code = cli_main(["export", "onnx", "--checkpoint", str(run_dir), "--out", str(out), "--check", "--rounds", "2",
                     "--threads", "1", "--json", "--tolerance", str(TOLERANCE)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"] == ["template_rgb", "search_rgb", "template_aux", "search_aux", "template_mask"]
    assert all(d["max_abs_diff"] < TOLERANCE for d in report["difference"].values())
    assert set(report["frames_per_s"]) == {"onnxruntime", "pytorch_fp32", "pytorch_bf16"}
    assert all(v > 0 for v in report["frames_per_s"].values())
    # an existing file is not replaced without --force
    assert cli_main(["export", "onnx", "--checkpoint", str(run_dir), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err


def test_onnxruntime_backend_tracks_like_pytorch(run_dir, tmp_path):
    from tracktune.track.runner import BatchedRunner

    model = load_tracking_model(run_dir, "pytorch")
    path = export_onnx(model, tmp_path / "model.onnx")
    deployed = load_tracking_model(path, "onnxruntime")
    track = model.config.track
    track.amp = "none"  # the fp32 graph against fp32 PyTorch
    sequences = [MovingBoxSequence(f"m{i}", 8, seed=i) for i in range(3)]
    ours = BatchedRunner(model, track, batch_size=2, progress=False).run(sequences)
    theirs = BatchedRunner(deployed, track, batch_size=2, progress=False).run(sequences)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
    with pytest.raises(Exception, match="export it first"):
        load_tracking_model(run_dir, "onnxruntime")
