"""Helpers shared by the test folders (plain functions; the fixtures are in tests/conftest.py).

tests/helpers/fakes.py builds tiny fake raw downloads in every supported layout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--iterations-per-epoch", "2"]


def run_segbook(*args: str, check: bool = False, timeout: int = 1800, env: dict | None = None,
                cwd=None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as a user would."""
    result = subprocess.run([sys.executable, "-m", "segbook", *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"segbook {' '.join(args)} exited {result.returncode}\n{result.stderr[-3000:]}")
    return result


def assert_two_line_error(result, code: int, *fragments: str) -> None:
    """The documented failure: exit `code`, stderr exactly `error: ...` and `hint: ...`."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def make_value(name: str) -> str:
    """A variable of mk/containers.mk as make computes it."""
    proc = subprocess.run(["make", "-s", "-f", "mk/containers.mk", "--eval", f"print-var:\n\t@echo $({name})",
                           "print-var"], cwd=REPO, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def require_tool(name: str, packages: str) -> str:
    """The tool's path (PATH or .venv/bin); in CI a missing tool fails the test, elsewhere it skips."""
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".venv" / "bin"))
    if found:
        return found
    if in_ci():
        pytest.fail(f"{name} is required in CI ({packages})")
    pytest.skip(f"{name} not installed ({packages})")


def clone_prepared_root(source, target):
    """A new output root holding `source`'s prepared and planned data (not its runs).

    copytree keeps modification times, so the prepare and plan stamps see the same data."""
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("sources", "nnUNet_raw", "nnUNet_preprocessed", "locks"):
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, symlinks=True)
    return target


def process_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie has exited: it only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
