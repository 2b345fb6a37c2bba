"""run.sh's own checks, run for real: one-line errors, hints and the documented exit codes.

Runs that reach a container are in tests/container/test_image.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import require_tool

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "run.sh"
# what run.sh needs from the host, without any container runtime
BASIC_TOOLS = ("bash", "env", "dirname", "sed", "id", "stat", "mkdir", "find", "cat", "cut", "sha256sum",
               "grep", "printf")


def run(args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUN_SH), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def assert_error(proc, code: int, text: str):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), lines
    assert text in lines[0]


def tools_only_path(tmp_path: Path) -> dict:
    """An environment whose PATH has the basic tools and no docker/podman/apptainer."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in BASIC_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bindir / tool).symlink_to(found)
    return {"PATH": str(bindir), "HOME": str(tmp_path)}


def test_help_documents_the_exit_codes(tmp_path):
    proc = run(["--help"], tmp_path)
    assert proc.returncode == 0
    for fragment in ("66 input missing", "73 output not writable", "78 no runtime", "--gpu", "/input", "/weights"):
        assert fragment in proc.stdout


@pytest.mark.parametrize("args, text", [
    (["--frobnicate"], "unknown option --frobnicate"),
    (["--runtime", "lxc"], "unknown runtime 'lxc'"),
    (["--user", "alice"], "--user must be UID:GID"),
    (["--image"], "--image needs a value"),
])
def test_usage_errors_exit_2(tmp_path, args, text):
    assert_error(run(args, tmp_path), 2, text)


def test_missing_input_folder_exits_66(tmp_path):
    assert_error(run(["--input", str(tmp_path / "nope"), "--", "doctor"], tmp_path), 66,
                 "input folder")


def test_missing_model_exits_66(tmp_path):
    assert_error(run(["--model", str(tmp_path / "nope.zip"), "--", "predict", "/model/nope.zip", "/input", "/output/p"],
                     tmp_path), 66, "model")


def test_output_not_writable_by_the_mapped_uid_exits_73(tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)
    # uid 4242 neither owns the folder nor may write to it through group or others
    assert_error(run(["--user", "4242:4242", "--output", str(out), "--", "doctor"], tmp_path), 73,
                 "not writable by uid 4242")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_error(run(["--output", str(blocker / "out"), "--", "doctor"], tmp_path), 73,
                 "cannot create output folder")


def test_empty_weights_folder_for_a_pretrained_run_exits_66(tmp_path):
    empty = tmp_path / "weights"
    empty.mkdir()
    assert_error(run(["--weights", str(empty), "--", "finetune", "Demo", "--model", "stunet-s"], tmp_path),
                 66, "is empty, and this pre-trained run needs a checkpoint")
    assert_error(run(["--weights", str(tmp_path / "none"), "--", "doctor"], tmp_path), 66,
                 "weights folder")


def test_no_container_runtime_exits_78(tmp_path):
    env = tools_only_path(tmp_path)
    proc = run(["--", "finetune", "Demo", "--init", "scratch"], tmp_path, env=env)
    assert_error(proc, 78, "no container runtime found")
    assert "apt-get install podman" in proc.stderr
    for runtime in ("docker", "podman", "apptainer"):
        assert run(["--runtime", runtime, "--", "doctor"], tmp_path, env=env).returncode == 78


def test_unusable_docker_exits_78(tmp_path):
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True, check=False).returncode == 0:
        pytest.skip("a working docker daemon is here; the failure path cannot be shown")
    assert_error(run(["--runtime", "docker", "--", "doctor"], tmp_path), 78, "docker is not usable here")


def test_gpu_asked_but_absent_exits_78(tmp_path):
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi, "-L"], capture_output=True, check=False).returncode == 0:
        pytest.skip("this host has an NVIDIA GPU")
    podman_or_tools = {} if shutil.which("podman") else tools_only_path(tmp_path)
    proc = run(["--runtime", "podman", "--gpu", "--", "doctor"], tmp_path, env=podman_or_tools or None)
    if not podman_or_tools:
        assert_error(proc, 78, "--gpu asked for")
    else:
        assert proc.returncode == 78


def test_missing_image_exits_78(tmp_path):
    require_tool("podman", "Debian packages podman, runc")  # fails in CI, skips elsewhere
    proc = run(["--runtime", "podman", "--image", "localhost/segbook-does-not-exist:0", "--", "doctor"],
               tmp_path)
    assert_error(proc, 78, "image 'localhost/segbook-does-not-exist:0' not found by podman")
    assert "make image" in proc.stderr


def test_make_sif_without_apptainer_or_its_tools_says_what_to_install(tmp_path):
    """No Apptainer: make sif builds with squashfs-tools + siftool; without those either, 78 and the packages."""
    if shutil.which("apptainer"):
        pytest.skip("apptainer is installed here")
    env = tools_only_path(tmp_path)
    for tool in ("make", "sh", "git", "rm", "mkdir"):
        if shutil.which(tool) and not (tmp_path / "bin" / tool).exists():
            (tmp_path / "bin" / tool).symlink_to(shutil.which(tool))
    proc = subprocess.run(["make", "-s", "-f", "mk/containers.mk", "sif", f"SIF={tmp_path / 'out' / 'x.sif'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode != 0 and not (tmp_path / "out" / "x.sif").exists()
    assert "apptainer is not installed: building" in proc.stdout
    assert "error: mksquashfs, siftool not installed" in proc.stderr
    assert "hint: apt-get install siftool squashfs-tools" in proc.stderr


