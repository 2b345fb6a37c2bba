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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


# `siftool list`'s TYPE of the primary system partition (the root file system Apptainer mounts)
SIF_SYSTEM_PARTITION = "FS (Squashfs/*System"
SIF_TOOLS = {"siftool": "siftool", "squashfuse": "squashfuse", "fusermount": "fuse3"}  # tool -> Debian package


def sif_problem(runner: str, sif: Path) -> str | None:
    """Why the SIF leg cannot run here (None when it can)."""
    if runner != "podman":
        return f"the SIF leg runs the SIF's file system with podman --rootfs, not {runner}"
    missing = [tool for tool in SIF_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed; hint: apt-get install {' '.join(SIF_TOOLS[t] for t in missing)}"
    if not sif.is_file():
        return f"no SIF at {sif}; hint: make sif (or pass --sif FILE)"
    return None


def sif_partition_offset(sif: Path) -> int:
    """Where the SIF's primary system partition starts, as the reference tool (`siftool list`) reads it."""
    listing = subprocess.run(["siftool", "list", str(sif)], capture_output=True, text=True, check=True,
                             timeout=120).stdout
    for line in listing.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 5 and cells[4].startswith(SIF_SYSTEM_PARTITION):
            return int(cells[3].split("-")[0])
    raise ValueError(f"{sif} has no squashfs primary system partition (siftool list:\n{listing})")


@contextmanager
def mounted_sif(sif: Path, mountpoint: Path) -> Iterator[Path]:
    """The SIF's own root file system, read-only, mounted from the file itself (as Apptainer mounts it)."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["squashfuse", "-o", f"offset={sif_partition_offset(sif)}", str(sif), str(mountpoint)],
                   check=True, timeout=300)
    try:
        yield mountpoint
    finally:
        subprocess.run(["fusermount", "-u", str(mountpoint)], check=False, timeout=120)


def sif_run(runner: str, podman_runtime: str, image: str, sif: Path, sif_digest: str, rootfs: Path, out, weights,
            segbook_args: list[str]) -> list[str]:
    """What `apptainer run --containall --cleanenv --no-home --bind ... segbook.sif ARGS` runs: the SIF's file
    system (`rootfs`, mounted from the SIF), its own /.singularity.d/actions/run (the environment scripts,
    then the runscript), the host uid, a read-only root, no home, a private /tmp, explicit binds. `image` (the
    SIF's source) is what Podman's OCI-runtime probe may start."""
    limits = host_limits(runner, image, oci_runtime=podman_runtime or None)
    run = ContainerRun(runner, f"{rootfs}:O",  # --rootfs: the image argument is the root; :O keeps it unwritten
                       (Mount(str(out), OUTPUT, writable=True), Mount(str(weights), WEIGHTS)),
                       env=(("HOME", f"/home/{os.getuid()}-not-mounted"), ("APPTAINER_CONTAINER", str(sif)),
                            ("APPTAINER_NAME", sif.name), ("SEGBOOK_IMAGE", str(sif)),
                            ("SEGBOOK_IMAGE_DIGEST", sif_digest)),
                       user=f"{os.getuid()}:{os.getgid()}", limits=(*limits, "--rootfs"))
    return container_argv(run, ["/.singularity.d/actions/run", *segbook_args])


def image_id(engine: str, image: str) -> str | None:
    """The image's id (sha256:...) as the engine's CLI reports it, None if it has no such image."""
    proc = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", image],
                          capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return "sha256:" + proc.stdout.strip().removeprefix("sha256:")
