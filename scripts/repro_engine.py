"""Container engines for the reproduction check: the CLI that builds, inspects and runs, and its flags.

`--engine docker` does everything with the Docker CLI, through whatever Docker API DOCKER_HOST (or
the current context) names: Docker Engine on a hosted CI runner, or Podman's Docker-compatible API
(`podman system service`) on this project's machines. Behind Podman's API a container also needs
`--ulimit nproc=...` within this sandbox's hard limit, as with `podman run`: without it the
container fails to start ("error setting rlimit type 6") and `docker run` reports only "unable to
upgrade to tcp, received 409" (measured with Podman 4.3; see docs/ci.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from segbook.core.container_run import (
    OUTPUT,
    WEIGHTS,
    ContainerRun,
    Mount,
    container_argv,
    docker_api_is_podman,  # noqa: F401 - repro_check asks it through this module
    docker_server_components,
    host_limits,
)

CONTAINER_UID = "4242:4242"  # any uid: the image must not care who it runs as


def engine_problem(engine: str) -> str | None:
    """Why `engine` cannot build and inspect here (None when it can)."""
    if shutil.which(engine) is None:
        hint = "apt-get install podman runc debootstrap" if engine == "podman" else "install the Docker CLI"
        return f"{engine} is not installed; hint: {hint}"
    if engine == "docker" and docker_server_components() is None:
        return ("the Docker CLI reaches no Docker API (DOCKER_HOST: "
                f"{os.environ.get('DOCKER_HOST', 'unset')}); hint: start Docker, or serve Podman's API: "
                "podman system service --time=0 unix:///run/segbook-podman.sock & "
                "export DOCKER_HOST=unix:///run/segbook-podman.sock")
    return None


def apptainer_like(runner: str, podman_runtime: str, image: str, image_id: str, out, weights,
                   segbook_args: list[str]) -> list[str]:
    """What `apptainer run --containall --cleanenv --no-home --bind ...` gives, emulated with the
    runner through the kit's one container command line: the host uid, a read-only image, only the
    image's environment, no home, private /tmp."""
    limits = host_limits(runner, image, oci_runtime=podman_runtime or None)
    run = ContainerRun(runner, image, (Mount(str(out), OUTPUT, writable=True), Mount(str(weights), WEIGHTS)),
                       env=(("HOME", f"/home/{os.getuid()}-not-mounted"), ("SEGBOOK_IMAGE", image),
                            ("SEGBOOK_IMAGE_DIGEST", image_id)),
                       user=f"{os.getuid()}:{os.getgid()}", limits=limits)
    return container_argv(run, segbook_args)


def image_id(engine: str, image: str) -> str | None:
    """The image's id (sha256:...) as the engine's CLI reports it, None if it has no such image."""
    proc = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", image],
                          capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return "sha256:" + proc.stdout.strip().removeprefix("sha256:")
