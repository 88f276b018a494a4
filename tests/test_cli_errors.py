"""A table of bad inputs across every command: each ends in exactly one
`tracktune <command>: error: ...` line on stderr naming what is at fault and what was
expected, a non-zero exit status, and no file of the tree it ran in created or changed.

The tree (`world`) holds a real synthetic dataset, a run directory trained for one step by
`tracktune train`, and the bad inputs themselves; it is hashed (paths and contents) before
and after each case. Most cases run `tracktune.cli.main` in-process; `SUBPROCESS_CASES` run
the installed entry point in a fresh interpreter (no traceback, exit status as a shell sees it).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tracktune.cli import main as cli_main

ONE_LINE = re.compile(r"^tracktune [a-z-]+(?: [a-z]+)?: error: \S.*$")

MICRO = """\
name: micro
methods: [full]
model:
  design: lorat
  size: tiny
  embed_dim: 32
  depth: 2
  num_heads: 2
  patch_size: 16
  template_size: 64
  search_size: 128
  fusion: early_add
data:
  modality: thermal
  train: [{{name: lasher, root: {root}, split: train}}]
  samples_per_epoch: 2
  num_workers: 0
  max_gap: 3
train: {{epochs: 1, batch_size: 2, amp: none, log_every: 1, checkpoint_every: 1, device: cpu, warmup_fraction: 0.0}}
track: {{amp: none}}
"""


@dataclass
class Case:
    id: str
    argv: str  # split on spaces after `{w}` -> the world folder
    pattern: str  # searched in the one stderr line (after the `tracktune <command>: error: ` prefix)
    code: int = 1
    creates: str = ""  # a path (relative to the world) under which new files may appear (work begun)


# fmt: off
CASES = [
    # --- configs: read, parse, validate at load (train fails before reading data or building a model)
    Case("config-not-utf8", "train {w}/latin1.yaml --out {w}/new", r"latin1\.yaml:3: not UTF-8 text \(byte 0xe9"),
    Case("config-duplicate-key", "train {w}/dup.yaml --out {w}/new", r"dup\.yaml:\d+: duplicate key 'model\.depth' \(first given on line \d+\)"),
    Case("config-unknown-key-line", "train {w}/typo.yaml --out {w}/new", r"typo\.yaml:4: unknown config key 'model\.serch_size' \(did you mean 'search_size'\?\)"),
    Case("config-yaml-syntax", "train {w}/syntax.yaml --out {w}/new", r"syntax\.yaml:\d+: not valid YAML"),
    Case("config-is-directory", "train {w}/ds --out {w}/new", r"config is not a file: .*ds$"),
    Case("config-missing", "train {w}/nope.yaml --out {w}/new", r"config not found: .*nope\.yaml is neither a file nor a shipped config's name"),
    Case("config-top-level-list", "train {w}/toplist.yaml --out {w}/new", r"toplist\.yaml: the top level must be a mapping"),
    Case("config-template-not-multiple", "train {w}/template.yaml --out {w}/new", r"template\.yaml:\d+: model\.template_size: 72 is not a multiple of model\.patch_size 16"),
    Case("set-patch-size-0", "train {w}/micro.yaml --set model.patch_size=0 --out {w}/new", r"--set model\.patch_size=0: model\.patch_size: 0 is out of range; expected an integer >= 1"),
    Case("set-heads-not-dividing", "train {w}/micro.yaml --set model.num_heads=3 --out {w}/new", r"--set model\.num_heads=3: model\.embed_dim: 32 is not divisible by model\.num_heads 3"),
    Case("set-depth-0", "train {w}/micro.yaml --set model.depth=0 --out {w}/new", r"model\.depth: 0 is out of range; expected an integer >= 1"),
    Case("set-drop-path-2", "train {w}/micro.yaml --set model.drop_path=2 --out {w}/new", r"model\.drop_path: 2\.0 is out of range; expected a number in \[0, 1\)"),
    Case("set-lr-nan", "train {w}/micro.yaml --set train.lr=.nan --out {w}/new", r"--set train\.lr=\.nan: train\.lr: nan is not finite; expected a number > 0"),
    Case("set-lr-negative", "train {w}/micro.yaml --set train.lr=-1e-4 --out {w}/new", r"train\.lr: -0\.0001 is out of range; expected a number > 0"),
    Case("set-device-bad", "train {w}/micro.yaml --set train.device=gpu7 --out {w}/new", r"train\.device: 'gpu7' is not a device name; expected cpu, cuda, cuda:N"),
    Case("set-keep-last-negative", "train {w}/micro.yaml --set train.keep_last=-1 --out {w}/new", r"train\.keep_last: -1 is out of range; expected an integer >= 0"),
    Case("set-warmup-2", "train {w}/micro.yaml --set train.warmup_fraction=2 --out {w}/new", r"train\.warmup_fraction: 2\.0 is out of range; expected a number in \[0, 1\]"),
    Case("set-window-influence-5", "train {w}/micro.yaml --set track.window_influence=5 --out {w}/new", r"track\.window_influence: 5\.0 is out of range; expected a number in \[0, 1\]"),
    Case("set-search-factor-0", "train {w}/micro.yaml --set track.search_factor=0 --out {w}/new", r"track\.search_factor: 0\.0 is out of range; expected a number > 0"),
    Case("set-batch-not-multiple", "train {w}/micro.yaml --set train.grad_accum=3 --out {w}/new", r"train\.batch_size: 2 is not a multiple of train\.grad_accum 3"),
    Case("set-wrong-type", "train {w}/micro.yaml --set lora.rank=abc --out {w}/new", r"--set lora\.rank=abc: lora\.rank: expected an integer, got 'abc'"),
    Case("set-unknown-key", "train {w}/micro.yaml --set lora.rnak=4 --out {w}/new", r"--set lora\.rnak=4: unknown config key 'lora\.rnak' \(did you mean 'rank'\?\)"),
    Case("set-no-equals", "train {w}/micro.yaml --set model.depth --out {w}/new", r"override 'model\.depth' must look like key\.path=value"),
    Case("set-list-index-out-of-range", "train {w}/micro.yaml --set data.train.5.root=/x --out {w}/new", r"--set data\.train\.5\.root=/x: .*data\.train has 1 items"),
    Case("set-list-item-weight-0", "train {w}/micro.yaml --set data.train.0.weight=0 --out {w}/new", r"--set data\.train\.0\.weight=0: data\.train\.0\.weight: 0\.0 is out of range; expected a number > 0"),
    Case("set-num-workers-negative", "train {w}/micro.yaml --set data.num_workers=-1 --out {w}/new", r"data\.num_workers: -1 is out of range"),
    Case("set-degrade-unknown", "train {w}/micro.yaml --set data.degrade=[fgo] --out {w}/new", r"data\.degrade\.0.*fgo"),
    Case("set-method-unknown", "train {w}/micro.yaml --set methods=[lorra] --out {w}/new", r"methods\.0: 'lorra' is not one of .*did you mean 'lora'"),
    Case("set-fusion-literal", "train {w}/micro.yaml --set model.fusion=early_ad --out {w}/new", r"model\.fusion: 'early_ad' is not one of .*did you mean 'early_add'"),
    Case("set-lora-dropout-1", "train {w}/micro.yaml --set lora.dropout=1 --out {w}/new", r"lora\.dropout: 1\.0 is out of range; expected a number in \[0, 1\)"),
    Case("set-srft-energy-0", "train {w}/micro.yaml --set srft.energy=0 --out {w}/new", r"srft\.energy: 0\.0 is out of range; expected a number in \(0, 1\]"),
    Case("set-fctl-block-beyond-depth", "train {w}/micro.yaml --set fctl.blocks=[3,13] --out {w}/new", r"fctl\.blocks\.1: 13 is out of range; expected an integer in \[1, 12\]"),
    Case("set-patrack-layer-beyond-depth", "train {w}/micro.yaml --set methods=[patrack] --set model.fusion=dual_stream --out {w}/new", r"patrack\.mea_layers\.0: block 3 does not exist in a 2-block model"),
    Case("set-name-with-slash", "train {w}/micro.yaml --set name=a/b --out {w}/new", r"name: 'a/b' is not usable as a folder name"),
    Case("train-no-config", "train --out {w}/new", r"give a CONFIG file \(or --resume RUN_DIR\)"),
    Case("train-resume-not-a-run", "train --resume {w}/ds", r"--resume .*ds: no config\.yaml there"),
    Case("train-resume-config-differs", "train --resume {w}/run --set train.lr=1", r"--resume continues the run with its own config; these differ: train\.lr"),
    Case("train-corrupt-frame-in-worker", "train {w}/micro.yaml --set data.train.0.root={w}/ds_bad --set data.num_workers=2 --out {w}/new",
         r"unreadable image \(corrupt or not an image\): .*ds_bad.*\(in DataLoader worker process \d\)$", creates="new"),
    Case("train-out-is-a-file", "train {w}/micro.yaml --out {w}/a_file.txt", r"--out .*a_file\.txt: is a file; expected a run directory"),
    Case("train-into-another-run", "train {w}/micro.yaml --out {w}/run", r"run holds another run's files \(checkpoints, metrics\.jsonl\); continue it with --resume"),
    Case("train-resume-and-overwrite", "train --resume {w}/run --overwrite", r"--resume continues a run; --overwrite would replace it"),
    Case("train-resume-drop-out", "train --resume {w}/run --out {w}/elsewhere", r"--resume writes into the run it continues; drop --out"),
    Case("model-info-depth-0", "model-info {w}/micro.yaml --set model.depth=0", r"--set model\.depth=0: model\.depth: 0 is out of range"),
    Case("bench-rounds-0", "bench inference {w}/micro.yaml --rounds 0", r"argument --rounds: 0 is out of range; expected an integer >= 1", code=2),
    Case("bench-bad-config", "bench inference {w}/dup.yaml", r"duplicate key"),
    Case("bench-accuracy-checkpoint-missing", "bench accuracy --checkpoint {w}/nothing --dataset lasher --root {w}/ds", r"checkpoint not found: .*nothing"),
    Case("bench-accuracy-dataset-unknown", "bench accuracy --checkpoint {w}/run --dataset lashr --root {w}/ds", r"lashr.*did you mean 'lasher'"),
    Case("bench-accuracy-every-0", "bench accuracy --checkpoint {w}/run --dataset lasher --agreement-every 0", r"argument --agreement-every: 0 is out of range", code=2),
    # --- run
    Case("run-set-outside-track", "run --checkpoint {w}/run --dataset lasher --root {w}/ds --out {w}/res --set model.embed_dim=64", r"--set model\.embed_dim=64: model\.embed_dim does not apply here: run rebuilds the model"),
    Case("run-set-track-out-of-range", "run --checkpoint {w}/run --dataset lasher --root {w}/ds --out {w}/res --set track.search_factor=0", r"--set track\.search_factor=0: track\.search_factor: 0\.0 is out of range"),
    Case("run-batch-0", "run --checkpoint {w}/run --dataset lasher --root {w}/ds --out {w}/res --batch 0", r"argument --batch: 0 is out of range", code=2),
    Case("run-checkpoint-missing", "run --checkpoint {w}/nothing --dataset lasher --root {w}/ds --out {w}/res", r"checkpoint not found: .*nothing"),
    Case("run-dataset-unknown", "run --checkpoint {w}/run --dataset lashr --root {w}/ds --out {w}/res", r"lashr.*did you mean 'lasher'"),
    Case("run-sequence-unknown", "run --checkpoint {w}/run --dataset lasher --root {w}/ds --split test --out {w}/res --sequences nope", r"--sequences: not in lasher test: nope"),
    Case("run-out-is-a-file", "run --checkpoint {w}/run --dataset lasher --root {w}/ds --split test --out {w}/a_file.txt", r"--out .*a_file\.txt: is a file; expected a results folder"),
    Case("run-checkpoint-garbage-safetensors", "run --checkpoint {w}/run_garbage --dataset lasher --root {w}/ds --split test --out {w}/res", r"trainable\.safetensors.*(corrupt|not a readable|checksum)"),
    # --- track
    Case("track-fps-0", "track --checkpoint {w}/run --rgb {w}/frames --rgb-only --box 1,1,8,8 --out {w}/o.mp4 --fps 0", r"argument --fps: 0 is out of range; expected a number > 0", code=2),
    Case("track-box-malformed", "track --checkpoint {w}/run --rgb {w}/frames --rgb-only --box 1,2,3 --out {w}/o.mp4", r"--box '1,2,3': expected x,y,w,h"),
    Case("track-box-outside", "track --checkpoint {w}/run --rgb {w}/frames --rgb-only --box 500,500,8,8 --out {w}/o.mp4", r"--box 500,500,8,8.*outside the 96x72 frame"),
    Case("track-rgb-missing", "track --checkpoint {w}/run --rgb {w}/nothing --rgb-only --box 1,1,8,8 --out {w}/o.mp4", r"nothing: no such video file or frame folder"),
    Case("track-out-is-a-directory", "track --checkpoint {w}/run --rgb {w}/frames --rgb-only --box 1,1,8,8 --out {w}/a_dir", r"--out .*a_dir: is a directory"),
    Case("track-needs-aux", "track --checkpoint {w}/run --rgb {w}/frames --box 1,1,8,8 --out {w}/o.mp4", r"needs the auxiliary video: pass --aux"),
    # --- data
    Case("synth-frames-0", "data synth --frames 0 --out {w}/synth", r"argument --frames: 0 is out of range", code=2),
    Case("synth-workers-negative", "data synth --workers -1 --out {w}/synth", r"argument --workers: -1 is out of range; expected an integer >= 0", code=2),
    Case("synth-sequences-text", "data synth --sequences many --out {w}/synth", r"argument --sequences: 'many' is not an integer", code=2),
    Case("synth-size-bad", "data synth --size 10 --out {w}/synth", r"--size must look like 320x240"),
    Case("synth-out-not-empty", "data synth --sequences 2 --frames 3 --out {w}/a_dir", r"a_dir: not empty"),
    Case("synth-condition-unknown", "data synth --conditions fgo --out {w}/synth", r"fgo"),
    Case("check-empty-root", "data check lasher --root {w}/empty", r"empty: no lasher sequences"),
    Case("check-unknown-benchmark", "data check lashr --root {w}/ds", r"did you mean 'lasher'"),
    Case("check-workers-negative", "data check lasher --root {w}/ds --workers -2", r"argument --workers: -2 is out of range", code=2),
    Case("show-frames-0", "data show {w}/ds --frames 0 --out {w}/sheet.png", r"argument --frames(/--frames-per-row)?: 0 is out of range", code=2),
    # --- evaluate / compare
    Case("evaluate-protocol-unknown", "evaluate --protocol lashr --gt {w}/gt --results {w}/res_a", r"unknown protocol 'lashr' \(did you mean 'lasher'\?\)"),
    Case("evaluate-results-missing", "evaluate --protocol lasher --gt {w}/gt --results {w}/nothing", r"nothing"),
    Case("evaluate-gt-missing", "evaluate --protocol lasher --gt {w}/nothing --results {w}/res_a", r"nothing"),
    Case("evaluate-plots-is-a-file", "evaluate --protocol lasher --gt {w}/gt --results {w}/res_a --plots {w}/a_file.txt", r"--plots .*a_file\.txt: is a file; expected a folder"),
    Case("evaluate-corrupt-zip", "evaluate --protocol trackingnet --gt {w}/gt --results {w}/bad.zip", r"bad\.zip: .*(zip|corrupt)"),
    Case("compare-confidence-1.5", "compare --results {w}/res_a {w}/res_b --protocol lasher --gt {w}/gt --confidence 1.5", r"argument --confidence: 1\.5 is out of range; expected a number in \(0, 1\)", code=2),
    Case("compare-resamples-0", "compare --results {w}/res_a {w}/res_b --protocol lasher --gt {w}/gt --resamples 0", r"argument --resamples: 0 is out of range", code=2),
    # --- configs / export / vot
    Case("configs-show-unknown", "configs --show tiny_rbgt", r"tiny_rbgt is neither a file nor a shipped config's name \(did you mean 'tiny_rgbt'\?\)"),
    Case("export-checkpoint-missing", "export onnx --checkpoint {w}/nothing --out {w}/m.onnx", r"checkpoint not found: .*nothing"),
    Case("export-batch-0", "export onnx --checkpoint {w}/run --out {w}/m.onnx --batch 0", r"argument --batch: 0 is out of range", code=2),
    Case("vot-stack-limit-0", "vot stack lasher --limit 0 --out {w}/stack", r"argument --limit: 0 is out of range; expected an integer >= 1", code=2),
    # --- demo
    Case("demo-steps-0", "demo --adapt-steps 0 --out {w}/demo", r"argument --adapt-steps: 0 is out of range", code=2),
    Case("demo-method-unknown", "demo --methods lorra --out {w}/demo", r"lorra"),
    Case("study-seeds-0", "study --seeds 0 --out {w}/study", r"argument --seeds: 0 is out of range", code=2),
    # --- checkpoints
    Case("resume-cut-state", "train --resume {w}/run_cut_state", r"state\.pt.*(truncated|corrupt|unreadable|checksum)|no checkpoint that verifies"),
]
# fmt: on

# cases whose fix lands with the run-directory / checkpoint work (phase 2 of issue 18)
PENDING: set[str] = set()

SUBPROCESS_CASES = ["config-not-utf8", "bench-rounds-0", "synth-frames-0", "run-set-outside-track"]


def _write_frames(root: Path) -> Path:
    frames = root / "frames"
    shutil.copytree(root / "ds" / "s0000_clean" / "visible", frames)
    return frames


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tree every case runs in (see the module docstring)."""
    root = tmp_path_factory.mktemp("world")
    cache = tmp_path_factory.mktemp("cache")
    env = pytest.MonkeyPatch()
    env.setenv("XDG_CACHE_HOME", str(cache))
    for name in list(os.environ):
        if name.startswith("TRACKTUNE_"):
            env.delenv(name)
    assert cli_main(["data", "synth", "--sequences", "3", "--frames", "6", "--size", "96x72", "--workers", "1",
                     "--out", str(root / "ds"), "--no-progress"]) == 0
    (root / "micro.yaml").write_text(MICRO.format(root=root / "ds"))
    assert cli_main(["train", str(root / "micro.yaml"), "--out", str(root / "run"), "--no-progress"]) == 0
    _write_frames(root)
    (root / "latin1.yaml").write_bytes(b"name: x\nmodel:\n  size: tiny  # caf\xe9\n")
    (root / "dup.yaml").write_text("name: x\nmodel:\n  depth: 2\n  size: tiny\n  depth: 3\n")
    (root / "typo.yaml").write_text("name: x\nmodel:\n  size: tiny\n  serch_size: 128\n")
    (root / "syntax.yaml").write_text("model:\n  size: tiny\n  fusion: [unclosed\n")
    (root / "toplist.yaml").write_text("- model\n- data\n")
    (root / "template.yaml").write_text("model:\n  patch_size: 16\n  template_size: 72\n  search_size: 128\n")
    (root / "a_file.txt").write_text("the user's file\n")
    (root / "a_dir").mkdir()
    (root / "a_dir" / "notes.txt").write_text("the user's notes\n")
    (root / "empty").mkdir()
    (root / "bad.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    # ground truth and two result folders of the test split
    (root / "gt").mkdir()
    for name in (root / "ds" / "testingsetList.txt").read_text().split():
        shutil.copy(root / "ds" / name / "init.txt", root / "gt" / f"{name}.txt")
        for tracker in ("res_a", "res_b"):
            (root / tracker).mkdir(exist_ok=True)
            shutil.copy(root / "ds" / name / "init.txt", root / tracker / f"{name}.txt")
    # a copy of the dataset whose RGB frames are all corrupt
    shutil.copytree(root / "ds", root / "ds_bad")
    for frame in (root / "ds_bad").glob("*/visible/*"):
        frame.write_bytes(b"\xff\xd8 not a jpeg")
    # checkpoints damaged in two ways
    step = sorted((root / "run" / "checkpoints").iterdir())[-1].name
    shutil.copytree(root / "run", root / "run_garbage")
    (root / "run_garbage" / "checkpoints" / step / "trainable.safetensors").write_bytes(b"\x10\x00garbage" * 10)
    shutil.copytree(root / "run", root / "run_cut_state")
    state = root / "run_cut_state" / "checkpoints" / step / "state.pt"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    yield root
    env.undo()


def tree_state(root: Path) -> dict[str, str]:
    """relative path -> sha256 of a file's bytes (or "dir"), for every entry under `root`."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_dir():
            state[key] = "dir"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _argv(case: Case, world: Path) -> list[str]:
    return case.argv.replace("{w}", str(world)).split()


def _check_stderr(case: Case, stderr: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{stderr}"
    line = lines[0]
    assert ONE_LINE.match(line), line
    assert "Traceback" not in line
    assert re.search(case.pattern, line), f"{case.pattern!r} not in {line!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_in_one_error_line(case, world, capsys):
    if case.id in PENDING:
        pytest.xfail("pending")
    before = tree_state(world)
    capsys.readouterr()
    try:
        code = cli_main(_argv(case, world))
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    assert code == case.code, captured.err
    _check_stderr(case, captured.err)
    after = tree_state(world)
    if case.creates:
        created = [k for k in after if k not in before]
        assert all(k == case.creates or k.startswith(case.creates + os.sep) for k in created), created
        after = {k: v for k, v in after.items() if k in before}
        for k in created:  # leave the world as it was for the next case
            path = world / k
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                             if before.get(k) != after.get(k)}


def test_table_is_large_and_covers_every_command():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    from tracktune.cli import COMMANDS

    covered = {c.argv.split()[0] for c in CASES}
    assert covered >= set(COMMANDS)


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_fresh_process(case_id, world):
    case = next(c for c in CASES if c.id == case_id)
    before = tree_state(world)
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               XDG_CACHE_HOME=str(world / ".." / "cache-subprocess"))
    done = subprocess.run([sys.executable, "-m", "tracktune.cli", *_argv(case, world)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == case.code, done.stderr
    _check_stderr(case, done.stderr)
    assert tree_state(world) == before
