"""A symlink planted at a lock's name (a shared scratch root) must never make the kit write through it."""

from __future__ import annotations

import os

import pytest

from segbook.core.errors import OutputBlocked
from segbook.core.locks import exclusive, held_by, lock_path
from tests.security.builders import DEMO_DATASET, demo_manifest, prepare_args, raw_tree

pytestmark = [pytest.mark.unit, pytest.mark.security]

VICTIM_TEXT = "a colleague's results\n"


def _victim(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    return victim


@pytest.mark.parametrize("mode", ["flock", "file"])
def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path, mode):
    victim = _victim(tmp_path)
    path = lock_path(tmp_path / "out", "run-x")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with pytest.raises(OutputBlocked, match="symbolic link|stale"):  # file mode: planted name is never ours
        with exclusive(path, what="run", wait=False, mode=mode, stale_after_s=1e9):
            pass
    assert victim.read_text() == VICTIM_TEXT


def test_a_dangling_symlink_creates_nothing(tmp_path):
    target = tmp_path / "elsewhere" / "created-by-kit"
    target.parent.mkdir()
    path = lock_path(tmp_path / "out", "run-x")
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(OutputBlocked, match="symbolic link"):
        with exclusive(path, what="run", wait=False):
            pass
    assert not target.exists()


def test_a_symlinked_lock_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".locks").symlink_to(elsewhere)
    with pytest.raises(OutputBlocked, match="symbolic link"):
        with exclusive(lock_path(out, "run-x"), what="run", wait=False):
            pass
    assert os.listdir(elsewhere) == []


def test_status_reads_never_follow_a_planted_link(tmp_path):
    victim = _victim(tmp_path)
    path = lock_path(tmp_path / "out", "run-x")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    assert held_by(path) is None
    assert victim.read_text() == VICTIM_TEXT


def test_prepare_refuses_a_planted_lock_with_73(tmp_path, cli_runner):
    victim = _victim(tmp_path)
    raw = raw_tree(tmp_path / "raw", 4)
    out = tmp_path / "out"
    planted = lock_path(out, f"prepare-{DEMO_DATASET}")
    planted.parent.mkdir(parents=True)
    planted.symlink_to(victim)
    result = cli_runner(*prepare_args(demo_manifest(tmp_path), raw, out))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 73, result.output
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    assert "symbolic link" in lines[0]
    assert victim.read_text() == VICTIM_TEXT
