"""Precision names: which autocast training resolves `auto` to, per device."""

import pytest
import torch

import tracktune.precision as precision
from tracktune.errors import ConfigError


@pytest.mark.parametrize("native", [True, False])
def test_auto_training_amp_follows_the_cpu(monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: native)
    assert precision.resolve_train_amp("auto", "cpu") == ("bf16" if native else "none")
    assert precision.resolve_train_amp("auto", torch.device("cpu")) == ("bf16" if native else "none")
    for asked in ("none", "bf16", "fp16"):  # an explicit choice is kept, whatever the CPU
        assert precision.resolve_train_amp(asked, "cpu") == asked
    assert precision.emulated_bf16("bf16", "cpu") is (not native)
    assert not precision.emulated_bf16("none", "cpu")
    # tracking follows the same rule
    assert precision.resolve_track_precision("auto", None, "cpu") == ("bf16" if native else "fp32")


def test_unknown_training_amp_is_a_config_error():
    with pytest.raises(ConfigError, match="train.amp must be one of"):
        precision.resolve_train_amp("bfloat16", "cpu")


@pytest.mark.parametrize("native_bf16,vnni", [(True, True), (False, False), (False, True)])
def test_slow_precisions_are_named_from_the_cpu_features(monkeypatch, native_bf16, vnni):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: native_bf16)
    monkeypatch.setattr(torch.cpu, "_is_vnni_supported", lambda: vnni)
    assert (precision.slow_cpu_precision("bf16") is None) is native_bf16
    assert (precision.slow_cpu_precision("int8") is None) is vnni
    assert precision.slow_cpu_precision("fp32") is None
