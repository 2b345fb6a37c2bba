"""The architecture as tests (DESIGN.md): who may import what, read from the source with `ast`.

Nothing under test is imported here, except by the two start-up checks, which run the real CLI in a
child process. Each rule has a test that feeds its checker a synthetic violation, so a rule that
could never fail would show.

    cli -> api -> pipeline -> stage packages -> catalog / models -> core

LAYERS writes that order down, top to bottom, with the stage packages split where they use one
another (the grid reads receipts through report; report re-checks through verify; verify
re-derives through evaluate and nnunet). A module may import its own package and any package of
a lower layer; never a higher layer, never another package of its own layer. A lazy import (inside
a function) is a dependency too. And the CLI is a thin shell over the api: segbook/cli imports only
cli, api, core and the catalog's vocabulary for option choices and help text (THIN_CLI_ALLOWED).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "segbook"

LAYERS: list[tuple[str, frozenset[str]]] = [  # top to bottom; names are segbook's sub-packages/modules
    ("entry point", frozenset({"__main__"})),
    ("command line", frozenset({"cli"})),
    ("api: one function per command, the only owner of stage order", frozenset({"api"})),
    ("pipeline: the stages of one run", frozenset({"pipeline"})),
    ("grid: many cells, each one `segbook finetune`", frozenset({"grid"})),
    ("stages over other stages' results", frozenset({"report", "doctor", "predict"})),
    ("verify: re-derives a receipt", frozenset({"verify"})),
    ("stages", frozenset({"convert", "nnunet", "evaluate", "weights", "demo"})),
    ("catalog and models", frozenset({"catalog", "models"})),
    ("core", frozenset({"core"})),
    ("the package itself: its version", frozenset({"__init__"})),  # `from segbook import __version__`
]
RANK = {package: rank for rank, (_, packages) in enumerate(LAYERS) for package in packages}

# Imports that break the order today, as (importing module, imported module). Each must still exist
# (test_known_violations_are_still_there): delete the entry in the commit that fixes it.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()  # none left; an entry here must name a real, current import

# What segbook/cli may import from segbook, and why (`from segbook.api import grid` is segbook.api.grid):
THIN_CLI_ALLOWED = (
    "segbook.cli",  # its own options, error handling and commands
    "segbook.api",  # the work: one function per command
    "segbook.core",  # errors, settings, the protocol's vocabulary (seed, schedule, configurations), units
    "segbook.catalog.schema",  # MODALITIES, TARGETS, ACCESS_KINDS: the choices of `datasets list|init`
    "segbook.catalog.sizes",  # the size classes and their limits: `datasets list --size` choices and help
    "segbook.__version__",  # `segbook --version` and the crash log's header
)
THIN_CLI_PENDING: set[str] = set()  # cli modules not yet thin (each must still import more); none left

NNUNET_ONLY = ("nnunetv2", "batchgenerators", "batchgeneratorsv2")  # importable in segbook/nnunet only
TORCH = ("torch", "torchvision")
TORCH_AT_MODULE_LEVEL = frozenset({"models", "nnunet", "demo"})
HEAVY = ("torch", "nnunetv2", "batchgenerators", "batchgeneratorsv2")


# -- reading the source -----------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    """segbook.cli.main -> cli; segbook.api -> api; segbook -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def sources() -> list[tuple[str, str, Path]]:
    return [(module_name(p), p.read_text(encoding="utf-8"), p) for p in sorted(PACKAGE.rglob("*.py"))]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, source: str, *, is_package: bool = False, names: bool = False) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import statement and import_module("...").
    With `names`, a `from M import a, b` gives M.a and M.b instead of M."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return  # annotations only: no import at run time
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if names:
                found.extend((f"{target}.{alias.name}", node.lineno, top) for alias in node.names)
            else:
                found.append((target, node.lineno, top))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno, top))
        nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, top and not nested)

    visit(ast.parse(source), True)
    return found


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


