"""A checkpoint write killed half-way (SIGKILL) leaves `.checkpoint_latest.pth.XXXX.tmp`: the next
training run of that fold removes it before it starts (nothing else, and no link's target)."""

from __future__ import annotations

import pytest

from segbook.models.official_format import atomic_torch_save
from segbook.nnunet.resumable import remove_partial_checkpoints

pytestmark = pytest.mark.unit


def test_leftover_checkpoint_temporaries_are_removed(tmp_path):
    fold = tmp_path / "fold_0"
    fold.mkdir()
    atomic_torch_save({"w": 1}, fold / "checkpoint_latest.pth")
    leftover = fold / ".checkpoint_latest.pth.k3j2h1.tmp"
    leftover.write_bytes(b"\0" * 1024)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (fold / ".checkpoint_best.pth.zz.tmp").symlink_to(victim)
    kept = [fold / "checkpoint_latest.pth", fold / "debug.json", fold / ".other.tmp"]
    kept[1].write_text("{}")
    kept[2].write_text("x")
    assert remove_partial_checkpoints(fold) == [leftover]
    assert not leftover.exists() and victim.read_text() == "keep" and all(p.exists() for p in kept)
    assert remove_partial_checkpoints(tmp_path / "missing") == []
