"""The command line: every option documented, argparse errors on one line."""

import argparse

import pytest

from tracktune.cli import build_parser, main


def _options(parser, name="tracktune"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _options(sub, f"{name} {sub_name}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield name, action


def test_every_option_has_help_text():
    missing = [f"{name} {action.option_strings or action.dest}" for name, action in _options(build_parser())
               if not action.help]
    assert missing == []


def test_numbers_on_the_command_line_are_range_checked():
    """No option takes a bare int/float: each has a range (tracktune.cli_types)."""
    bare = [f"{name} {action.option_strings}" for name, action in _options(build_parser())
            if action.type in (int, float)]
    assert bare == []


def test_argparse_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "synth", "--out", "x", "--frames", "zero"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("tracktune data synth: error: argument --frames: 'zero' is not an integer; "
                                       "expected an integer >= 2\n")
    assert main(["evaluate", "--protocol", "lasher", "--gt", "g", "--results", "r", "--bogus"]) == 2
    assert capsys.readouterr().err == "tracktune evaluate: error: unrecognized arguments: --bogus\n"
