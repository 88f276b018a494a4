"""The benchmark table (data/benchmarks/catalog.py) against the loaders and protocols it names."""

from __future__ import annotations

import importlib

import pytest

from tracktune.data.benchmarks import LOADERS, loader
from tracktune.data.benchmarks.catalog import BENCHMARKS, RESULT_LAYOUTS, layout_for_protocol, scored_by
from tracktune.errors import DataError
from tracktune.eval.protocols import PROTOCOLS


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_each_row_agrees_with_its_loader_and_protocol(name):
    row = BENCHMARKS[name]
    module = importlib.import_module(row.loader)
    assert module.NAME == name
    assert callable(module.load) and callable(module.load_ground_truth)
    assert row.protocol is None or row.protocol in PROTOCOLS
    assert row.result_layout in RESULT_LAYOUTS
    assert row.default_split in module.SPLITS
    assert row.eval_split is None or row.eval_split in module.SPLITS
    assert set(row.split_lists) <= set(module.SPLITS)
    assert row.modalities[0] == "rgb"


def test_every_protocol_reads_one_layout_the_toolkits_write():
    # by hand, from the toolkits: GOT-10k's `<seq>/<seq>_001.txt` + times, the VOT toolkit's
    # `<seq>/<seq>_001.txt` + confidences, every other toolkit `<seq>.txt`
    expected = {"got10k": "got10k", "vot_lt": "vot", "vot_multistart": "vot"}
    for protocol in PROTOCOLS:
        assert layout_for_protocol(protocol) == expected.get(protocol, "plain"), protocol


def test_each_depth_benchmark_has_its_protocol():
    assert [b.name for b in scored_by("vot_lt")] == ["depthtrack"]
    assert [b.name for b in scored_by("vot_multistart")] == ["vot_rgbd2022"]
    assert [b.name for b in scored_by("lasher")] == ["lasher"]
    assert scored_by("no_such_protocol") == ()


def test_loaders_map_and_an_unknown_name_suggests_the_closest():
    assert LOADERS == {name: row.loader for name, row in BENCHMARKS.items()}
    with pytest.raises(DataError, match="did you mean 'lasher'"):
        loader("lashr")
