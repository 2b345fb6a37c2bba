"""Shared helpers for the container tests. The `podman` and `image` fixtures (a real Podman and the
real image, built once per session) live in tests/conftest.py: the Slurm tests run the image too.

In CI (CI=true) a missing podman is a failure, not a skip: these tests are the proof that the image
builds and runs.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from segbook.core.container_run import limit_flags
from tests.helpers import REPO, make_value, require_tool  # noqa: F401 - re-exported for the tests here

RUN_SH_ENV = dict(os.environ, SEGBOOK_PODMAN_RUNTIME="runc")


def run_sh(image: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """`run.sh --runtime podman --image IMAGE ARGS...`, as a user types it, with runc."""
    return subprocess.run([str(REPO / "run.sh"), "--runtime", "podman", "--image", image, *args], cwd=REPO,
                          env=RUN_SH_ENV, capture_output=True, text=True, timeout=timeout, check=False)


def podman_limits() -> list[str]:
    """The --ulimit flags run.sh and the grid pass (the kit's one builder): this process's hard limits."""
    return list(limit_flags("podman"))


@pytest.fixture(scope="session")
def podman_run(podman) -> list[str]:
    """`podman run` with the hardening the kit documents, minus the mounts and the uid."""
    return [podman, "run", "--rm", "--runtime", "runc", *podman_limits(), "--network", "none", "--read-only",
            "--tmpfs", "/tmp"]
