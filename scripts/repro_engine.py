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
import resource
import shutil
import subprocess

CONTAINER_UID = "4242:4242"  # any uid: the image must not care who it runs as
NPROC_CAP = 32768  # podman refuses more processes than this for itself


def docker_server_components() -> str | None:
    """The Docker API server's component names (e.g. "Engine" or "Podman Engine"), None if unreachable."""
    if shutil.which("docker") is None:
        return None
    proc = subprocess.run(["docker", "version", "--format", "{{range .Server.Components}}{{.Name}};{{end}}"],
                          capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else None


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


def docker_api_is_podman() -> bool:
    return "Podman" in (docker_server_components() or "")


def limit_flags(runner: str, podman_runtime: str) -> list[str]:
    """The flags run.sh passes: OCI runtime (podman) and this process's hard limits as --ulimit
    (the engines' defaults are higher than a sandbox lets a container raise them to)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    flags = ["--runtime", podman_runtime] if runner == "podman" and podman_runtime else []
    if runner == "podman" or (runner == "docker" and docker_api_is_podman()):
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = NPROC_CAP if nproc == resource.RLIM_INFINITY or nproc > NPROC_CAP else nproc
        flags += ["--ulimit", f"nproc={nproc}:{nproc}"]
    if nofile != resource.RLIM_INFINITY:
        flags += ["--ulimit", f"nofile={nofile}:{nofile}"]
    return flags


def apptainer_like(runner: str, podman_runtime: str, image: str, image_id: str, out, weights,
                   segbook_args: list[str]) -> list[str]:
    """What `apptainer run --containall --cleanenv --no-home --bind ...` gives, emulated with the
    runner: the host uid, a read-only image, only the image's environment, no home, private /tmp."""
    home = f"/home/{os.getuid()}-not-mounted"
    return [runner, "run", "--rm", *limit_flags(runner, podman_runtime), "--network", "none", "--read-only",
            "--tmpfs", "/tmp:rw,exec", "--shm-size", "2g",  # noqa: S108 - the container's private /tmp
            "--user", f"{os.getuid()}:{os.getgid()}",
            "--security-opt", "no-new-privileges", "--cap-drop", "ALL",
            "-e", f"HOME={home}", "-e", f"SEGBOOK_IMAGE={image}", "-e", f"SEGBOOK_IMAGE_DIGEST={image_id}",
            "-v", f"{out}:/output:rw", "-v", f"{weights}:/weights:ro", "--workdir", "/output",
            image, *segbook_args]


def image_id(engine: str, image: str) -> str | None:
    """The image's id (sha256:...) as the engine's CLI reports it, None if it has no such image."""
    proc = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", image],
                          capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return "sha256:" + proc.stdout.strip().removeprefix("sha256:")
