"""Real nnU-Net on the CPU: one demo run shared by the tests of this folder (tiny schedule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY, run_segbook


@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """An output root where the tiny demo ran once (pre-train, fine-tune and scratch)."""
    out = tmp_path_factory.mktemp("demo")
    run_segbook("demo", "--out", str(out), "--pretrain-steps", "2", *TINY, check=True)
    return out


@pytest.fixture(scope="session")
def demo_runs(demo_out) -> dict[str, Path]:
    runs = demo_out / "runs" / "Task999_SegBookDemo"
    return {"ft": runs / "stunet-s_ft", "scratch": runs / "stunet-s_scratch"}
