"""docs/datasets.md is the generator's output, and every download layout it calls fixture-tested has a fixture."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
FIXTURE_TESTS = (REPO / "tests" / "unit" / "test_download_layouts.py",
                 REPO / "tests" / "unit" / "test_convert_layouts.py",
                 REPO / "tests" / "unit" / "test_download_layouts_parts.py")


def test_the_page_is_in_step_with_the_manifests():
    result = subprocess.run([sys.executable, "scripts/datasets_doc.py", "--check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _tasks_named_in(path: Path) -> set[str]:
    """Every string literal that is a catalog task id (the fixture tables and parametrizations)."""
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and node.value.startswith("Task")}


def test_every_download_layout_has_a_fixture():
    named = set().union(*(_tasks_named_in(p) for p in FIXTURE_TESTS))
    missing = []
    for path in sorted((REPO / "manifests" / "datasets").glob("Task*.yaml")):
        manifest = yaml.safe_load(path.read_text())
        kinds = {spec["kind"] for spec in manifest["prepare"]["layouts"]} - {"nnunet"}
        if kinds - {"msd"} and manifest["task_id"] not in named:  # one MSD fixture proves the kind for all ten
            missing.append(manifest["task_id"])
    assert not missing, f"download layouts without a fixture test: {missing}"
