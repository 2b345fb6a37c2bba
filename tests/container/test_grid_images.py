"""`segbook grid submit --runtime podman`: an image's labels read through the Docker SDK, for real.

`podman system service` serves the Docker API on a private socket (started and stopped here); two
tiny images (FROM scratch, labels only: nothing is ever run) carry this checkout's labels and
another kit version's.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import time

import pytest

from segbook import __version__
from tests.container.conftest import REPO
from tests.helpers import run_segbook

pytestmark = pytest.mark.container

LOCK_SHA = hashlib.sha256((REPO / "containers" / "requirements.lock").read_bytes()).hexdigest()
IMAGES = {"ours": ("localhost/segbook-grid-labeltest:ours", __version__, LOCK_SHA),
          "other": ("localhost/segbook-grid-labeltest:other", "0.0.9", LOCK_SHA)}


@pytest.fixture(scope="module")
def docker_host(podman, tmp_path_factory):
    """unix://SOCKET of a Docker API served by Podman, with the two label-only images built."""
    work = tmp_path_factory.mktemp("grid-images")
    for name, (tag, version, lock) in IMAGES.items():
        context = work / name
        context.mkdir()
        (context / "Containerfile").write_text(f"FROM scratch\nLABEL org.opencontainers.image.version={version} "
                                               f"org.segbook.lock.sha256={lock}\n")
        subprocess.run([podman, "build", "--runtime", "runc", "-q", "-t", tag, str(context)], check=True,
                       capture_output=True, text=True, timeout=300)
    socket = work / "podman.sock"
    service = subprocess.Popen([podman, "system", "service", "--time=0", f"unix://{socket}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not socket.exists():
            assert service.poll() is None and time.monotonic() < deadline, "podman system service did not start"
            time.sleep(0.2)
        yield f"unix://{socket}"
    finally:
        service.terminate()  # the service this fixture started, by its own handle
        service.wait(timeout=30)
        subprocess.run([podman, "rmi", "--force", *(tag for tag, _, _ in IMAGES.values())], capture_output=True,
                       check=False)


@pytest.fixture()
def grid(tmp_path):
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--grid", str(tmp_path / "grid"),
                "--out", str(tmp_path / "out"), "--device", "cpu", check=True)
    return tmp_path / "grid"


def _submit(grid, docker_host, image, *extra):
    return run_segbook("grid", "submit", str(grid), "--runtime", "podman", "--image", image, "--docker-host",
                       docker_host, "--dry-run", *extra)


def test_the_kits_image_passes_and_its_command_runs_podman(grid, docker_host):
    result = _submit(grid, docker_host, IMAGES["ours"][0])
    assert result.returncode == 0, result.stderr
    command = shlex.split(next(line for line in result.stdout.splitlines() if line.startswith("  task 0 ")).split(
        "): ", 1)[1])
    assert command[:3] == ["podman", "run", "--rm"] and IMAGES["ours"][0] in command
    digest = next(a for a in command if a.startswith("SEGBOOK_IMAGE_DIGEST="))
    assert digest.startswith("SEGBOOK_IMAGE_DIGEST=sha256:") and len(digest) > len("SEGBOOK_IMAGE_DIGEST=sha256:") + 60
    assert "SEGBOOK_IMAGE_MISMATCH" not in result.stdout


def test_another_kits_image_is_refused_unless_allowed_and_then_recorded(grid, docker_host):
    refused = _submit(grid, docker_host, IMAGES["other"][0])
    assert refused.returncode == 65, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], refused.stderr
    assert f"org.opencontainers.image.version is '0.0.9', this checkout has '{__version__}'" in lines[0]
    assert "--allow-image-mismatch" in lines[1]
    allowed = _submit(grid, docker_host, IMAGES["other"][0], "--allow-image-mismatch")
    assert allowed.returncode == 0, allowed.stderr
    assert "export SEGBOOK_IMAGE_MISMATCH=1" in allowed.stdout  # in the job script
    assert "-e SEGBOOK_IMAGE_MISMATCH=1" in allowed.stdout  # and into the container, for the receipt


def test_a_missing_image_or_api_is_an_environment_problem(grid, docker_host, tmp_path):
    missing = run_segbook("grid", "submit", str(grid), "--runtime", "podman", "--image",
                          "localhost/segbook-grid-labeltest:absent", "--docker-host", docker_host)
    assert missing.returncode == 78 and "not found" in missing.stderr, missing.stderr
    no_api = run_segbook("grid", "submit", str(grid), "--runtime", "podman", "--image", IMAGES["ours"][0],
                         "--docker-host", f"unix://{tmp_path / 'nothing.sock'}")
    assert no_api.returncode == 78 and "podman system service" in no_api.stderr, no_api.stderr
    assert not (grid / "slurm").exists()
