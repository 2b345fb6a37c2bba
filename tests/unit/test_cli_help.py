"""`segbook --help` lists each command with the first sentence of that command's own docstring.

segbook.cli.main keeps those sentences in SHORT_HELP so that --help imports no command module;
this test keeps SHORT_HELP and the docstrings from drifting apart.
"""

from __future__ import annotations

import importlib

import pytest

from segbook.cli.main import COMMANDS, SHORT_HELP


def command(name: str):
    module, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def test_every_command_has_a_short_help_and_no_other():
    assert set(SHORT_HELP) == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_short_help_is_the_docstrings_first_sentence(name):
    assert SHORT_HELP[name] == command(name).get_short_help_str(limit=1000)


def test_help_lists_them(cli_runner):
    output = cli_runner("--help").output
    for name, text in SHORT_HELP.items():
        assert name in output and text.split()[0] in output
