"""Trainer pieces: parameter groups, schedule, batch split, run directory, LoRA export on load."""

from __future__ import annotations

import json
import math

import pytest
import torch

from train_fixtures import memory_sources, tiny_config
from tracktune.errors import CheckpointError, ConfigError, TracktuneError
from tracktune.runs import list_checkpoints, load_tracker_model, read_manifest
from tracktune.train.optim import StepPlan, WarmupCosine, parameter_groups
from tracktune.train.trainer import Trainer, train


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_warmup_then_cosine():
    schedule = WarmupCosine(total_steps=10, warmup_steps=2)
    assert [schedule(s) for s in (0, 1)] == [0.5, 1.0]
    assert schedule(2) == pytest.approx(1.0)
    assert schedule(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert schedule(10) == pytest.approx(0.0, abs=1e-12)


def test_parameter_groups_decay_and_layer_scales():
    from tracktune.model import build_model

    config = tiny_config(weight_decay=0.1, layer_decay=0.5, head_lr_scale=3.0)
    model = build_model(config)
    groups = parameter_groups(model, config.train)
    where = {name: g for g in groups for name in g["param_names"]}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    depth = model.depth  # 2: embeddings layer 0 (scale .5^3), block i layer i+1, rest depth+1 (scale 1)
    assert where["pos_embed"]["weight_decay"] == 0.0 and where["token_type_embed"]["weight_decay"] == 0.0
    assert where["patch_embed.proj.weight"]["weight_decay"] == 0.1
    assert where["patch_embed.proj.weight"]["lr_scale"] == pytest.approx(0.5 ** (depth + 1))
    assert where["blocks.0.attn.q.weight"]["lr_scale"] == pytest.approx(0.5 ** depth)
    assert where["blocks.0.attn.q.bias"]["weight_decay"] == 0.0
    assert where["blocks.1.mlp.fc1.weight"]["lr_scale"] == pytest.approx(0.5)
    assert where["norm.weight"]["weight_decay"] == 0.0 and where["norm.weight"]["lr_scale"] == 1.0
    head = where["head.cls_mlp.layers.0.weight"]
    assert head["lr_scale"] == pytest.approx(3.0) and head["lr"] == pytest.approx(3.0 * config.train.lr)


def test_batch_split_errors_and_step_count():
    plan = StepPlan.of(tiny_config(batch_size=8, grad_accum=2), world_size=2)
    assert (plan.micro_batch, plan.steps_per_epoch, plan.total_steps) == (2, 2, 4)
    with pytest.raises(ConfigError, match="divisible"):  # (a config's own batch / grad_accum is checked at load)
        StepPlan.of(tiny_config(batch_size=8, grad_accum=4), world_size=3)


def test_run_directory_layout_and_keep_last(tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config(), run, progress=False, sources=memory_sources())
    assert result.steps == 8 and result.final_checkpoint.name == "step_0000008"
    assert [p.name for p in list_checkpoints(run)] == ["step_0000006", "step_0000008"]  # keep_last 2
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporaries left
    manifest = read_manifest(result.final_checkpoint)
    assert manifest["step"] == 8 and manifest["config"]["name"] == "tiny_test"
    assert {"trainable.safetensors", "state.pt"} <= set(manifest["files"])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(1, 9))
    assert all(math.isfinite(m["loss"]) and m["loss"] == pytest.approx(m["cls"] + m["giou"], rel=1e-5) for m in lines)
    assert (run / "config.yaml").is_file()
    state = torch.load(result.final_checkpoint / "state.pt", weights_only=True)
    assert state["step"] == 8 and "optimizer" in state and len(state["rng"]) == 1
    with pytest.raises(TracktuneError, match="holds another run's files"):
        train(tiny_config(), run, progress=False, sources=memory_sources())


def test_loss_decreases_on_tiny_data(tmp_path):
    config = tiny_config(epochs=6, lr=2e-3, log_every=1, checkpoint_every=100)
    # the square crop rule: LoRAT's (the design's default) moves the target up to 3 box sizes,
    # too noisy for this bound in 24 steps of 4 pairs on a 4x4 grid
    config.track.pipeline = "square"
    train(config, tmp_path / "run", progress=False, sources=memory_sources())
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4


