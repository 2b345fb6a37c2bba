"""Every `segbook` command has its function in segbook.api, named once in COMMAND_FUNCTIONS.

The click tree is walked from the root group down to every leaf command ("finetune", "datasets
list", "grid submit", ...); each must be in the mapping, its function must exist and be callable,
and the command's own module must import that api module (the CLI calls it, not a lower layer).
The mapping names no command that does not exist.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import click
import pytest

from segbook.api import COMMAND_FUNCTIONS
from segbook.cli.main import cli


def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Command path -> command, for every command without sub-commands."""
    ctx = click.Context(group)
    found = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"`segbook {prefix}{name}` is listed but cannot be loaded"
        if isinstance(command, click.Group):
            found.update(leaves(command, f"{prefix}{name} "))
        else:
            found[f"{prefix}{name}"] = command
    return found


COMMANDS = leaves(cli)


def resolve(command: str):
    module_name, attribute = COMMAND_FUNCTIONS[command].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        pytest.fail(f"`segbook {command}`: {module_name} does not exist ({exc}); COMMAND_FUNCTIONS names it")
    function = getattr(module, attribute, None)
    assert function is not None, f"`segbook {command}`: {module_name} has no {attribute}"
    return module_name, function


def imports_module(source: str, wanted: str) -> bool:
    """`from wanted import ...`, `import wanted` or `from parent import last` anywhere in source."""
    parent, _, last = wanted.rpartition(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == wanted:
            return True
        if isinstance(node, ast.ImportFrom) and node.module == parent and any(a.name == last for a in node.names):
            return True
        if isinstance(node, ast.Import) and any(a.name == wanted for a in node.names):
            return True
    return False


def test_the_walk_finds_the_nested_commands():
    assert {"finetune", "datasets list", "weights fetch", "ci init", "grid resubmit"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_its_api_function(command):
    assert command in COMMAND_FUNCTIONS, f"add `segbook {command}` to segbook.api.COMMAND_FUNCTIONS"
    module_name, function = resolve(command)
    assert callable(function) and inspect.isfunction(function), f"{COMMAND_FUNCTIONS[command]} is not a function"
    assert function.__module__ == module_name, f"{COMMAND_FUNCTIONS[command]} is defined in {function.__module__}"
    cli_module = inspect.getmodule(COMMANDS[command].callback)
    assert imports_module(inspect.getsource(cli_module), module_name), (
        f"`segbook {command}` ({cli_module.__name__}) does not import {module_name}")


def test_the_mapping_names_only_commands_that_exist():
    extra = sorted(set(COMMAND_FUNCTIONS) - set(COMMANDS))
    assert not extra, f"COMMAND_FUNCTIONS names commands `segbook` does not have: {extra}"
