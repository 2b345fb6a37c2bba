"""The package stays typed: mypy over the whole of segbook finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TYPED = ("segbook",)  # as `make typecheck`


def test_mypy_is_clean_on_the_whole_package():
    result = subprocess.run([sys.executable, "-m", "mypy", *TYPED], cwd=REPO, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