def test_lora_run_reloads_merged_with_the_same_outputs(tmp_path):
    config = tiny_config()
    config.methods = ["lora"]
    config.lora.rank = 4
    trainer = Trainer(config, tmp_path / "run", sources=memory_sources(), progress=False)
    trainer.build()
    result = trainer.run()
    trained = trainer.model.eval()
    manifest = read_manifest(result.final_checkpoint)
    assert "frozen.safetensors" in manifest["files"]  # no pretrained file: the random base is stored
    loaded = load_tracker_model(tmp_path / "run")
    assert not loaded.training
    assert not any(".lora_" in name for name, _ in loaded.named_parameters())  # merged
    generator = torch.Generator().manual_seed(0)
    z = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8, generator=generator)
    x = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        expected = trained(z, x, z, x)
        got = loaded(z, x, z, x)
    torch.testing.assert_close(got["score_logits"], expected["score_logits"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["boxes"], expected["boxes"], rtol=1e-4, atol=1e-5)


def test_load_tracker_model_errors(tmp_path):
    with pytest.raises(CheckpointError):
        load_tracker_model(tmp_path)
    with pytest.raises(CheckpointError):
        load_tracker_model(tmp_path / "missing")


def test_fp16_needs_cuda(tmp_path):
    with pytest.raises(ConfigError, match="fp16"):
        train(tiny_config(amp="fp16"), tmp_path / "run", progress=False, sources=memory_sources())


def test_frozen_linears_in_bf16_give_the_autocast_results():
    """Storing LoRA's frozen base in bf16 and feeding lora_A its bf16 input uncast change no
    autocast output (the matmuls saw those bf16 values anyway)."""
    import copy

    from tracktune.adapt import METHODS, reads_frozen_weights
    from tracktune.adapt.lora import keep_inputs_in_amp_dtype
    from tracktune.runs import build_training_model
    from tracktune.train.optim import cast_frozen_linears

    config = tiny_config(amp="bf16")
    config.methods = ["lora"]
    config.lora.rank = 4
    torch.manual_seed(0)
    model, _ = build_training_model(config)
    cast = copy.deepcopy(model)
    assert cast_frozen_linears(cast, torch.bfloat16) == 2 * 6  # q, k, v, proj, fc1, fc2 per block
    assert all(p.dtype == torch.float32 for p in cast.parameters() if p.requires_grad)
    # SRFT reads the frozen values: the trainer skips the cast when it is listed
    assert reads_frozen_weights([METHODS["srft"]]) and not reads_frozen_weights([METHODS["lora"]])
    assert keep_inputs_in_amp_dtype(cast) == 2 * 6
    generator = torch.Generator().manual_seed(1)
    z = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8, generator=generator)
    x = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8, generator=generator)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(z, x, z, x)
        got = cast(z, x, z, x)
    assert torch.equal(got["score_logits"], expected["score_logits"])
    assert torch.equal(got["boxes"], expected["boxes"])


def pretrained_config(path, methods):
    config = tiny_config(epochs=1)
    config.methods = methods
    config.model.pretrained, config.model.pretrained_format = str(path), "tracktune"
    config.lora.rank = 4
    config.srft.n_batches, config.srft.cache_dir = 2, None
    config.fctl.blocks, config.fctl.blocks_depth = [1, 2], None
    return config


def test_method_hooks_reach_the_loss_and_the_step(tmp_path, rgb_weights):
    # FCTL: return_blocks is passed to the forward and its EANSDL term is logged and trained on
    result = train(pretrained_config(rgb_weights, ["lora", "fctl"]), tmp_path / "fctl", progress=False,
                   sources=memory_sources())
    assert result.metrics["eansdl"] > 0
    assert result.metrics["loss"] == pytest.approx(result.metrics["cls"] + result.metrics["giou"]
                                                   + result.metrics["eansdl"], rel=1e-5)
    # SRFT: before_training measures the prior on training batches; after_step gets the current lr
    config = pretrained_config(rgb_weights, ["full", "srft"])
    trainer = Trainer(config, tmp_path / "srft", sources=memory_sources(), progress=False)
    trainer.build()
    trainer.run()
    srft = trainer.methods[1]
    assert srft.linear_targets and srft.previous
    assert srft.learning_rate == pytest.approx(trainer.last_metrics["lr"])


def test_bad_logging_interval(tmp_path):
    with pytest.raises(ConfigError, match="log_every"):
        train(tiny_config(log_every=0), tmp_path / "run", progress=False, sources=memory_sources())



def test_train_threads_is_set_for_the_run_and_restored(tmp_path):
    seen = []
    config = tiny_config()
    config.train.threads = 1
    before = torch.get_num_threads()
    train(config, tmp_path / "run", progress=False, sources=memory_sources(),
          on_step=lambda step, metrics: seen.append(torch.get_num_threads()))
    assert seen and set(seen) == {1} and torch.get_num_threads() == before


@pytest.mark.parametrize("native", [True, False])
def test_auto_amp_is_bf16_only_where_the_cpu_has_it(monkeypatch, tmp_path, caplog, native):
    """train.amp auto: bf16 autocast (and LoRA's frozen base stored in bf16) on a CPU with native
    bf16, fp32 on one without; the saved config keeps `auto`. An explicit bf16 on such a CPU
    runs as asked, with a warning naming the cure."""
    import logging

    import tracktune.precision as precision
    from tracktune.config import load_config

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: native)
    config = tiny_config(amp="auto", epochs=1)
    config.methods = ["lora"]
    config.lora.rank = 2
    trainer = Trainer(config, tmp_path / "run", sources=memory_sources(), progress=False)
    trainer.build()
    assert trainer.amp == ("bf16" if native else "none")
    frozen = {p.dtype for n, p in trainer.model.named_parameters() if n.endswith("base_layer.weight")}
    assert frozen == {torch.bfloat16 if native else torch.float32}  # q, k, v, proj, fc1, fc2 under LoRA
    trainer.run()
    trainer.close()
    assert load_config(tmp_path / "run" / "config.yaml").train.amp == "auto"
    with caplog.at_level(logging.WARNING, logger="tracktune.train.trainer"):
        Trainer(tiny_config(amp="bf16"), tmp_path / "run2", sources=memory_sources(), progress=False)
    warned = [r.getMessage() for r in caplog.records if "without native bf16" in r.getMessage()]
    assert len(warned) == (0 if native else 1)
    assert all("train.amp auto" in message for message in warned)