# -- the rules --------------------------------------------------------------------------------
def layer_violations(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, str, int]]:
    """(importer, imported, line) for each import of a higher layer or a sibling of the same layer."""
    own = package_of(module)
    bad = []
    for target, line, _top in imports(module, source, is_package=is_package):
        if not _under(target, ("segbook",)):
            continue
        other = package_of(target)
        if other == own:
            continue
        if own not in RANK or other not in RANK:
            bad.append((module, target, line))  # a package LAYERS does not place: place it
        elif RANK[other] <= RANK[own]:
            bad.append((module, target, line))
    return bad


def nnunet_violations(module: str, source: str) -> list[tuple[str, str, int]]:
    if package_of(module) == "nnunet":
        return []
    return [(module, t, line) for t, line, _ in imports(module, source) if _under(t, NNUNET_ONLY)]


def torch_violations(module: str, source: str) -> list[tuple[str, str, int]]:
    if package_of(module) in TORCH_AT_MODULE_LEVEL:
        return []
    return [(module, t, line) for t, line, top in imports(module, source) if top and _under(t, TORCH)]


def thin_cli_violations(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, str, int]]:
    """(importer, imported, line) for each segbook name a CLI module imports outside THIN_CLI_ALLOWED."""
    return [(module, t, line) for t, line, _ in imports(module, source, is_package=is_package, names=True)
            if package_of(module) == "cli" and _under(t, ("segbook",)) and not _under(t, THIN_CLI_ALLOWED)]


def every(check) -> list[tuple[str, str, int]]:
    found = []
    for module, source, path in sources():
        package = path.name == "__init__.py" and check in (layer_violations, thin_cli_violations)
        kwargs = {"is_package": True} if package else {}
        found += check(module, source, **kwargs)
    return found


def path_of(module: str) -> str:
    folder = REPO / module.replace(".", "/")
    path = folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
    return str(path.relative_to(REPO))


def where(found) -> str:
    return "\n".join(f"{path_of(m)}:{line} imports {t}" for m, t, line in found)


# -- the package obeys them -------------------------------------------------------------------
def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in PACKAGE.glob("*.py")}
    assert packages - set(RANK) == set(), "add the new package to LAYERS"


def test_layers_only_import_downward():
    found = [v for v in every(layer_violations) if (v[0], v[1]) not in KNOWN_VIOLATIONS]
    assert not found, "imports against the layer order (see LAYERS):\n" + where(found)


def test_known_violations_are_still_there():
    present = {(m, t) for m, t, _ in every(layer_violations)}
    fixed = KNOWN_VIOLATIONS - present
    assert not fixed, f"fixed, so delete from KNOWN_VIOLATIONS: {sorted(fixed)}"


def test_cli_is_a_thin_shell_over_the_api():
    found = [v for v in every(thin_cli_violations) if v[0] not in THIN_CLI_PENDING]
    assert not found, "segbook/cli imports only cli, api, core and the catalog's vocabulary:\n" + where(found)


def test_thin_cli_pending_is_still_pending():
    done = THIN_CLI_PENDING - {m for m, _, _ in every(thin_cli_violations)}
    assert not done, f"thin now, so delete from THIN_CLI_PENDING: {sorted(done)}"


def test_nnunetv2_and_batchgenerators_only_in_segbook_nnunet():
    found = every(nnunet_violations)
    assert not found, "only segbook/nnunet may import nnunetv2/batchgenerators:\n" + where(found)


def test_no_module_level_torch_outside_models_nnunet_demo():
    found = every(torch_violations)
    assert not found, "import torch inside the function that needs it:\n" + where(found)


# -- ... and the checkers would notice a violation --------------------------------------------
@pytest.mark.parametrize("module, source", [
    ("segbook.core.hashing", "from segbook.api import finetune"),
    ("segbook.core.hashing", "def f():\n    import segbook.catalog.loader"),  # lazy: still a dependency
    ("segbook.catalog.loader", "from segbook.convert.layouts import discover"),
    ("segbook.evaluate.metrics", "from segbook.nnunet import planning"),  # sibling stage
    ("segbook.report.tables", "from segbook.grid import ledger"),
    ("segbook.pipeline.stages", "import importlib\nimportlib.import_module('segbook.cli.main')"),
    ("segbook.core.fsio", "from ..pipeline import stages"),  # relative
    ("segbook.newthing.x", "from segbook.core import errors"),  # a package LAYERS does not place
])
def test_layer_checker_catches_an_upward_import(module, source):
    assert layer_violations(module, source)


