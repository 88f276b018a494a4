"""`tracktune configs`: one line per shipped config, its name and description."""

from pathlib import Path

from tracktune.cli import main

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "src" / "tracktune" / "configs"


def test_lists_each_shipped_config_on_one_line(capsys):
    assert main(["configs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    files = sorted(SHIPPED_DIR.glob("*.yaml"))
    assert len(lines) == len(files)
    for line, path in zip(lines, files):
        name, description = line.split(None, 1)
        assert name == path.stem
        assert description == path.read_text().splitlines()[0].removeprefix("# description: ")


def test_show_prints_the_file_and_commands_take_names(capsys):
    assert main(["configs", "--show", "tiny_rgbt"]) == 0
    assert capsys.readouterr().out == (SHIPPED_DIR / "tiny_rgbt.yaml").read_text()
    assert main(["model-info", "tiny_rgbt", "--json"]) == 0
    by_name = capsys.readouterr().out
    assert main(["model-info", str(SHIPPED_DIR / "tiny_rgbt.yaml"), "--json"]) == 0
    assert by_name == capsys.readouterr().out and '"params_total": ' in by_name
    assert main(["configs", "--show", "no_such_config"]) == 1
    assert "neither a file nor a shipped config" in capsys.readouterr().err
