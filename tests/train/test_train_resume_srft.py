"""An SRFT run (dual_branch, full fine-tuning + srft) interrupted after a checkpoint and resumed
ends bitwise equal to an uninterrupted one: the transfer EMA, the prior's mapping and its
anchors W_0 travel with the checkpoint (Method.state_dict / load_state_dict)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from train_fixtures import memory_sources, tiny_config
from tracktune.errors import CheckpointError
from tracktune.train.trainer import Trainer, resume_run, train


class Interrupt(Exception):
    pass


@pytest.fixture
def srft_config(tmp_path):
    from tracktune.model import build_model
    from tracktune.model.pretrained import save_model_weights

    config = tiny_config(epochs=1, deterministic=True, checkpoint_every=2, keep_last=5)  # 4 steps
    rgb = dataclasses.replace(config, model=dataclasses.replace(config.model, fusion="rgb"))
    torch.manual_seed(0)
    weights = save_model_weights(build_model(rgb), tmp_path / "rgb.safetensors")
    config.methods = ["full", "srft"]
    config.model.fusion = "dual_branch"
    config.model.pretrained, config.model.pretrained_format = str(weights), "tracktune"
    config.srft.n_batches, config.srft.cache_dir = 2, str(tmp_path / "cache")
    config.srft.lambda_p, config.train.lr = 50.0, 1e-2  # a prior step that visibly moves the weights
    return config


def final_tensors(run_dir):
    step = run_dir / "checkpoints" / "step_0000004"
    state = torch.load(step / "state.pt", weights_only=True)
    return load_file(str(step / "trainable.safetensors")), state["methods"]["srft"]


def interrupted(config, run_dir):
    def stop(step, _metrics):
        if step == 2:  # after the step-2 checkpoint was written
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config, run_dir, progress=False, sources=memory_sources(), on_step=stop)


def test_srft_resume_is_bitwise_exact(tmp_path, srft_config):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(srft_config, straight, progress=False, sources=memory_sources())
    interrupted(srft_config, broken)
    saved = torch.load(broken / "checkpoints" / "step_0000002" / "state.pt", weights_only=True)["methods"]["srft"]
    assert saved["prior_key"] and saved["linear_map"] and saved["diagonal_map"]
    # both branches' copies of an RGB Linear answer to that RGB Linear
    linear_map = saved["linear_map"]
    assert linear_map["blocks.0.attn.q"] == linear_map["fusion_module.aux_blocks.0.attn.q"] == "blocks.0.attn.q"
    assert saved["diagonal_map"]["fusion_module.aux_norm.weight"] == "norm.weight"  # ties (all ones) by name
    assert set(saved["transfer_ema"]) and all(v.dtype == torch.float32 for v in saved["transfer_ema"].values())

    resume_run(broken, progress=False, sources=memory_sources())
    a, state_a = final_tensors(straight)
    b, state_b = final_tensors(broken)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different
    assert state_a["linear_map"] == state_b["linear_map"] and state_a["diagonal_map"] == state_b["diagonal_map"]
    assert state_a["transfer_ema"].keys() == state_b["transfer_ema"].keys()
    assert all(torch.equal(state_a["transfer_ema"][k], state_b["transfer_ema"][k]) for k in state_a["transfer_ema"])
    # the resumed run read its prior from the cache the first run wrote (one file per key)
    assert len(list((tmp_path / "cache").glob("srft_prior_*.safetensors"))) == 1
    assert not list((tmp_path / "cache").glob(".*.tmp"))


def test_resumed_method_anchors_are_the_rgb_weights(tmp_path, srft_config):
    """After resume the anchors W_0 are the pretrained RGB weights, not the checkpoint's."""
    run_dir = tmp_path / "run"
    interrupted(srft_config, run_dir)
    trainer = Trainer(srft_config, run_dir, sources=memory_sources(), progress=False)
    trainer.build()
    trainer.resume()
    srft = trainer.methods[1]
    srft.before_training(trainer.model, trainer._batches_for_methods())
    rgb = load_file(srft_config.model.pretrained)
    by_name = {t.name: t for t in srft.linear_targets}
    anchor = by_name["fusion_module.aux_blocks.1.mlp.fc1"].initial
    torch.testing.assert_close(anchor[:, :-1], rgb["blocks.1.mlp.fc1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(anchor[:, -1], rgb["blocks.1.mlp.fc1.bias"], rtol=0, atol=0)
    moved = trainer.model.fusion_module.aux_blocks[1].mlp.fc1.weight.detach()
    assert not torch.equal(moved, rgb["blocks.1.mlp.fc1.weight"])  # the model itself has moved away
    assert srft.transfer.ema and srft.previous["blocks.0.attn.q.weight"].equal(trainer.model.blocks[0].attn.q.weight)


def _record_checksum(path):
    import json

    from tracktune.runs import MANIFEST_FILE, file_sha256

    manifest_path = path.parent / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"][path.name] = file_sha256(path)
    manifest_path.write_text(json.dumps(manifest))


def test_resume_without_or_with_a_changed_srft_state_is_an_error(tmp_path, srft_config):
    run_dir = tmp_path / "run"
    interrupted(srft_config, run_dir)
    path = run_dir / "checkpoints" / "step_0000002" / "state.pt"
    state = torch.load(path, weights_only=True)
    # another prior (e.g. other data) than the one trained with
    changed = dict(state, methods={"srft": dict(state["methods"]["srft"], prior_key="0" * 64)})
    torch.save(changed, path)
    _record_checksum(path)  # a state written as if at save time (else the checksum refuses it first)
    with pytest.raises(CheckpointError, match="prior measured now"):
        resume_run(run_dir, progress=False, sources=memory_sources())
    # no SRFT state at all (an older checkpoint)
    torch.save(dict(state, methods={}), path)
    _record_checksum(path)
    with pytest.raises(CheckpointError, match="no SRFT state"):
        resume_run(run_dir, progress=False, sources=memory_sources())