@pytest.mark.parametrize("module, source", [
    ("segbook.cli.main", "from segbook.api import finetune"),
    ("segbook.verify.rederive", "from segbook.evaluate import metrics\nfrom segbook.nnunet import process"),
    ("segbook.core.fsio", "from segbook.core import errors\nfrom segbook import __version__"),
    ("segbook.core.fsio", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from segbook.api import x"),
    ("segbook.catalog", "from .loader import load_catalog"),
])
def test_layer_checker_accepts_downward_imports(module, source):
    assert layer_violations(module, source, is_package=module == "segbook.catalog") == []


@pytest.mark.parametrize("module, source, bad", [
    ("segbook.cli.datasets_cmd", "def f():\n    import segbook.convert.overlap", True),  # lazy: still a dependency
    ("segbook.cli.grid_cmd", "from segbook.grid.status import grid_status", True),
    ("segbook.cli.datasets_cmd", "from segbook.catalog import load_catalog", True),  # not the vocabulary
    ("segbook.cli.main", "from segbook import grid", True),
    ("segbook.cli.weights_cmd", "import importlib\nimportlib.import_module('segbook.weights.registry')", True),
    ("segbook.cli.evaluate_cmd", "from ..evaluate import evaluate_folder", True),  # relative
    ("segbook.cli.main", "from segbook import __version__\nfrom segbook.cli.errors import run_guarded", False),
    ("segbook.cli.grid_cmd", "from segbook.api import grid\nfrom segbook.core.protocol import DEFAULT_SEED", False),
    ("segbook.cli.datasets_cmd", "from segbook.catalog.schema import TARGETS\nfrom ..catalog import sizes", False),
    ("segbook.api.grid", "from segbook.grid import launch", False),  # the rule is the CLI's alone
])
def test_thin_cli_checker_catches_an_import_past_the_api(module, source, bad):
    assert bool(thin_cli_violations(module, source)) is bad


def test_nnunet_checker_catches_nnunetv2_and_batchgenerators_elsewhere():
    assert nnunet_violations("segbook.report.tables", "def f():\n    import nnunetv2.paths")
    assert nnunet_violations("segbook.pipeline.stages", "from batchgeneratorsv2.transforms import X")
    assert nnunet_violations("segbook.api", "import importlib\nimportlib.import_module('nnunetv2')")
    assert nnunet_violations("segbook.nnunet.planning", "import nnunetv2\nimport batchgenerators") == []


def test_torch_checker_catches_module_level_torch_only():
    assert torch_violations("segbook.catalog.loader", "import torch")
    assert torch_violations("segbook.report.plots", "try:\n    from torch import nn\nexcept ImportError:\n    pass")
    assert torch_violations("segbook.weights.checks", "import torchvision.models")
    assert torch_violations("segbook.weights.checks", "def f():\n    import torch") == []
    assert torch_violations("segbook.models.stunet", "import torch") == []
    assert torch_violations("segbook.core.x", "import torchmetrics") == []  # another package


# -- start-up: what the CLI imports -----------------------------------------------------------
PROBE = ("import sys\nfrom segbook.cli.main import main\ncode = main(sys.argv[2:])\n"
         "print('HEAVY', sorted(m for m in sys.argv[1].split(',') if m in sys.modules))\nsys.exit(code)")


def imported_by(argv: list[str], watched: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of `watched` a CLI invocation imports (a fresh child process)."""
    env = {**os.environ, "SEGBOOK_MANIFESTS": str(REPO / "manifests")}
    proc = subprocess.run([sys.executable, "-c", PROBE, ",".join(watched), *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY "))
    return ast.literal_eval(line.removeprefix("HEAVY "))


@pytest.mark.parametrize("argv", [["--help"], ["datasets", "list"], ["datasets", "show", "spleen"]])
def test_help_and_catalog_commands_import_no_torch(argv):
    assert imported_by(argv) == []


def test_the_start_up_probe_sees_an_import():
    assert imported_by(["datasets", "list"], ("yaml", "torch")) == ["yaml"]  # the catalog reads YAML
