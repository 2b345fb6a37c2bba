"""The real image, run with Podman the way users run it: labels, hardening, mounts, exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

import segbook
from tests.container.conftest import run_sh

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]


def inspect(image: str) -> dict:
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def test_labels_user_entrypoint_and_no_build_settings_baked_in(image):
    data = inspect(image)
    config = data["Config"]
    labels = config["Labels"]
    lock = hashlib.sha256((REPO / "containers" / "requirements.lock").read_bytes()).hexdigest()
    assert labels["org.opencontainers.image.version"] == segbook.__version__
    assert labels["org.segbook.lock.sha256"] == lock
    assert len(labels["org.opencontainers.image.revision"]) >= 40
    assert labels["org.segbook.weights"] == "none"
    assert config["User"] == "10001:0"
    assert config["Entrypoint"] == ["/opt/venv/bin/segbook"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert not [key for key in env if key.startswith("PIP_")]
    for key in ("HOME", "XDG_CACHE_HOME", "MPLCONFIGDIR", "TORCH_HOME"):
        assert env[key].startswith(("/tmp", "/output")), (key, env[key])
    assert env["SEGBOOK_MANIFESTS"] == "/opt/segbook/manifests"
    assert env["SEGBOOK_RUNTIME"] == "container"  # run.sh overrides it with the engine it used
    history = subprocess.run(["podman", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image],
                             capture_output=True, text=True, check=True).stdout
    assert "PIP_CERT" not in history and "find-links" not in history  # build settings stayed in the deps stage


def test_hardened_run_as_any_uid_passes_doctor_without_network(image, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    os.chmod(out, 0o777)
    proc = run_sh(image, "--user", "4242:4242", "--output", str(out), "--", "doctor", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    command = proc.stderr.splitlines()[0]
    for flag in ("--network none", "--read-only", "--tmpfs", "--user 4242:4242", "--runtime runc",
                 f"{out}:/output:rw"):
        assert flag in command, flag
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["container"]["detail"].startswith(f"podman: {image} sha256:")
    assert rows["network"]["detail"].startswith("default route: no")  # --network none: loopback only
    assert rows["output"]["status"] == "ok" and rows["tmp"]["status"] == "ok"
    assert rows["nnunetv2"]["detail"] == "2.8.1"
    assert "HOME=/tmp" in rows["caches"]["detail"]


def test_container_exit_codes_come_back_through_run_sh(image, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "readme.txt").write_text("no checkpoints here")
    proc = run_sh(image, "--output", str(tmp_path / "out"), "--weights", str(weights), "--",
                  "weights", "verify", "--dir", "/weights")
    assert proc.returncode == 66, proc.stderr
    assert "error: no registered checkpoints in /weights" in proc.stderr
    # a pre-trained run with nothing mounted and nothing baked in is stopped before the container starts
    proc = run_sh(image, "--output", str(tmp_path / "out"), "--", "finetune", "Demo", "--model", "stunet-s")
    assert proc.returncode == 66 and "none are mounted and the image has none baked in" in proc.stderr


def test_image_is_read_only_and_mounts_are_read_only(image, podman_run, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(tmp_path, 0o777)  # /output is written by uid 4242
    script = ("import pathlib\n"
              "for p in ('/opt/segbook/x', '/input/x', '/x'):\n"
              "    try:\n        pathlib.Path(p).write_text('x'); print('WROTE', p)\n"
              "    except OSError as e:\n        print('refused', p, e.errno)\n"
              "pathlib.Path('/output/ok').write_text('x'); pathlib.Path('/tmp/ok').write_text('x')\n")
    proc = subprocess.run([*podman_run, "--user", "4242:4242", "-v", f"{data}:/input:ro",
                           "-v", f"{tmp_path}:/output", "--entrypoint", "/opt/venv/bin/python", image,
                           "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WROTE" not in proc.stdout and proc.stdout.count("refused") == 3
    assert (tmp_path / "ok").read_text() == "x"
