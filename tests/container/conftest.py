"""Shared fixtures for the container tests: a real Podman and the real image, built once per session.

In CI (CI=true) a missing podman is a failure, not a skip: these tests are the proof that the image
builds and runs.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from tests.helpers import require_tool

REPO = Path(__file__).resolve().parents[2]


def make_value(name: str) -> str:
    """A variable of mk/containers.mk as make computes it."""
    proc = subprocess.run(["make", "-s", "-f", "mk/containers.mk", "--eval", f"print-var:\n\t@echo $({name})",
                           "print-var"], cwd=REPO, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def podman() -> str:
    require_tool("runc", "Debian package runc")
    return require_tool("podman", "Debian packages podman, runc, debootstrap")


@pytest.fixture(scope="session")
def image(podman) -> str:
    """The kit image, built (or found up to date in the layer cache) with `make image`."""
    proc = subprocess.run(["make", "-f", "mk/containers.mk", "image"], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return make_value("IMAGE")


def podman_limits() -> list[str]:
    """The --ulimit flags run.sh passes: this process's hard limits (the engines' defaults are higher
    than a sandbox lets a container raise them to)."""

    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if nproc == resource.RLIM_INFINITY or nproc > 32768 else nproc
    flags = ["--ulimit", f"nproc={nproc}:{nproc}"]
    if nofile != resource.RLIM_INFINITY:
        flags += ["--ulimit", f"nofile={nofile}:{nofile}"]
    return flags


@pytest.fixture(scope="session")
def podman_run(podman) -> list[str]:
    """`podman run` with the hardening the kit documents, minus the mounts and the uid."""
    return [podman, "run", "--rm", "--runtime", "runc", *podman_limits(), "--network", "none", "--read-only",
            "--tmpfs", "/tmp"]
