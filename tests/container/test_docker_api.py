"""The Docker path, for real, as far as it goes here: the Docker CLI (and the Docker SDK) against the
Docker-compatible API of `podman system service` -- build, images, inspect, `docker run` through
run.sh, and the whole reproduction check with `--engine docker`. What only a hosted runner with
Docker Engine proves (BuildKit, the cold build of the full image with Docker) is in docs/ci.md.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segbook.core.container_run import HARDENING
from tests.container.conftest import REPO, make_value, podman_limits, require_tool

pytestmark = pytest.mark.container

RUN_SH = str(REPO / "run.sh")


@pytest.fixture(scope="module")
def docker_api(podman, tmp_path_factory):
    """A Docker API served by Podman on a private socket; the environment that points the CLI at it."""
    require_tool("docker", "the Docker CLI (docker-ce-cli or docker.io)")
    socket = tmp_path_factory.mktemp("docker-api") / "podman.sock"
    service = subprocess.Popen([podman, "system", "service", "--time=0", f"unix://{socket}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket}")
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(["docker", "version", "--format", "{{range .Server.Components}}{{.Name}};{{end}}"],
                                   env=env, capture_output=True, text=True, check=False)
            if probe.returncode == 0:
                break
            assert service.poll() is None and time.monotonic() < deadline, probe.stderr
            time.sleep(0.5)
        assert "Podman Engine" in probe.stdout
        yield env
    finally:
        service.terminate()  # the service this fixture started, by its own handle
        service.wait(timeout=30)


def docker(env, *args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_images_and_inspect_through_the_api(docker_api, image):
    podman_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                               text=True, check=True).stdout.strip()
    listed = docker(docker_api, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert listed.returncode == 0 and f"{image} sha256:{podman_id}" in listed.stdout, listed.stdout
    labels = json.loads(docker(docker_api, "image", "inspect", "--format", "{{json .Config.Labels}}", image).stdout)
    assert labels["org.opencontainers.image.version"] == make_value("VERSION")
    import docker as docker_sdk  # the SDK the grid uses to read image labels  # noqa: PLC0415 - the SDK only in this test

    client = docker_sdk.DockerClient(base_url=docker_api["DOCKER_HOST"])
    try:
        assert client.images.get(image).labels["org.segbook.lock.sha256"] == labels["org.segbook.lock.sha256"]
    finally:
        client.close()


def test_make_image_builds_with_the_docker_cli(docker_api, image):
    """`make image ENGINE=docker` through the API: the first stage of the real Dockerfile (the whole
    image would be a second cold build: this API does not reuse Podman's COPY layers; docs/ci.md)."""
    tag = "localhost/segbook-docker-api-test:os"
    proc = subprocess.run(["make", "-f", "mk/containers.mk", "image", "ENGINE=docker", "TARGET=os", f"IMAGE={tag}"],
                          cwd=REPO, env=docker_api, capture_output=True, text=True, timeout=1800, check=False)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "docker build --network host" in proc.stdout and "--target os" in proc.stdout
        assert "-v " not in proc.stdout.split("docker build", 1)[1].splitlines()[0]  # no podman-only mounts
        # behind Podman's API the container needs the sandbox's limits, as with podman run (docs/ci.md)
        python = docker(docker_api, "run", "--rm", *podman_limits(), "--entrypoint", "python3", tag, "--version")
        assert python.returncode == 0 and python.stdout.startswith("Python 3.11"), python.stderr
    finally:
        docker(docker_api, "rmi", tag)


def test_run_sh_runs_the_image_with_docker_and_prints_host_paths(docker_api, image, tmp_path):
    out = tmp_path / "out"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    proc = subprocess.run([RUN_SH, "--runtime", "docker", "--image", image, "--user", "4242:4242", "--output",
                           str(out), "--", "report", "--paper"], env=docker_api, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    command = shlex.split(proc.stderr.splitlines()[0].removeprefix("+ "))
    assert command[:3] == ["docker", "run", "--rm"] and all(flag in command for flag in HARDENING)
    assert any(word.startswith("nproc=") for word in command)  # behind Podman's API: its nproc limit too
    assert f"wrote {out}/paper-report/report.html" in proc.stdout  # /output mapped back to the host folder
    assert "/output" not in proc.stdout
    assert f"  report   {out}/paper-report/report.html" in proc.stderr
    assert (out / "paper-report" / "report.html").is_file()


def test_repro_check_with_the_docker_engine(docker_api, image, tmp_path):
    work = tmp_path / "repro"
    proc = subprocess.run([sys.executable, "scripts/repro_check.py", "--engine", "docker", "--skip-build", "--keep",
                           "--image", image, "--work", str(work)], cwd=REPO, env=docker_api, capture_output=True,
                          text=True, timeout=3600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "the Docker API here is Podman's" in proc.stderr
    assert "hashes agree across native, docker, apptainer-like" in proc.stderr
    summary = json.loads((work / "summary.json").read_text())
    assert summary["verdict"] == "all hashes agree" and summary["engine"] == summary["runner"] == "docker"
    assert all(row["agree"] for row in summary["hashes"]) and len(summary["hashes"]) >= 7
    docker_receipt = json.loads(Path(summary["receipts"]["docker"]).read_text())
    assert docker_receipt["runtime"]["kind"] == "docker" and docker_receipt["runtime"]["image_digest"] == \
        summary["image_id"]
    assert "| final_weights |" in (work / "summary.md").read_text()
    assert (work / "report" / "report.html").is_file()
