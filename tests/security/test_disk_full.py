"""A write that fails half-way is 73, names the file, and leaves nothing half-written.

SimpleITK does not raise when a write fails (it prints to stderr and leaves a short file), so the
kit checks what it wrote. Two ways to make writes fail for real, without LD_PRELOAD or mocks:
- RLIMIT_FSIZE in the child (works everywhere): a file may not grow past the limit, the write
  fails with EFBIG (SIGXFSZ is ignored, as a batch system's file-size limit would be handled);
- a 256 KiB tmpfs mounted in a private mount namespace (`unshare -m`, needs root or user
  namespaces): a real ENOSPC. Skipped where it cannot be mounted.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from tests.security.builders import DEMO_DATASET, assert_two_lines, demo_manifest, prepare_args, raw_tree

pytestmark = [pytest.mark.unit, pytest.mark.security]

BIG_CASE = (24, 64, 64)  # int16 noise: each converted image is ~150 kB compressed


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _assert_nothing_left(out, manifest):
    raw_root = out / "nnUNet_raw"
    leftovers = [p.name for p in raw_root.iterdir()] if raw_root.is_dir() else []
    assert leftovers == [], leftovers
    assert not (manifest.parents[1] / "locks" / "Task999_SegBookDemo.lock").exists()


def test_file_size_limit_during_prepare_is_73(tmp_path):
    raw = raw_tree(tmp_path / "raw", 8, BIG_CASE)
    manifest, out = demo_manifest(tmp_path), tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "segbook", *prepare_args(manifest, raw, out)],
                            capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(64 * 1024))
    assert_two_lines(result, 73, ".nii.gz")
    _assert_nothing_left(out, manifest)


def _can_mount_tmpfs(where) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(where)],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def test_a_full_disk_during_prepare_is_73(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    if not _can_mount_tmpfs(out):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (needs root or user namespaces)")
    raw = raw_tree(tmp_path / "raw", 8, BIG_CASE)
    manifest = demo_manifest(tmp_path)
    script = 'mount -t tmpfs -o size=256k tmpfs "$1" && shift && exec "$@"'
    result = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(out), sys.executable, "-m", "segbook",
                             *prepare_args(manifest, raw, out)], capture_output=True, text=True, timeout=300,
                            env={**os.environ})
    assert_two_lines(result, 73)
    assert not (manifest.parents[1] / "locks" / "Task999_SegBookDemo.lock").exists()
    assert not (out / "nnUNet_raw" / DEMO_DATASET).exists()  # the tmpfs is gone; the real folder stayed empty
