"""docs/datasets.md is the generator's output (that every dataset has a fixture: test_every_dataset_prepares)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_the_page_is_in_step_with_the_manifests():
    result = subprocess.run([sys.executable, "scripts/datasets_doc.py", "--check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
