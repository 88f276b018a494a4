"""Config: YAML + dotted overrides, typed validation, errors that name the key."""

import pytest

from tracktune.config import ExperimentConfig, load_config, parse_override, save_config
from tracktune.errors import ConfigError


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel:\n  size: tiny\n  patch_size: 16\n  search_size: 128\n")
    config = load_config(path, ["lora.rank=16", "train.lr=1e-3", "methods=[lora, fctl]"])
    assert isinstance(config, ExperimentConfig)
    assert config.model.size == "tiny" and config.model.search_size == 128
    assert config.lora.rank == 16 and config.train.lr == pytest.approx(1e-3)
    assert config.methods == ["lora", "fctl"]


def test_unknown_key_suggests_the_closest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  serch_size: 128\n")
    with pytest.raises(ConfigError, match=r"model\.serch_size.*did you mean 'search_size'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"unknown config key 'lora\.rnak'.*'rank'"):
        load_config(None, ["lora.rnak=4"])
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


def test_wrong_types_name_the_key():
    with pytest.raises(ConfigError, match=r"lora\.rank: expected an integer"):
        load_config(None, ["lora.rank=abc"])
    with pytest.raises(ConfigError, match=r"train\.deterministic: expected true or false"):
        load_config(None, ["train.deterministic=3"])
    with pytest.raises(ConfigError, match=r"model\.fusion: 'early_ad' is not one of .*did you mean 'early_add'"):
        load_config(None, ["model.fusion=early_ad"])
    with pytest.raises(ConfigError, match=r"data\.train\.0\.weight: expected a number"):
        load_config(None, ["data.train=[{name: lasher, weight: heavy}]"])


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  size: tiny\n  fusion: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_override_syntax():
    assert parse_override("a.b=0.5") == ("a.b", 0.5)
    assert load_config(None, ["train.lr=1e-4"]).train.lr == 1e-4  # YAML 1.1 reads 1e-4 as a string
    assert parse_override("a=null") == ("a", None)
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("nothing")


def test_saved_config_round_trips(tmp_path):
    config = load_config(None, ["model.size=tiny", "lora.rank=8", "data.train=[{name: lasher, weight: 2}]"])
    saved = save_config(config, tmp_path / "run" / "config.yaml")
    assert load_config(saved) == config


# --- validation at load (issue 18) ------------------------------------------------------

import math  # noqa: E402

from tracktune.config import (  # noqa: E402
    LORA_TARGETS, METHOD_NAMES, VIT_SIZES, config_from_dict, load_config as _load, require_sections, to_dict,
)

# key, a value out of range, a value just inside it (checked by hand against each field's meaning)
RANGES = [
    ("model.patch_size", 0, 16), ("model.depth", 0, 1), ("model.embed_dim", 0, 96), ("model.num_heads", 0, 1),
    ("model.drop_path", 1.0, 0.99), ("model.drop_path", -0.1, 0.0),
    ("lora.rank", 0, 1), ("lora.alpha", 0.0, 0.5), ("lora.dropout", 1.0, 0.5),
    ("srft.energy", 0.0, 1.0), ("srft.ema", 1.0, 0.0), ("srft.n_batches", 0, 1), ("srft.kappa_constant", 1.5, 1.0),
    ("fctl.beta", 0.0, 0.1), ("fctl.r0", -1, 0), ("fctl.lambda_eansdl", -1.0, 0.0),
    ("patrack.mda_dim", 3, 4), ("patrack.ta_dropout", 1.0, 0.0),
    ("data.search_factor", 0.0, 0.5), ("data.template_factor", -1.0, 1.0), ("data.max_gap", -1, 0),
    ("data.samples_per_epoch", 0, 1), ("data.num_workers", -1, 0), ("data.flip_prob", 1.5, 1.0),
    ("data.degrade_prob", -0.5, 0.0), ("data.scale_jitter", 1.0, 0.5),
    ("train.epochs", 0, 1), ("train.batch_size", 0, 1), ("train.lr", 0.0, 1e-6), ("train.lr", math.inf, 1.0),
    ("train.weight_decay", -0.1, 0.0), ("train.layer_decay", 0.0, 1.0), ("train.warmup_fraction", 1.01, 1.0),
    ("train.grad_clip", 0.0, 0.1), ("train.grad_accum", 0, 1), ("train.checkpoint_every", 0, 1),
    ("train.keep_last", -1, 0), ("train.log_every", 0, 1),
    ("track.window_influence", 1.01, 1.0), ("track.window_influence", -0.01, 0.0),
    ("track.search_factor", 0.0, 0.1), ("track.template_factor", 0.0, 0.1), ("seed", -1, 0),
]


@pytest.mark.parametrize("key, bad, good", RANGES, ids=[f"{k}={b}" for k, b, _ in RANGES])
def test_every_range_is_checked_at_load(key, bad, good):
    base = ["model.size=tiny", "model.embed_dim=96", "model.num_heads=3"]  # tiny: 192 wide, 3 heads
    if key == "model.num_heads":
        base = ["model.size=tiny", "model.embed_dim=96"]
    if key == "model.embed_dim":
        base = ["model.size=tiny", "model.num_heads=3"]
    if key == "model.patch_size":
        base += ["model.template_size=64", "model.search_size=128"]
    with pytest.raises(ConfigError) as info:
        _load(None, base + [f"{key}={bad}"])
    message = str(info.value)
    assert message.startswith(f"--set {key}={bad}: {key}: "), message
    assert "expected" in message
    config = _load(None, base + [f"{key}={good}"])
    node = config
    for part in key.split("."):
        node = getattr(node, part)
    assert node == good


def test_cross_field_constraints_name_both_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.embed_dim: 100 is not divisible by model\.num_heads 3"):
        _load(None, ["model.size=tiny", "model.embed_dim=100"])
    with pytest.raises(ConfigError, match=r"model\.search_size: 200 is not a multiple of model\.patch_size 14"):
        _load(None, ["model.search_size=200"])
    with pytest.raises(ConfigError, match=r"template_size: 252 exceeds model\.search_size 224"):
        _load(None, ["model.template_size=252"])
    with pytest.raises(ConfigError, match=r"train\.batch_size: 32 is not a multiple of train\.grad_accum 5"):
        _load(None, ["train.grad_accum=5"])
    with pytest.raises(ConfigError, match=r"fctl\.blocks\.0: 7 is out of range; expected an integer in \[1, 6\]"):
        _load(None, ["fctl.blocks_depth=6", "fctl.blocks=[7]"])
    with pytest.raises(ConfigError, match=r"patrack\.mea_layers\.1: block 6 does not exist in a 4-block model"):
        _load(None, ["methods=[patrack]", "model.depth=4"])
    _load(None, ["model.depth=4"])  # patrack's layers matter only when patrack is used
    with pytest.raises(ConfigError, match=r"methods\.1: 'lora' is listed twice"):
        _load(None, ["methods=[lora, lora]"])
    with pytest.raises(ConfigError, match=r"train\.device: 'cuda:x' is not a device name"):
        _load(None, ["train.device=cuda:x"])
    for device in ("cpu", "cuda", "cuda:1", "mps", None):
        assert _load(None, [f"train.device={device if device else 'null'}"]).train.device == device


def test_errors_name_the_file_line_or_the_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel:\n  size: tiny\n  depth: 0\ntrain:\n  lr: -1\n")
    with pytest.raises(ConfigError) as info:
        _load(path)
    assert str(info.value) == f"{path}:4: model.depth: 0 is out of range; expected an integer >= 1"
    # fixing the file's error by an override moves the blame to the next one, in the file
    with pytest.raises(ConfigError) as info:
        _load(path, ["model.depth=2"])
    assert str(info.value) == f"{path}:6: train.lr: -1.0 is out of range; expected a number > 0"
    # an override's own bad value is blamed on the override, not the file
    with pytest.raises(ConfigError) as info:
        _load(path, ["model.depth=2", "train.lr=1e-3", "track.window_influence=5"])
    assert str(info.value).startswith("--set track.window_influence=5: track.window_influence: 5.0 is out of range")
    # a cross-field error is blamed on the override that took part in it
    path.write_text("model:\n  size: tiny\n  embed_dim: 96\n")
    with pytest.raises(ConfigError, match=r"^--set model\.num_heads=5: model\.embed_dim: 96"):
        _load(path, ["model.num_heads=5"])


def test_duplicate_keys_and_encodings(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("model:\n  size: tiny\ntrain:\n  lr: 1.0e-3\nmodel:\n  depth: 2\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:5: duplicate key 'model' \(first given on line 1\)"):
        _load(path)
    path.write_text("data:\n  train:\n    - {name: lasher, weight: 1, weight: 2}\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml:3: duplicate key 'data\.train\.0\.weight'"):
        _load(path)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml:1: not UTF-8 text \(byte 0xe9 at offset 9\)"):
        _load(latin)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("name: café\n".encode("utf-8-sig"))
    assert _load(bom).name == "café"
    with pytest.raises(ConfigError, match="config is not a file"):
        _load(tmp_path)


def test_degrade_specs_are_checked():
    assert _load(None, ["data.degrade=[all, 'fog:2-4']"]).data.degrade == ["all", "fog:2-4"]
    with pytest.raises(ConfigError, match=r"^--set data\.degrade=\[fog:7\]: data\.degrade\.0"):
        _load(None, ["data.degrade=[fog:7]"])


def test_list_items_can_be_set(tmp_path):
    config = _load(None, ["data.train.0.root=/data/lasher", "data.train.0.name=lasher"])
    assert config.data.train[0].root == "/data/lasher" and config.data.train[0].name == "lasher"
    config = _load(None, ["data.train.1.name=depthtrack", "data.train.1.weight=2", "methods.1=fctl"])
    assert [e.name for e in config.data.train] == ["synthetic", "depthtrack"]
    assert config.data.train[1].weight == 2.0 and config.methods == ["lora", "fctl"]
    assert _load(None, ["fctl.blocks.0=2"]).fctl.blocks == [2, 6, 9, 12]
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train:\n    - {name: lasher, root: /a}\n    - {name: gtot, root: /b}\n")
    config = _load(path, ["data.train.1.root=/c"])
    assert [(e.name, e.root) for e in config.data.train] == [("lasher", "/a"), ("gtot", "/c")]
    with pytest.raises(ConfigError, match=r"^--set data\.train\.3\.root=/x: .*data\.train has 2 items"):
        _load(path, ["data.train.3.root=/x"])
    with pytest.raises(ConfigError, match=r"data\.train is a list; expected an item number, got 'first'"):
        _load(path, ["data.train.first.root=/x"])
    with pytest.raises(ConfigError, match=r"^--set data\.train\.1\.wieght=2: unknown config key 'data\.train\.1\.wieght'"):
        _load(path, ["data.train.1.wieght=2"])


def test_sections_not_read_by_a_command_are_refused():
    require_sections(["track.window_influence=0.2"], ["track"], "why")
    with pytest.raises(ConfigError, match=r"--set model\.embed_dim=64: model\.embed_dim does not apply here: why"):
        require_sections(["track.search_factor=3", "model.embed_dim=64"], ["track"], "why")
    base = to_dict(_load(None, ["model.size=tiny"]))
    with pytest.raises(ConfigError, match=r"^--set track\.search_factor=0: track\.search_factor"):
        config_from_dict(base, "manifest", ["track.search_factor=0"])
    base["train"]["keep_last"] = -2
    with pytest.raises(ConfigError, match=r"^manifest: train\.keep_last: -2"):
        config_from_dict(base, "manifest")


def test_tables_match_the_modules_that_use_them():
    from tracktune.adapt import METHODS
    from tracktune.adapt.lora import TARGET_MODULES
    from tracktune.model.vit import VIT_SIZES as MODEL_SIZES

    assert VIT_SIZES == MODEL_SIZES
    assert set(METHOD_NAMES) == set(METHODS)
    assert set(LORA_TARGETS) == set(TARGET_MODULES)


def test_shipped_configs_pass_their_checks():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[1] / "src" / "tracktune" / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        _load(path)


# ---- shipped configs: package data, resolved by name or path ---------------------------

SHIPPED_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "src" / "tracktune" / "configs"


def test_shipped_configs_are_every_yaml_in_the_package_and_each_has_a_description():
    from tracktune.config import config_description, shipped_configs

    on_disk = sorted(p.stem for p in SHIPPED_DIR.iterdir() if p.suffix == ".yaml")  # hand listing
    assert sorted(shipped_configs()) == on_disk and len(on_disk) >= 13
    for name, path in shipped_configs().items():
        first = path.read_text().splitlines()[0]
        assert first.startswith("# description: "), name
        assert config_description(path) == first[len("# description: "):] and "\n" not in config_description(path)
        load_config(name)  # every shipped config loads by name


def test_a_name_resolves_to_the_shipped_file_and_a_path_wins(tmp_path, monkeypatch):
    from tracktune.config import resolve_config

    shipped = SHIPPED_DIR / "tiny_rgbt.yaml"
    for given in ("tiny_rgbt", "tiny_rgbt.yaml", "configs/tiny_rgbt.yaml"):
        assert resolve_config(given).resolve() == shipped.resolve()
    assert load_config("tiny_rgbt").model.embed_dim == load_config(shipped).model.embed_dim == 128
    # a file of the same name in the working directory wins over the shipped config
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny_rgbt.yaml").write_text("name: mine\nmodel:\n  size: tiny\n")
    assert load_config("tiny_rgbt.yaml").name == "mine"
    assert load_config("tiny_rgbt").name == "tiny_rgbt"  # a bare name is not a file here: the shipped one
    # a directory path elsewhere never falls back to a shipped name
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_config(tmp_path / "elsewhere" / "tiny_rgbt.yaml")


def test_a_mistyped_name_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"tiny_rbgt.*did you mean 'tiny_rgbt'"):
        load_config("tiny_rbgt")
