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


def test_worker_errors_come_back_as_their_own_message():
    from tracktune.cli import error_message
    from tracktune.errors import DataError

    # the text torch's ExceptionWrapper.reraise gives the exception it raises in the main process
    wrapped = DataError(
        "Caught DataError in DataLoader worker process 1.\n"
        "Original Traceback (most recent call last):\n"
        '  File "/x/torch/utils/data/_utils/worker.py", line 349, in _worker_loop\n'
        "    data = fetcher.fetch(index)\n"
        '  File "/x/tracktune/data/sequence.py", line 40, in read_image\n'
        "    raise DataError(f\"{path}: unreadable image\")\n"
        "tracktune.errors.DataError: /data/seq/visible/v000003.jpg: unreadable image (frame 4)\n")
    assert error_message(wrapped) == ("/data/seq/visible/v000003.jpg: unreadable image (frame 4) "
                                      "(in DataLoader worker process 1)")
    assert error_message(DataError("a\nb")) == "a b"
