"""Config: YAML + dotted overrides, typed validation, errors that name the key."""

import pytest

from tracktune.config import ExperimentConfig, load_config, parse_override, save_config
from tracktune.errors import ConfigError


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel:\n  size: tiny\n  search_size: 128\n")
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
    with pytest.raises(ConfigError, match=r"data\.train\[0\]\.weight: expected a number"):
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
