"""The GitHub-workflow checks `make lint-workflows` runs (schema, zizmor), on one file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import REPO

BIN = REPO / ".venv" / "bin"


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed (requirements-dev.lock)"
    return found


def schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=300, check=False)


def zizmor(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(path)], capture_output=True, text=True,
                          timeout=300, check=False)
