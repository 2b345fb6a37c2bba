"""Helpers shared by the test folders (not fixtures: plain functions)."""

from __future__ import annotations

import os
import subprocess
import sys

TINY = ["--epochs", "1", "--iterations-per-epoch", "2"]


def run_segbook(*args: str, check: bool = False, timeout: int = 1800, env: dict | None = None,
                cwd=None) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as a user would."""
    result = subprocess.run([sys.executable, "-m", "segbook", *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"segbook {' '.join(args)} exited {result.returncode}\n{result.stderr[-3000:]}")
    return result


def clone_prepared_root(source, target):
    """A new output root holding `source`'s prepared and planned data (not its runs).

    copytree keeps modification times, so the prepare and plan stamps see the same data."""
    import shutil
    from pathlib import Path

    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in ("sources", "nnUNet_raw", "nnUNet_preprocessed", "locks"):
        if (source / name).is_dir():
            shutil.copytree(source / name, target / name, symlinks=True)
    return target
