"""What every test gets: a clean environment, markers from its folder, a CLI runner, small factories.

Environment isolation: a developer's SEGBOOK_* or nnUNet_* variables never reach a test (nor the
children it starts). They are removed when pytest starts (before collection, so module-level
code and session fixtures do not see them either) and again around every test (so one test that
sets one by hand cannot leak it into the next). Tests that need a variable set it with
`monkeypatch.setenv`. The variables in HARNESS_VARIABLES configure the test harness, not the kit
(CI points SEGBOOK_CHROMIUM at its browser), and are kept.
HOME and the XDG folders are left alone on purpose: rootless Podman keeps its images under them
(the container tests would rebuild every image), and the kit itself never writes there (its
nnU-Net children get every cache under the output root: segbook.nnunet.environment).

Markers follow folders: every test under tests/<folder>/ gets that folder's marker
(FOLDER_MARKERS), and a test that carries another folder's marker is an error, so
`pytest -m unit` is exactly tests/unit + tests/security and `make test-integration` exactly
tests/integration.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO, TINY, make_value, require_tool, run_segbook

TESTS = Path(__file__).resolve().parent
ISOLATED_PREFIXES = ("SEGBOOK_", "nnUNet_")
HARNESS_VARIABLES = frozenset({"SEGBOOK_CHROMIUM"})
# folder under tests/ -> the markers its tests carry (security findings are fast: also unit)
FOLDER_MARKERS = {
    "unit": ("unit",),
    "security": ("unit", "security"),
    "integration": ("integration",),
    "container": ("container",),
    "slurm": ("slurm",),
    "browser": ("browser",),
}
# markers that say where a test runs: a test may carry only its own folder's
PLACEMENT_MARKERS = frozenset({"unit", "integration", "container", "slurm", "browser"})

_session_patch = pytest.MonkeyPatch()


def leaked_variables(environ=None) -> list[str]:
    """The variables of `environ` (default os.environ) that tests must not see."""
    environ = os.environ if environ is None else environ
    return sorted(name for name in environ if name.startswith(ISOLATED_PREFIXES) and name not in HARNESS_VARIABLES)


def _scrub(patch: pytest.MonkeyPatch) -> None:
    for name in leaked_variables():
        patch.delenv(name, raising=False)


def pytest_configure(config):
    _scrub(_session_patch)


def pytest_unconfigure(config):
    _session_patch.undo()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch):
    """No SEGBOOK_*/nnUNet_* variable from outside the test (monkeypatch restores the rest after)."""
    _scrub(monkeypatch)


def folder_of(path: Path) -> str | None:
    try:
        return Path(path).resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None


def foreign_markers(folder: str, markers: set[str]) -> set[str]:
    """The placement markers a test in tests/<folder>/ carries that belong to another folder."""
    return (markers & PLACEMENT_MARKERS) - set(FOLDER_MARKERS.get(folder, PLACEMENT_MARKERS))


def pytest_collection_modifyitems(config, items):
    misplaced = []
    for item in items:
        folder = folder_of(item.path)
        wanted = FOLDER_MARKERS.get(folder)
        if wanted is None:
            continue
        foreign = foreign_markers(folder, {mark.name for mark in item.iter_markers()})
        if foreign:
            misplaced.append(f"{item.nodeid}: marked {', '.join(sorted(foreign))} but lives in tests/{folder}/")
        for name in wanted:
            if name not in {mark.name for mark in item.iter_markers()}:
                item.add_marker(getattr(pytest.mark, name))
    if misplaced:
        raise pytest.UsageError("tests whose markers disagree with their folder (move them):\n  "
                                + "\n  ".join(misplaced))


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture()
def cli_runner():
    """run(*args, env=None, input=None) -> click's Result of `segbook ARGS`, in this process.

    It goes through segbook.cli.errors.run_guarded as the real entry point does: exceptions become
    the documented exit code and the two-line `error:`/`hint:` message (result.stderr).
    """
    import signal  # noqa: PLC0415 - only the tests that ask for a runner pay for click's testing module

    import click  # noqa: PLC0415
    from click.testing import CliRunner  # noqa: PLC0415

    from segbook.cli.errors import run_guarded  # noqa: PLC0415
    from segbook.cli.main import cli  # noqa: PLC0415

    @click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def entry(argv):
        previous = signal.getsignal(signal.SIGTERM)  # run_guarded turns SIGTERM into exit 75
        try:
            code = run_guarded(cli, list(argv))
        finally:
            signal.signal(signal.SIGTERM, previous)
        raise SystemExit(code)

    runner = CliRunner()

    def run(*args, env: dict | None = None, input: str | None = None):
        return runner.invoke(entry, [str(a) for a in args], env=env, input=input, catch_exceptions=False)

    return run


@pytest.fixture()
def manifests_copy(tmp_path):
    """make(*task_ids) -> a private manifests folder holding copies of those catalog manifests."""
    from tests.helpers.fakes import catalog_copy  # noqa: PLC0415 - SimpleITK/numpy only when used

    def make(*task_ids: str) -> Path:
        return catalog_copy(tmp_path, *task_ids)

    return make


@pytest.fixture()
def nnunet_download(tmp_path):
    """make(n=8, **options) -> a fake raw download in nnU-Net layout (tests/helpers/fakes.py)."""
    from tests.helpers.fakes import nnunet_tree  # noqa: PLC0415

    counter = iter(range(1_000_000))

    def make(n: int = 8, **options) -> Path:
        return nnunet_tree(tmp_path / f"raw{next(counter)}", n, **options)

    return make


# ---- the kit's image, for tests/container and the Slurm test that runs a grid cell in it ------------

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


@pytest.fixture(scope="session")
def sif(image, tmp_path_factory) -> Path:
    """The SIF of that image, built once with `make sif` (squashfs-tools + siftool where Apptainer is missing)."""
    for tool, package in (("mksquashfs", "squashfs-tools"), ("siftool", "siftool"), ("squashfuse", "squashfuse")):
        require_tool(tool, f"Debian package {package}")
    path = tmp_path_factory.mktemp("sif") / "segbook.sif"
    proc = subprocess.run(["make", "-f", "mk/containers.mk", "sif", f"IMAGE={image}", f"SIF={path}"], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=3600)
    assert proc.returncode == 0 and path.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return path


# ---- one tiny demo run (pre-train, fine-tune, scratch), shared by the integration and container tests --

@pytest.fixture(scope="session")
def demo_out(tmp_path_factory) -> Path:
    """An output root where the tiny demo ran once (pre-train, fine-tune and scratch)."""
    out = tmp_path_factory.mktemp("demo")
    run_segbook("demo", "--out", str(out), "--pretrain-steps", "2", *TINY, check=True)
    return out


@pytest.fixture(scope="session")
def demo_runs(demo_out) -> dict[str, Path]:
    runs = demo_out / "runs" / "Task999_SegBookDemo"
    return {"ft": runs / "stunet-s_ft", "scratch": runs / "stunet-s_scratch"}
