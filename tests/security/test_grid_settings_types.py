"""A grid.tsv whose settings have the wrong type (its sha256 recomputed, so it passes the hash check)
is refused with 65 naming the setting, by every command that reads the grid, never a crash (70)."""

from __future__ import annotations

import hashlib

import pytest

from tests.grid_support import plan_grid
from tests.helpers import run_segbook

pytestmark = pytest.mark.unit


def _rewrite(grid_tsv, setting: str, value: str) -> None:
    head, _, rest = grid_tsv.read_text(encoding="utf-8").partition("\n#sha256 ")
    _, _, body = rest.partition("\n")
    body = "\n".join(f"@{setting}\t{value}" if line.startswith(f"@{setting}\t") else line
                     for line in body.split("\n"))
    grid_tsv.write_text(f"{head}\n#sha256 {hashlib.sha256(body.encode()).hexdigest()}\n{body}", encoding="utf-8")


@pytest.mark.parametrize("setting, value", [("epochs", '"many"'), ("deterministic", "1"), ("seed", "true"),
                                            ("threads", "[2]"), ("checkpoint_minutes", '"5"')])
def test_wrong_typed_settings_are_refused_with_65(tmp_path, setting, value):
    grid, _, env = plan_grid(tmp_path, "Task999_SegBookDemo", "stunet-s_scratch")
    _rewrite(grid / "grid.tsv", setting, value)
    result = run_segbook("grid", "status", str(grid), env=env)
    assert result.returncode == 65, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and f"@{setting}" in lines[0], lines
