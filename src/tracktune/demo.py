"""`tracktune demo`: adapt an RGB tracker to RGB+thermal on the synthetic benchmark, end to end.

The whole flow on a laptop CPU in minutes, with nothing downloaded:
1. synthesise two datasets (`data/synthetic.py`): clean daylight sequences for RGB
   pretraining, and RGB-T sequences under named conditions (night, fog, occlusion, ...)
   split into train and test;
2. pretrain a tiny RGB tracker on the clean RGB frames (every weight trains). Cached under
   `~/.cache/tracktune/demo/<hash of the recipe>`, so a second run skips it;
3. adapt it to RGB-T with each requested method (`METHOD_RECIPES`: LoRA by default), every
   method with the same data, steps and batch;
4. track the test split with the RGB-only tracker and each adapted one (and each adapted
   one with its thermal input replaced by RGB: how much RGB skill it kept), score them
   under the LasHeR protocol per condition, and write `summary.json`, success and
   precision plots and a GIF of one night sequence.

Why pretrain at all: the point of every method here is adapting a tracker that already
tracks in RGB. The tiny RGB tracker stands in for the RGB-pretrained ViT trackers of the
papers; it is weak (small, minutes of training) but it tracks clean daylight targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import yaml

from tracktune.cache import cache_home
from tracktune.cli_types import int_range
from tracktune.errors import ConfigError
from tracktune.files import atomic_write_text
from tracktune.locks import DirectoryLock, pid_alive
from tracktune.progress import add_progress_arguments, progress_mode

DEMO_FORMAT = 3  # bump when the recipe's meaning changes (part of the pretraining cache key); 2: LoRAT crop rule;
# 3: jitter 1.0 / 0.15 for that rule, the data seed keyed as used
PROTOCOL = "lasher"  # the synthetic RGB-T set is written in LasHeR's layout


@dataclass
class DemoRecipe:
    """Everything the demo's result depends on (the pretraining part keys its cache)."""

    seed: int = 0  # training: initial weights, pair sampling, augmentation (and the data when data_seed is None)
    data_seed: Optional[int] = None  # the synthetic sets (None: seed); the study fixes it and varies `seed`
    twins: bool = True  # write the RGB-T set's clean twins (FCTL's teacher input, the clean-RGB forgetting test)
    frame_size: tuple[int, int] = (320, 240)
    frames: int = 80
    # RGB pretraining data: clean daylight sequences (their RGB only); many short sequences,
    # because what the tracker must learn is matching a template it has not seen. 160 x 30 frames:
    # seed 0 scored SR 80.7 on 40 of its training sequences and 63.9 on the study's 20 unseen clean
    # ones (it learned the 160 scenes); 640 x 15: 79.3 and 77.2 (README, "the RGB base")
    pretrain_sequences: int = 640
    pretrain_frames: int = 15
    # RGB-T target data: conditions cycled, `test_sequences` of them held out
    target_sequences: int = 112
    test_sequences: int = 56  # 8 per condition: per-condition scores over 4 sequences swung by 20+ points
    conditions: tuple[str, ...] = ("clean", "night:3-5", "fog:3-5", "occlusion", "distractors", "over_exposure:3-5",
                                   "fast_motion")
    # the tiny tracker (configs/tiny_rgbt.yaml's shape)
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    patch_size: int = 16
    template_size: int = 64
    search_size: int = 128
    search_factor: float = 4.0
    template_factor: float = 2.0
    # search-crop jitter, LoRAT's rule (`data/pairs.py`): LoRAT's own 3 / 0.25 move the window by up to
    # 3 target sizes, twice OSTrack's 3 under the old rule; the tiny tracker then learned undersized
    # boxes (median 0.66 of the truth after adaptation, SR 41.5 at PR 97.4). 1.0 / 0.15: README, "the RGB base"
    center_jitter: float = 1.0
    scale_jitter: float = 0.15
    # optimisation
    batch_size: int = 32
    pretrain_steps: int = 3500  # seed 0: 2000 steps clean SR 0.54, 3000: 0.70, 4000: 0.77 (README, "the RGB base")
    pretrain_lr: float = 2e-3
    adapt_steps: int = 300
    adapt_lr: float = 1e-3
    lora_rank: int = 16
    window_influence: float = 0.45
    # train.deterministic for every training stage: bitwise repeatable runs (slower)
    deterministic: bool = False

    def pretrain_key(self) -> str:
        """Hash of what the pretrained RGB tracker depends on."""
        keys = ("seed", "data_seed", "frame_size", "pretrain_frames", "pretrain_sequences", "embed_dim", "depth", "num_heads", "patch_size",
                "template_size", "search_size", "search_factor", "template_factor", "center_jitter", "scale_jitter",
                "batch_size", "pretrain_steps", "pretrain_lr")
        from tracktune.data.synthetic import FORMAT

        record = {k: getattr(self, k) for k in keys}
        record["data_seed"] = self.seed if self.data_seed is None else self.data_seed  # as used: demo and study share
        record.update(demo_format=DEMO_FORMAT, synthetic_format=FORMAT)
        if self.deterministic:  # keyed only when on, so the caches of default runs stay valid
            record["deterministic"] = True
        precision = demo_precision()
        if precision != "bf16":  # keyed only when not bf16 (the caches made before it was keyed)
            record["precision"] = precision
        return hashlib.sha1(json.dumps(record, sort_keys=True, default=list).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------


def base_config(recipe: DemoRecipe, name: str, fusion: str, modality: str, steps: int, lr: float):
    """The tiny tracker's ExperimentConfig for one training stage."""
    from tracktune.config import ExperimentConfig

    config = ExperimentConfig(name=name, seed=recipe.seed, methods=["full"])
    m = config.model
    m.design, m.size, m.fusion = "lorat", "tiny", fusion
    m.embed_dim, m.depth, m.num_heads, m.patch_size = recipe.embed_dim, recipe.depth, recipe.num_heads, recipe.patch_size
    m.template_size, m.search_size, m.drop_path = recipe.template_size, recipe.search_size, 0.0
    d = config.data
    d.modality = modality
    d.template_factor, d.search_factor = recipe.template_factor, recipe.search_factor
    d.center_jitter, d.scale_jitter = recipe.center_jitter, recipe.scale_jitter
    d.max_gap = 50
    d.samples_per_epoch = recipe.batch_size * steps
    d.num_workers = min(2, os.cpu_count() or 1)
    t = config.train
    t.epochs, t.batch_size, t.lr, t.weight_decay, t.warmup_fraction = 1, recipe.batch_size, lr, 0.05, 0.05
    t.amp, t.device = "auto", "cpu"  # bf16 on a CPU with native bf16, else fp32 (`demo_precision`)
    t.deterministic = recipe.deterministic
    # bf16: the workers take a core each (2 cores: 1 thread ran 1.35x the steps of 2); fp32 steps are
    # slow enough that the workers idle, and every core computes (2 cores, AVX2-only: 0.30 s per
    # pretraining step with 2 threads, 0.38 s with 1)
    cores = os.cpu_count() or 1
    t.threads = cores if demo_precision() == "fp32" else max(1, cores - d.num_workers)
    t.checkpoint_every, t.log_every, t.keep_last = steps, max(1, steps // 20), 1
    config.lora.rank, config.lora.alpha = recipe.lora_rank, float(recipe.lora_rank)
    config.track.window_influence = recipe.window_influence
    config.track.search_factor, config.track.template_factor = recipe.search_factor, recipe.template_factor
    config.track.precision = "auto"  # the same rule for tracking
    return config


def demo_precision() -> str:
    """What the demo trains and tracks in on this machine: "bf16" on a CPU that multiplies bf16
    natively (AVX512-BF16 or AMX), "fp32" elsewhere (emulated bf16 ran the tracker's training step
    11x slower than fp32 on an AVX2-only CPU). The README's figures are bf16 ones."""
    from tracktune.precision import resolve_train_amp

    return "bf16" if resolve_train_amp("auto", "cpu") == "bf16" else "fp32"


def lora_recipe(config):
    config.methods = ["lora"]
    return config


def full_recipe(config):
    config.methods = ["full"]
    config.train.lr = config.train.lr * 0.3  # every weight moves: a gentler step than LoRA's
    return config


def full_recipe_dual_branch(config):
    """Full fine-tuning of SRFT's dual-branch tracker: the baseline SRFT regularises."""
    config = full_recipe(config)
    config.model.fusion = "dual_branch"
    return config


def srft_recipe(config):
    """SRFT's regularisation (as configs/tiny_srft.yaml: methods [full, srft], lambda_t 1) on the
    same dual-branch full fine-tuning, except lambda_p: 300 here, ten times tiny_srft.yaml's 30
    (the value the demo's figures were measured with), and a prior measured on at most 40
    batches of 8 of the demo's training pairs (tiny_srft.yaml: 200 batches of 2)."""
    config = full_recipe_dual_branch(config)
    config.methods = ["full", "srft"]
    s = config.srft
    s.lambda_p, s.lambda_t, s.prior_batch_size = 300.0, 1.0, min(8, config.train.batch_size)
    s.n_batches = max(1, min(40, config.data.samples_per_epoch // s.prior_batch_size))  # <= what one epoch holds
    return config


# FCTL's student reads degraded RGB crops beside the teacher's clean ones; `lora+aug` is
# LoRA with the same augmentation, so the FCTL row differs from it by the EANSDL loss alone
FCTL_DEGRADATIONS = ["low_light:2-5", "fog:2-5", "over_exposure:2-5", "motion_blur:2-5", "noise:2-5"]


def lora_aug_recipe(config):
    config = lora_recipe(config)
    config.data.degrade, config.data.degrade_prob = list(FCTL_DEGRADATIONS), 0.5
    return config


def lora_fctl_recipe(config):
    config = lora_aug_recipe(config)
    config.methods = ["lora", "fctl"]
    config.fctl.blocks, config.fctl.blocks_depth = list(range(1, config.model.depth + 1)), None  # every block
    # EANSDL starts near 9 here (r0 = 8 spans the whole 8x8 search grid) beside a tracking loss
    # near 1.5: lambda 0.1 keeps it a correction, not the objective (lambda 1 halved SR)
    config.fctl.lambda_eansdl = 0.1
    return config


def degraded_rgb(config):
    """Adapt to non-ideal RGB, no thermal: the RGB tracker itself (fusion rgb), trained on the
    clean daylight set degraded on the fly, so the teacher's crops are truly ideal (FCTL's
    own setting; in the RGB-T set night and fog are baked into the frames)."""
    config.model.fusion, config.data.modality = "rgb", "rgb"
    return config


def rgb_lora_aug_recipe(config):
    return degraded_rgb(lora_aug_recipe(config))


def rgb_lora_fctl_recipe(config):
    return degraded_rgb(lora_fctl_recipe(config))


def patrack_recipe(config):
    """configs/tiny_patrack.yaml's adapters on the dual-stream form of the RGB tracker."""
    config.methods = ["patrack"]
    config.model.fusion = "dual_stream"
    p = config.patrack
    depth = config.model.depth
    # MEA on every second block (1 and 3 of 4, as tiny_patrack.yaml), MDA on the others
    p.mea_layers, p.mda_layers = list(range(1, depth, 2)) or [depth - 1], None
    p.mda_dim, p.mea_dim, p.ta_dim = 8, 32, 32
    return config


def patrack_matched_recipe(config):
    """PATrack with wider adapters (mda 32, mea and ta 80): 308,704 trainable parameters on the
    demo's tracker against LoRA's 312,965 (rank 16), for a comparison at matched size."""
    config = patrack_recipe(config)
    p = config.patrack
    p.mda_dim, p.mea_dim, p.ta_dim = 32, 80, 80
    return config


def srft_rank_recipe(config):
    """SRFT with the released code's transfer step (rank-based damping; adapt/srft/rank.py)."""
    config = srft_recipe(config)
    config.srft.transfer = "rank"
    return config


# method name -> how its adaptation config differs from the shared one (`rgb` trains nothing).
# A new method may add its entry; every entry keeps the shared steps and batch, and trains on
# the RGB-T train split, except those whose data.modality is rgb: they train on the clean RGB
# set (degraded by data.degrade) and track with RGB alone.
METHOD_RECIPES: dict[str, Optional[Callable]] = {
    "rgb": None,
    "lora": lora_recipe,
    "patrack": patrack_recipe,
    "full": full_recipe_dual_branch,
    "srft": srft_recipe,
    "lora+aug": lora_aug_recipe,
    "lora+fctl": lora_fctl_recipe,
    "rgb-lora+aug": rgb_lora_aug_recipe,
    "rgb-lora+fctl": rgb_lora_fctl_recipe,
    "patrack-matched": patrack_matched_recipe,
    "srft-rank": srft_rank_recipe,
}
DEFAULT_METHODS = ("rgb", "lora")


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


def datasets(recipe: DemoRecipe, progress: bool = True) -> tuple[Path, Path]:
    """(clean RGB pretraining set, RGB-T target set), generated once into the cache."""
    from tracktune.data.benchmarks.synthetic import ensure

    data_seed = recipe.seed if recipe.data_seed is None else recipe.data_seed
    common = dict(frames=recipe.frames, seed=data_seed, size=recipe.frame_size, progress=progress)
    clean = ensure(None, "thermal", sequences=recipe.pretrain_sequences, conditions=["clean"],
                   splits=(recipe.pretrain_sequences, 0),
                   **{**common, "seed": data_seed + 1, "frames": recipe.pretrain_frames})
    target = ensure(None, "thermal", sequences=recipe.target_sequences, conditions=list(recipe.conditions),
                    splits=(recipe.target_sequences - recipe.test_sequences, recipe.test_sequences),
                    twins=recipe.twins or None, **common)
    return clean, target


def pretrain_rgb(recipe: DemoRecipe, clean_train: list, progress: bool = True) -> tuple[Path, float, bool]:
    """The RGB tracker's weights (safetensors), trained here or found in the cache.
    Returns (path, seconds spent, whether it came from the cache)."""
    from tracktune.model.pretrained import save_model_weights
    from tracktune.runs import load_tracker_model
    from tracktune.train.trainer import train

    folder = cache_home("demo") / f"rgb-{recipe.pretrain_key()}"
    weights = folder / "rgb_tracker.safetensors"
    remove_dead_pretraining_runs(folder)
    if weights.is_file():
        problem = unreadable_weights(weights)
        if problem is None:
            return weights, 0.0, True
        print(f"note: demo cache {weights}: {problem}; pretraining again", file=sys.stderr)
        weights.unlink()
    start = time.perf_counter()
    config = base_config(recipe, "demo_rgb_pretrain", "rgb", "rgb", recipe.pretrain_steps, recipe.pretrain_lr)
    run_dir = folder.with_name(folder.name + f".run-{os.getpid()}")  # this process's; removed below
    train(config, run_dir, progress=progress, sources=clean_train)
    model = load_tracker_model(run_dir)
    tmp = folder / f".rgb_tracker.{os.getpid()}.safetensors"
    save_model_weights(model, tmp)
    os.replace(tmp, weights)
    atomic_write_text(folder / "recipe.json", json.dumps(dataclasses.asdict(recipe), indent=1, default=list) + "\n")
    shutil.rmtree(run_dir, ignore_errors=True)
    return weights, time.perf_counter() - start, False


def unreadable_weights(path: Path) -> Optional[str]:
    """None when `path` is a readable safetensors file, else what is wrong with it."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            for key in handle.keys():
                handle.get_slice(key)
    except Exception as exc:  # SafetensorError for a cut or garbled file
        return f"unreadable ({exc})"
    return None


def remove_dead_pretraining_runs(folder: Path) -> None:
    """Delete the `<folder>.run-PID` run directories of pretraining processes that died (a
    killed demo's debris); those of live processes stay."""
    for run_dir in folder.parent.glob(f"{folder.name}.run-*"):
        pid = run_dir.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(run_dir, ignore_errors=True)


def rgb_model(recipe: DemoRecipe, weights: Path):
    """The pretrained RGB tracker as an inference model."""
    from tracktune.model import build_model

    config = base_config(recipe, "rgb", "rgb", "rgb", 1, recipe.pretrain_lr)
    config.model.pretrained, config.model.pretrained_format = str(weights), "tracktune"
    model = build_model(config)
    model.config = config
    return model.eval()


def adapt(recipe: DemoRecipe, method: str, weights: Path, clean_train: list, target_train: list, out: Path,
          progress: bool = True):
    """Train one adaptation method from the RGB tracker; returns (inference model, RunResult).
    `clean_train` / `target_train`: the training mixtures (`PairSource` lists) of the clean RGB
    set and the RGB-T set."""
    from tracktune.runs import load_tracker_model
    from tracktune.train.trainer import train

    config = base_config(recipe, f"demo_{method}", "early_add", "thermal", recipe.adapt_steps, recipe.adapt_lr)
    config.model.pretrained, config.model.pretrained_format = str(weights), "tracktune"
    config = METHOD_RECIPES[method](config)
    run_dir = out / "runs" / method
    check_demo_run(run_dir, config.name)
    data = clean_train if config.data.modality == "rgb" else target_train
    result = train(config, run_dir, progress=progress, sources=data, overwrite=True)
    return load_tracker_model(run_dir), result


def clean_twins(sequences) -> list:
    """The test sequences with their RGB frames replaced by their clean twins (the condition's
    RGB degradation off; `rgb_clean`), or [] when the set was written without twins."""
    from tracktune.data.sequence import RGB_CLEAN

    if not sequences or not all(RGB_CLEAN in s.frames for s in sequences):
        return []
    return [dataclasses.replace(s, frames={**s.frames, "rgb": s.frames[RGB_CLEAN]}) for s in sequences]


def track_twins(models: dict, test: list, twins: list, boxes: dict, rgb_only: dict,
                progress: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """Every tracker on RGB alone over the clean twins. A twin whose RGB frames are its test
    sequence's own (a condition that leaves RGB alone: clean, occlusion, distractors) was tracked
    on exactly that input already, so its boxes are reused: an RGB tracker's from its RGB-T
    pass (`boxes`), an adapted one's from its RGB-only pass (`rgb_only`); the rest are tracked."""
    from tracktune.data.sequence import RGB_CLEAN

    same = {s.name for s in test if s.frames[RGB_CLEAN] == s.frames["rgb"]}
    degraded = [t for t in twins if t.name not in same]
    out = {}
    for name, model in models.items():
        rgb_alone = model.fusion != "rgb"
        known = rgb_only[name] if rgb_alone else boxes[name]
        tracked = track(model, degraded, rgb_only=rgb_alone, progress=progress) if degraded else {}
        out[name] = {t.name: known[t.name] if t.name in same else tracked[t.name] for t in twins}
    return out


def per_sequence(report, names) -> dict:
    """`{method: {sequence: {SR, PR, NPR}}}` of an evaluation report (what the study pools)."""
    return {name: {seq: _metrics(values) for seq, values in report.per_sequence(name).items()} for name in names}


def check_demo_run(run_dir: Path, name: str) -> None:
    """A demo reruns a method over its own previous run (`train(overwrite=True)` replaces only
    the files a run writes); a folder holding another run, or a config.yaml that is not the
    demo's, is left alone and refused."""
    saved = run_dir / "config.yaml"
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return
    try:
        recorded = (yaml.safe_load(saved.read_text(encoding="utf-8")) or {}).get("name") if saved.is_file() else None
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        recorded = None
    if recorded != name:
        raise ConfigError(f"{run_dir} holds files the demo did not write (no config.yaml named {name!r}); "
                          "move them or choose another --out")


def track(model, sequences, rgb_only: bool = False, progress: bool = True) -> dict[str, np.ndarray]:
    from tracktune.track.runner import BatchedRunner

    runner = BatchedRunner(model, model.config.track, batch_size=len(sequences), progress=progress, rgb_only=rgb_only)
    return {r.name: r.boxes for r in runner.run(sequences)}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _metrics(values: dict) -> dict:
    return {k: float(values[k]) for k in ("SR", "PR", "NPR")}


def summarise(report, names: list[str], trainable: dict, seconds: dict) -> dict:
    """summary.json's `methods` part from an evaluation report."""
    per_attribute = report.per_attribute()
    methods = {}
    for name in names:
        conditions = {attr.split("=", 1)[1]: _metrics(values[name])
                      for attr, values in per_attribute.items() if attr.startswith("condition=")}
        methods[name] = {"overall": _metrics(report.trackers[name].metrics), "conditions": conditions,
                         "trainable_params": int(trainable[name]), "train_seconds": float(seconds[name])}
    return methods


def table(summary: dict) -> str:
    """Plain-text table: one row per method, SR per condition (percent). No timings: the same
    seed on the same machine prints the same table (`timings` prints those)."""
    methods = summary["methods"]
    conditions = sorted({c for m in methods.values() for c in m["conditions"]},
                        key=lambda c: (c != "clean", c))
    twins = any("clean_rgb" in m for m in methods.values())
    head = ["method", "SR", "PR", "NPR"] + conditions + ["RGB-only SR"] + (["clean-RGB SR"] if twins else []) + [
        "trainable"]
    rows = []
    for name, m in methods.items():
        rgb_only = m.get("rgb_only")
        rows.append([name] + [f"{100 * m['overall'][k]:.1f}" for k in ("SR", "PR", "NPR")]
                    + [f"{100 * m['conditions'][c]['SR']:.1f}" if c in m["conditions"] else "-" for c in conditions]
                    + [f"{100 * rgb_only['SR']:.1f}" if rgb_only else "-"]
                    + ([f"{100 * m['clean_rgb']['SR']:.1f}" if "clean_rgb" in m else "-"] if twins else [])
                    + [f"{m['trainable_params']:,}"])
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def timings(summary: dict) -> str:
    trained = [f"{name} {m['train_seconds']:.0f} s" for name, m in summary["methods"].items() if m["trainable_params"]]
    return "training: " + (", ".join(trained) if trained else "none")


def ci_table(summary: dict, baseline: str = "rgb") -> str:
    """SR with its 95 % CI per method and the difference from `baseline` with its CI (paired
    bootstrap over the test sequences, `tracktune.study.method_table`; one seed: the CIs
    cover the choice of sequences, not training randomness)."""
    from tracktune.study import condition_groups, method_table, pool

    text, _ = method_table(pool([summary]), condition_groups(summary["test_sequences"]), baseline, resamples=2000)
    return text + "\nSR in %, [95 % CI] paired bootstrap over the test sequences (one seed); * the CI excludes 0"


def night_gif(sequences, boxes: dict[str, dict[str, np.ndarray]], path: Path, max_frames: int = 60) -> Optional[Path]:
    """A GIF of one night test sequence: RGB (left) and thermal (right), ground truth in
    white, each tracker's box in its colour."""
    import cv2
    from PIL import Image

    from tracktune.data.show import draw_box

    night = [s for s in sequences if s.attributes.get("condition") == "night"]
    if not night:
        return None
    sequence = night[0]
    palette = [(255, 80, 80), (80, 220, 80), (80, 160, 255), (255, 200, 0), (220, 80, 255), (0, 220, 220),
               (255, 140, 0), (160, 255, 160), (255, 120, 200), (170, 170, 255)]
    colours = [palette[i % len(palette)] for i in range(len(boxes))]
    frames = []
    for t in range(min(len(sequence), max_frames)):
        rgb = sequence.frame(t, "rgb").copy()
        thermal = sequence.frame(t, "thermal").copy()
        for image in (rgb, thermal):
            if sequence.visible[t]:
                draw_box(image, sequence.boxes[t], colour=(255, 255, 255))
            for per_seq, colour in zip(boxes.values(), colours):
                draw_box(image, per_seq[sequence.name][t], colour=colour)
        panel = np.concatenate([rgb, thermal], axis=1)
        legend_y = 14
        for (name, _), colour in zip(boxes.items(), colours):
            cv2.putText(panel, name, (6, legend_y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
            legend_y += 16
        cv2.putText(panel, "ground truth", (6, legend_y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
        cv2.putText(panel, f"{sequence.name} #{t}", (rgb.shape[1] + 6, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        frames.append(Image.fromarray(panel))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def parse_methods(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(METHOD_RECIPES)
    unknown = [n for n in names if n not in METHOD_RECIPES]
    if unknown:
        raise ConfigError(f"--methods: unknown {unknown}; choose from {', '.join(METHOD_RECIPES)} (or all)")
    if not names:
        raise ConfigError("--methods: give at least one method")
    if "rgb" not in names:
        names.insert(0, "rgb")  # every comparison is against the RGB tracker
    return names


def run_demo(recipe: DemoRecipe, methods: list[str], out: Path, progress: bool = True,
             log: Callable[[str], None] = print) -> dict:
    """The whole demo; returns the summary written to `out/summary.json`."""
    import torch

    from tracktune.data.benchmarks.synthetic import load
    from tracktune.data.pairs import PairSource
    from tracktune.eval import evaluate, plot_curves
    from tracktune.eval.results import write_results

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    precision = demo_precision()
    log(f"precision: {precision}" + ("" if precision == "bf16" else
        " (this CPU has no native bf16, AVX512-BF16 or AMX, and would emulate it ten times slower; the README's "
        "tables were made in bf16, so this machine's numbers are its own)"))
    log("1/4 synthetic data (cached after the first run)")
    clean_root, target_root = datasets(recipe, progress=progress)
    log(f"    clean RGB: {clean_root}\n    RGB-T:     {target_root}")
    # each split is read once; every training stage shares these mixtures
    clean_train = [PairSource("synthetic-clean", load(clean_root, split="train"))]
    target_train = [PairSource("synthetic-rgbt", load(target_root, split="train"))]
    log("2/4 RGB tracker")
    weights, pretrain_seconds, cached = pretrain_rgb(recipe, clean_train, progress=progress)
    log(f"    {'cached' if cached else f'pretrained in {pretrain_seconds:.0f} s'}: {weights}")
    test = load(target_root, split="test")
    models, trainable, seconds = {}, {}, {}
    for step, name in enumerate(methods):
        if name == "rgb":
            models[name] = rgb_model(recipe, weights)
            trainable[name], seconds[name] = 0, 0.0
            continue
        log(f"3/4 adapting to RGB-T: {name} ({recipe.adapt_steps} steps of {recipe.batch_size})")
        models[name], result = adapt(recipe, name, weights, clean_train, target_train, out, progress=progress)
        trainable[name], seconds[name] = result.trainable_params, result.seconds
    log(f"4/4 tracking {len(test)} test sequences")
    boxes = {name: track(model, test, progress=progress) for name, model in models.items()}
    rgb_only = {name: track(models[name], test, rgb_only=True, progress=progress)
                for name in methods if models[name].fusion != "rgb"}  # an RGB model's would repeat its row
    attributes = {s.name: {"condition": s.attributes.get("condition", "unknown")} for s in test}
    report = evaluate(PROTOCOL, test, boxes, attributes=attributes)
    # per-sequence scores and result files in LasHeR's layout, for `tracktune compare`
    atomic_write_text(out / "scores.json", report.to_json(per_sequence=True) + "\n")
    for name, per_seq in boxes.items():
        for seq_name, seq_boxes in per_seq.items():
            write_results(out / "results" / name, seq_name, seq_boxes)
    summary = {"wall_seconds": 0.0, "methods": summarise(report, methods, trainable, seconds)}
    if rgb_only:
        rgb_only_report = evaluate(PROTOCOL, test, rgb_only)
        for name in rgb_only:
            summary["methods"][name]["rgb_only"] = _metrics(rgb_only_report.trackers[name].metrics)
    summary["per_sequence"] = {"rgbt": per_sequence(report, methods)}
    if rgb_only:
        summary["per_sequence"]["rgb_only"] = per_sequence(rgb_only_report, list(rgb_only))
    twins = clean_twins(test)
    if twins:  # forgetting, measured where RGB is clean: every tracker on RGB alone over the clean twins
        twin_boxes = track_twins(models, test, twins, boxes, rgb_only, progress=progress)
        twin_report = evaluate(PROTOCOL, twins, twin_boxes)
        summary["per_sequence"]["clean_rgb"] = per_sequence(twin_report, methods)
        for name in methods:
            summary["methods"][name]["clean_rgb"] = _metrics(twin_report.trackers[name].metrics)
    summary["pretrain"] = {"seconds": pretrain_seconds, "cached": cached, "weights": str(weights)}
    summary["recipe"] = dataclasses.asdict(recipe)
    summary["precision"] = precision  # training and tracking (`demo_precision`)
    summary["demo_format"] = DEMO_FORMAT  # what the recipe meant (a study reuses a seed's run only at the same)
    summary["test_sequences"] = {s.name: attributes[s.name]["condition"] for s in test}
    plots = plot_curves(report, out / "plots")
    gif = night_gif(test, boxes, out / "night.gif")
    summary["wall_seconds"] = time.perf_counter() - start
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=list) + "\n")
    log("")
    log(table(summary))
    log("")
    log(ci_table(summary))
    log(timings(summary))
    log("")
    log(f"SR / PR / NPR in %, LasHeR protocol, {len(test)} test sequences; RGB-only: the thermal input replaced "
        f"by RGB (the RGB skill an adapted tracker kept)" + ("; clean-RGB: RGB alone on the test sequences' clean "
                                                             "twins (the condition's RGB degradation off)"
                                                             if any("clean_rgb" in m for m in summary["methods"].values())
                                                             else ""))
    log(f"wrote {out / 'summary.json'}, {out / 'scores.json'} (per sequence; `tracktune compare --results` reads it), "
        f"{len(plots)} plots under {out / 'plots'}" + (f", {gif}" if gif else ""))
    log(f"demo took {summary['wall_seconds']:.0f} s")
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated methods, or all (known: {', '.join(METHOD_RECIPES)}; rgb is always "
                             f"included; default {','.join(DEFAULT_METHODS)})")
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--adapt-steps", type=int_range(1), default=None, help="optimiser steps per method")
    parser.add_argument("--pretrain-steps", type=int_range(1), default=None, help="RGB pretraining steps")
    parser.add_argument("--deterministic", action="store_true",
                        help="train every stage with train.deterministic (repeatable results, slower)")
    add_progress_arguments(parser)
    parser.add_argument("--recipe", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DemoRecipe field, e.g. --recipe frames=20 --recipe test_sequences=14 "
                             "(repeatable; a smaller demo for a slow machine)")


def main(args: argparse.Namespace) -> int:
    from tracktune.config import from_dict, merge_overrides

    recipe = from_dict(DemoRecipe, merge_overrides({}, getattr(args, "recipe", [])), "--recipe")
    for flag, value in (("--adapt-steps", args.adapt_steps), ("--pretrain-steps", args.pretrain_steps)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if args.adapt_steps is not None:
        recipe.adapt_steps = args.adapt_steps
    if args.pretrain_steps is not None:
        recipe.pretrain_steps = args.pretrain_steps
    recipe.deterministic = bool(getattr(args, "deterministic", False))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder")
    methods = parse_methods(args.methods)
    with DirectoryLock(out, "tracktune demo"):
        run_demo(recipe, methods, out, progress=progress_mode(args))
    return 0
