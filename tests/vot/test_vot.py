"""The VOT toolkit drives a tracktune checkpoint over TraX, offline, on a local stack made from
the synthetic RGB-D set; tracktune's `vot_lt` analysis of the toolkit's result files equals
the toolkit's own long-term analysis (precision, recall, F) of them.

Also, without the toolkit: the stack's files, the workspace's files, and the binary trajectory
reader against the toolkit's writer."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tracktune.errors import DataError
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "track"))

from track_fixtures import micro_config  # noqa: E402
from tracktune.cli import main as cli_main  # noqa: E402


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


needs_toolkit = pytest.mark.skipif(
    not (_have("vot") and _have("trax") and _have("attributee")),
    reason="the VOT toolkit is not installed (pip install 'tracktune[vot]': vot-toolkit 0.9.0, attributee 0.1.9, "
           "vot-trax); the toolkit-driven tests skip")


@pytest.fixture(scope="module")
def rgbd(tmp_path_factory):
    """A synthetic RGB-D set (6 train, 2 test sequences of 10 frames) and a micro RGB-D
    checkpoint trained one step on its train split."""
    from tracktune.config import from_dict, to_dict
    from tracktune.data.benchmarks import synthetic
    from tracktune.data.pairs import PairSource
    from tracktune.train.trainer import train

    base = tmp_path_factory.mktemp("rgbd")
    root = base / "synthetic"
    train_sequences = synthetic.load(root, split="train", modality="depth", sequences=8, frames=10,
                                     size=(128, 96), workers=1)
    data = to_dict(micro_config("early_add"))
    data["data"].update({"modality": "depth", "samples_per_epoch": 2, "num_workers": 0, "max_gap": 3})
    data["train"].update({"epochs": 1, "batch_size": 2, "amp": "none", "log_every": 1, "checkpoint_every": 1,
                          "device": "cpu", "warmup_fraction": 0.0})
    data["track"]["amp"] = "none"
    config = from_dict(type(micro_config()), data)
    train(config, base / "run", progress=False, sources=[PairSource("memory", train_sequences)])
    return root, base / "run"


def test_stack_holds_the_sequences_in_the_toolkit_layout(rgbd, tmp_path):
    from tracktune.data.benchmarks import synthetic

    root, _ = rgbd
    out = tmp_path / "stack"
    assert cli_main(["vot", "stack", "synthetic", "--root", str(root), "--split", "test", "--out", str(out)]) == 0
    test = synthetic.load(root, split="test")
    assert len(test) == 2
    stack = yaml.safe_load((out / "stack.yaml").read_text())
    assert stack["experiments"]["baseline"]["type"] == "unsupervised"
    assert (out / "sequences" / "list.txt").read_text().split() == [s.name for s in test]
    for sequence in test:
        folder = out / "sequences" / sequence.name
        properties = dict(line.split("=", 1) for line in (folder / "sequence").read_text().splitlines())
        assert properties["channels.color"] == "color/%08d.jpg" and properties["channels.depth"] == "depth/%08d.png"
        assert int(properties["length"]) == len(sequence)
        for index in (0, len(sequence) - 1):  # the stored bytes, renumbered from 1
            for channel, modality in (("color", "rgb"), ("depth", "depth")):
                copied = folder / channel / f"{index + 1:08d}{Path(sequence.frames[modality][index]).suffix}"
                assert copied.read_bytes() == Path(sequence.frames[modality][index]).read_bytes()
        gt = np.array([[float(v) for v in line.split(",")] for line in (folder / "groundtruth.txt").read_text().split()])
        np.testing.assert_allclose(gt, sequence.boxes, atol=5e-5, equal_nan=True)
    # not replaced without --force
    assert cli_main(["vot", "stack", "synthetic", "--root", str(root), "--split", "test", "--out", str(out)]) == 1


def test_workspace_files(rgbd, tmp_path):
    root, run = rgbd
    stack = tmp_path / "stack"
    cli_main(["vot", "stack", "synthetic", "--root", str(root), "--split", "test", "--out", str(stack)])
    ws = tmp_path / "ws"
    assert cli_main(["vot", "workspace", "--checkpoint", str(run), "--stack", str(stack), "--timeout", "60",
                     str(ws)]) == 0
    config = yaml.safe_load((ws / "config.yaml").read_text())
    assert config == {"registry": ["./trackers.ini"], "stack": str((stack / "stack.yaml").resolve()),
                      "sequences": str((stack / "sequences").resolve())}
    ini = configparser.ConfigParser()
    ini.read(ws / "trackers.ini")
    (section,) = ini.sections()
    entry = ini[section]
    assert section == "tracktune_run" and entry["protocol"] == "trax" and entry["timeout"] == "60"
    command = shlex.split(entry["command"])
    assert command[:5] == [sys.executable, "-m", "tracktune.cli", "vot", "serve"]
    assert command[command.index("--checkpoint") + 1] == str(run.resolve())
    assert command[command.index("--channels") + 1] == "rgbd"
    assert cli_main(["vot", "workspace", "--checkpoint", str(run), "--stack", str(stack), str(ws)]) == 1  # exists


@needs_toolkit
def test_binary_trajectories_read_as_the_toolkit_writes_them(tmp_path):
    from vot.region import Special
    from vot.region.io import write_trajectory
    from vot.region.shapes import Polygon, Rectangle

    from tracktune.eval.results import read_result_file

    regions = [Special(1), Rectangle(10.5, 20.25, 30.0, 40.0), Special(0)]
    path = tmp_path / "seq_001.bin"
    with open(path, "wb") as handle:
        write_trajectory(handle, regions)
    prediction, notes = read_result_file(path)
    expected = np.array([[np.nan] * 4, [10.5, 20.25, 30.0, 40.0], [np.nan] * 4])
    np.testing.assert_allclose(prediction.boxes, expected, equal_nan=True)
    # a polygon is not a rectangle: the rectangle protocols refuse it with a clear error
    polygon = tmp_path / "poly_001.bin"
    with open(polygon, "wb") as handle:
        write_trajectory(handle, regions + [Polygon([(1.0, 2.0), (11.0, 2.0), (11.0, 7.0), (1.0, 7.0)])])
    with pytest.raises(DataError, match="poly_001.bin"):
        read_result_file(polygon)


@needs_toolkit
def test_raster_overlap_equals_the_toolkits_on_fractional_boxes():
    from vot.region import calculate_overlaps
    from vot.region.shapes import Rectangle

    from tracktune.eval.metrics import overlap_raster

    rng = np.random.default_rng(3)
    size = (64, 48)
    p = np.column_stack([rng.uniform(-8, 60, 200), rng.uniform(-8, 44, 200), rng.uniform(0.6, 30, 200),
                         rng.uniform(0.6, 30, 200)])
    g = np.column_stack([rng.uniform(-4, 56, 200), rng.uniform(-4, 40, 200), rng.uniform(0.6, 30, 200),
                         rng.uniform(0.6, 30, 200)])
    theirs = calculate_overlaps([Rectangle(*b) for b in p], [Rectangle(*b) for b in g], size)
    np.testing.assert_allclose(overlap_raster(p, g, size), theirs, atol=1e-12)


@needs_toolkit
def test_the_toolkit_evaluates_a_checkpoint_over_trax_and_tracktune_reads_its_results(rgbd, tmp_path, capsys):
    root, run = rgbd
    stack, ws = tmp_path / "stack", tmp_path / "ws"
    assert cli_main(["vot", "stack", "synthetic", "--root", str(root), "--split", "test", "--out", str(stack)]) == 0
    assert cli_main(["vot", "workspace", "--checkpoint", str(run), "--stack", str(stack), "--device", "cpu",
                     "--timeout", "120", str(ws)]) == 0
    vot = [sys.executable, "-c", "import sys; from vot.utilities.cli import main; sys.argv[0] = 'vot'; main()"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOT_")}
    env["OMP_NUM_THREADS"] = "1"
    for command in (["evaluate", "--workspace", str(ws), "tracktune_run"],
                    ["analysis", "--workspace", str(ws), "--format", "json", "tracktune_run"]):
        done = subprocess.run(vot + command, capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0 and "rror" not in done.stdout + done.stderr, done.stdout + done.stderr
    results = ws / "results" / "tracktune_run" / "baseline"
    sequences = [line for line in (stack / "sequences" / "list.txt").read_text().split()]
    for name in sequences:  # the toolkit's layout: a trajectory (binary by default) and the confidences
        assert (results / name / f"{name}_001_confidence.value").is_file()
        assert list((results / name).glob(f"{name}_001.*"))
    (report,) = sorted((ws / "analysis").glob("*.json"))
    toolkit = json.loads(report.read_text())["results"]["baseline"]["results"][0]  # average_tpr: (Pr, Re, F)
    (pr, re, f), = toolkit
    capsys.readouterr()
    assert cli_main(["evaluate", "--protocol", "vot_lt", "--gt", str(stack / "sequences"), "--results",
                     str(results), "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)["trackers"]["baseline"]
    assert ours["Pr"] == pytest.approx(pr, abs=1e-9) and ours["Re"] == pytest.approx(re, abs=1e-9)
    assert ours["F"] == pytest.approx(f, abs=1e-9)

