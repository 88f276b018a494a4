"""Every adaptation method in `METHODS`, alone and in every combination its declarations allow,
through the same checks (peft's habit: one parametrised contract instead of per-method copies).

The cases are derived from `METHODS` and the `Method` declarations, never listed by hand, so a
new method is picked up without editing this file:
- every method list of up to three registered methods (registry order) that
  `check_composition` accepts for at least one fusion is a case; it must build on every fusion
  it is accepted for and be refused with a ConfigError naming `model.fusion` on the others;
- each case trains two steps (or, when its methods leave nothing trainable, the trainer
  refuses it), exports, reloads from its checkpoint to the same function, and reports its
  parameters (groups that partition the model; each method's declared groups present).
A second test records the order in which the trainer calls each hook.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from tracktune.adapt import METHODS, Method, StepInfo, build_adapted_model, check_composition
from tracktune.errors import ConfigError
from tracktune.model.fusion import FUSIONS
from tracktune.model_stats import model_info, step_inputs
from tracktune.runs import load_tracker_model
from tracktune.train.trainer import Trainer, train

MAX_COMBINED = 3


def accepted_fusions(names: tuple[str, ...]) -> list[str]:
    fusions = []
    for fusion in FUSIONS:
        try:
            check_composition(list(names), fusion)
        except ConfigError:
            continue
        fusions.append(fusion)
    return fusions


def method_lists() -> list[tuple[str, ...]]:
    cases = []
    for size in range(1, MAX_COMBINED + 1):
        for names in itertools.combinations(METHODS, size):
            if accepted_fusions(names):
                cases.append(names)
    return cases


CASES = method_lists()


def contract_config(tiny_experiment, rgb_weights, names, fusion):
    config = tiny_experiment(epochs=1, checkpoint_every=1, log_every=1)
    config.data.samples_per_epoch = 2 * config.train.batch_size  # two steps
    config.methods = list(names)
    config.model.fusion = fusion
    config.model.pretrained, config.model.pretrained_format = str(rgb_weights), "tracktune"
    config.lora.rank = 4
    config.srft.n_batches, config.srft.prior_batch_size, config.srft.cache_dir = 2, 2, None
    config.fctl.blocks, config.fctl.blocks_depth = [1, 2], None
    config.patrack.mda_dim, config.patrack.mea_dim, config.patrack.ta_dim = 4, 8, 8
    config.patrack.mea_layers, config.patrack.mda_layers = [1], None
    return config


def test_the_cases_cover_every_method():
    covered = {name for names in CASES for name in names}
    assert covered == set(METHODS)
    assert all(issubclass(cls, Method) and cls.name == name for name, cls in METHODS.items())


@pytest.mark.parametrize("names", CASES, ids=["+".join(n) for n in CASES])
def test_builds_exactly_on_the_fusions_it_allows(names, tiny_experiment, rgb_weights):
    allowed = accepted_fusions(names)
    for fusion in FUSIONS:
        config = contract_config(tiny_experiment, rgb_weights, names, fusion)
        if fusion in allowed:
            model, methods = build_adapted_model(config)
            assert [m.name for m in methods] == list(names)
        else:
            with pytest.raises(ConfigError, match="model.fusion"):
                build_adapted_model(config)


@pytest.mark.parametrize("names", CASES, ids=["+".join(n) for n in CASES])
def test_trains_exports_round_trips_and_reports(names, tiny_experiment, rgb_weights, synthetic_sources, tmp_path):
    allowed = accepted_fusions(names)
    fusion = "early_add" if "early_add" in allowed else allowed[0]  # the tiny config's own fusion first
    config = contract_config(tiny_experiment, rgb_weights, names, fusion)
    trainer = Trainer(config, tmp_path / "run", sources=synthetic_sources(), progress=False)
    try:
        trainer.build()
        if not trainer.trainable:
            pytest.fail("build() must refuse a model where nothing trains")
    except ConfigError as error:  # only when the methods leave nothing trainable
        assert "no parameter trains" in str(error)
        model, _ = build_adapted_model(config)
        assert not any(p.requires_grad for p in model.parameters())
        return
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    result = trainer.run()
    trainer.close()
    assert result.steps == 2 and torch.isfinite(torch.tensor(result.metrics["loss"]))
    moved = [n for n, p in trainer.model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert moved, "two optimiser steps moved no trainable parameter"
    # export + checkpoint round trip: the reloaded inference model computes what the trained one does
    trained = trainer.model.eval()
    loaded = load_tracker_model(tmp_path / "run")
    inputs = step_inputs(loaded, batch=2)
    with torch.no_grad():
        expected, got = trained(**inputs), loaded(**inputs)
    torch.testing.assert_close(got["boxes"], expected["boxes"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["score_logits"], expected["score_logits"], rtol=1e-4, atol=1e-4)
    # parameters reported: the groups partition the model, the trainable count is the trainer's
    info = model_info(config)
    names_by_group = trained.parameter_groups()
    every = sorted(n for names_ in names_by_group.values() for n in names_)
    assert every == sorted(n for n, _ in trained.named_parameters())
    assert info["params_total"] == sum(p.numel() for p in trained.parameters())
    assert info["params_trainable"] == result.trainable_params
    for name in names:
        for group in METHODS[name].parameter_groups:
            assert group in info["params_by_group"]


class Recorder(Method):
    """Records each hook call (and the StepInfo of per-step hooks)."""

    name = "recorder"
    calls: list = []

    def prepare(self, model):
        self.calls.append("prepare")
        return model

    def prepare_precision(self, model):
        self.calls.append("prepare_precision")

    def before_training(self, model, batches):
        self.calls.append("before_training")

    def return_blocks(self, model):
        self.calls.append("return_blocks")
        return ()

    def extra_losses(self, model, batch, outputs, step):
        self.calls.append(("extra_losses", step.step, step.lr))
        return {}

    def after_step(self, model, step):
        assert any(p.grad is not None for p in model.parameters())  # before the gradients are cleared
        self.calls.append(("after_step", step.step, step.lr))

    def state_dict(self):
        self.calls.append("state_dict")
        return {"seen": len(self.calls)}

    def load_state_dict(self, state):
        self.calls.append(("load_state_dict", state.get("seen")))


def test_the_trainer_calls_the_hooks_in_order(tiny_experiment, synthetic_sources, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "recorder", Recorder)
    monkeypatch.setattr(Recorder, "calls", [])
    config = tiny_experiment(epochs=1, checkpoint_every=1, grad_accum=2, amp="bf16", warmup_fraction=0.0)
    config.data.samples_per_epoch = 2 * config.train.batch_size
    config.methods = ["full", "recorder"]
    result = train(config, tmp_path / "run", progress=False, sources=synthetic_sources())
    lr = config.train.lr
    cosine = 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 2))).item()  # step 1 of 2, no warm-up
    calls = Recorder.calls
    assert calls[:4] == ["prepare", "prepare_precision", "return_blocks", "before_training"]
    steps = calls[4:]
    assert steps[:4] == [("extra_losses", 0, lr), ("extra_losses", 0, lr), ("after_step", 1, lr), "state_dict"]
    assert steps[4][:2] == ("extra_losses", 1) and steps[4][2] == pytest.approx(lr * cosine)
    assert steps[5:7] == [steps[4], ("after_step", 2, steps[4][2])]
    assert steps[7:] == ["state_dict"]
    assert result.steps == 2
    # resuming: the saved state comes back after the model is built and before before_training
    Recorder.calls.clear()
    trainer = Trainer(config, tmp_path / "run", sources=synthetic_sources(), progress=False)
    trainer.build()
    trainer.resume()
    trainer.run()
    trainer.close()
    assert Recorder.calls == ["prepare", "prepare_precision", "return_blocks", ("load_state_dict", 12),
                              "before_training"]


def test_step_info_progress():
    assert StepInfo(step=3, total_steps=12, lr=0.1).progress == 0.25
