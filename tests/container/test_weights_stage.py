"""The optional with-weights stage: pinned checkpoints are baked in; an unpinned one fails the build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from segbook.core.hashing import sha256_file
from segbook.models.checkpoint import checkpoint_tensor_hash
from segbook.models.official_format import save_official_v1_checkpoint
from segbook.models.stunet import build_stunet

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
STRIDES = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]


def manifests_with_pin(tmp_path: Path, checkpoint: Path, *, pin: bool) -> Path:
    """A copy of the kit's manifests whose STU-Net-S entry is pinned to `checkpoint` (or left unpinned)."""
    folder = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", folder)
    registry = yaml.safe_load((folder / "weights.yaml").read_text())
    small = registry["weights"][0]
    assert small["file"] == "small_ep4k.model"
    small["published_size"] = f"{checkpoint.stat().st_size / 1e6:.0f} MB"
    if pin:
        small.update(sha256=sha256_file(checkpoint), tensor_sha256=checkpoint_tensor_hash(checkpoint),
                     size_bytes=checkpoint.stat().st_size, pinned_by="test", pinned_at="2026-01-01T00:00:00+00:00")
    (folder / "weights.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    return folder


def build(tmp_path: Path, manifests: Path, weights: Path, tag: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-f", "mk/containers.mk", "image-weights", f"WEIGHTS_DIR={weights}",
                           f"MANIFESTS_DIR={manifests}", f"WEIGHTS_IMAGE={tag}",
                           f"CONTEXT={tmp_path / 'context'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=3600, check=False)


@pytest.fixture()
def checkpoint(tmp_path) -> Path:
    torch.manual_seed(7)
    weights = tmp_path / "weights"
    model = build_stunet("S", 1, 105, STRIDES)
    return save_official_v1_checkpoint(model.state_dict(), weights / "small_ep4k.model", epoch=4000)


def test_pinned_weights_are_baked_and_verified(image, podman_run, tmp_path, checkpoint):
    tag = "localhost/segbook-test:weights"
    proc = build(tmp_path, manifests_with_pin(tmp_path, checkpoint, pin=True), checkpoint.parent, tag)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "verified  STU-Net-S  /opt/segbook/weights/small_ep4k.model" in proc.stdout
        label = subprocess.run(["podman", "image", "inspect", "--format",
                                '{{ index .Config.Labels "org.segbook.weights" }}', tag],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert label == "small_ep4k.model"
        run = subprocess.run([*podman_run, "--user", "4242:4242", tag, "weights", "verify", "--quick"],
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        assert "verified" in run.stdout
    finally:
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True, check=False)


def test_unpinned_weights_fail_the_build(image, tmp_path, checkpoint):
    tag = "localhost/segbook-test:unpinned"
    proc = build(tmp_path, manifests_with_pin(tmp_path, checkpoint, pin=False), checkpoint.parent, tag)
    subprocess.run(["podman", "rmi", "-f", tag], capture_output=True, check=False)
    assert proc.returncode != 0
    assert "is not pinned" in proc.stdout + proc.stderr
