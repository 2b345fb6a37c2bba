"""`segbook ci init`: writes the users' CI template (valid, pinned), atomically, never over a file."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from segbook.api.ci import CONTAINER_RUNS
from segbook.core.container_run import HARDENING, container_argv
from tests.helpers import run_segbook
from tests.helpers.workflows import schema_check, zizmor

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"ghcr.io/lab/segbook:0.1.0@{DIGEST}"
REVISION = "45ba76d4d3d4c826d2d0a014bf87ae4bf9d833da"
WORKFLOW = Path(".github/workflows/segbook-reproduce.yml")
TEMPLATE = Path(__file__).resolve().parents[2] / "segbook" / "data" / "ci" / "segbook-reproduce.yml"


def env_of(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["env"]


def assert_error(proc: subprocess.CompletedProcess, code: int, text: str):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), lines
    assert text in lines[0]


def test_pulled_image_workflow_is_valid(tmp_path):
    proc = run_segbook("ci", "init", "--repo", str(tmp_path), "--image", IMAGE)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / WORKFLOW
    assert f"wrote {target}" in proc.stdout and "segbook-tiny-cell" in proc.stdout
    env = env_of(target)
    assert env["SEGBOOK_IMAGE"] == IMAGE and env["SEGBOOK_KIT_REVISION"] == ""
    assert env["SEGBOOK_RECEIPTS"] == "receipts" and env["SEGBOOK_REFERENCE"] == "ci/segbook-reference/receipt.json"
    assert schema_check(target).returncode == 0
    assert zizmor(target).returncode == 0
    assert [p.name for p in target.parent.iterdir()] == [WORKFLOW.name]  # no temporary file left


def test_built_image_workflow_with_custom_paths(tmp_path):
    proc = run_segbook("ci", "init", "--repo", str(tmp_path), "--kit-repository", "lab/segbook-kit",
                       "--kit-revision", REVISION, "--receipts", "", "--reference", "ci/ref/receipt.json",
                       "--path", ".github/workflows/repro.yml")
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / ".github/workflows/repro.yml"
    env = env_of(target)
    assert env == {"SEGBOOK_IMAGE": "", "SEGBOOK_KIT_REPOSITORY": "lab/segbook-kit", "SEGBOOK_KIT_REVISION": REVISION,
                   "SEGBOOK_RECEIPTS": "", "SEGBOOK_REFERENCE": "ci/ref/receipt.json"}
    assert schema_check(target).returncode == 0 and zizmor(target).returncode == 0
    runs = docker_runs(target.read_text())
    assert runs[-1][-4:] == ["verify", "/output/runs/Task999_SegBookDemo/stunet-s_scratch/receipt.json", "--against",
                             "/input/$SEGBOOK_REFERENCE"]


def docker_runs(text: str) -> list[list[str]]:
    """Every `docker run` command of a rendered workflow, as the step's shell splits it (variables unexpanded)."""
    flat = re.sub(r"\\\n\s*", "", text)
    lines = [line.strip() for line in flat.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("docker run")]


def test_every_container_run_is_the_kits_one_command_line(tmp_path):
    """The template holds markers, not command lines; ci init writes in the builder's argv, hardened."""
    assert "docker run" not in TEMPLATE.read_text()
    assert run_segbook("ci", "init", "--repo", str(tmp_path), "--image", IMAGE).returncode == 0
    runs = docker_runs((tmp_path / WORKFLOW).read_text())
    assert len(runs) == len(CONTAINER_RUNS) == 3
    for argv, (run, args) in zip(runs, CONTAINER_RUNS.values(), strict=True):
        assert argv == container_argv(run, args)
        assert all(flag in argv for flag in HARDENING) and argv[argv.index("--user") + 1] == "$(id -u):$(id -g)"
    cell = runs[1]
    assert cell[cell.index("segbook:ci", cell.index("SEGBOOK_IMAGE_DIGEST=$digest")):][:3] == [
        "segbook:ci", "finetune", "Demo"]


def test_never_overwrites_without_force(tmp_path):
    target = tmp_path / WORKFLOW
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    proc = run_segbook("ci", "init", "--repo", str(tmp_path), "--image", IMAGE)
    assert_error(proc, 73, "already exists")
    assert target.read_text() == "mine\n"
    proc = run_segbook("ci", "init", "--repo", str(tmp_path), "--image", IMAGE, "--force")
    assert proc.returncode == 0 and env_of(target)["SEGBOOK_IMAGE"] == IMAGE


@pytest.mark.parametrize("args, text", [
    ([], "the workflow needs the image"),
    (["--image", "ghcr.io/lab/segbook:0.1.0"], "pinned by digest"),
    (["--image", IMAGE + '"\n  evil: 1'], "pinned by digest"),
    (["--kit-repository", "lab/segbook-kit", "--kit-revision", "main"], "full 40-character commit SHA"),
    (["--kit-repository", "lab", "--kit-revision", REVISION], "OWNER/NAME"),
    (["--image", IMAGE, "--kit-repository", "lab/kit", "--kit-revision", REVISION], "not both"),
    (["--image", IMAGE, "--reference", "../outside/receipt.json"], "inside your repository"),
    (["--image", IMAGE, "--path", "/etc/x.yml"], "inside your repository"),
])
def test_bad_input_is_a_usage_error(tmp_path, args, text):
    proc = run_segbook("ci", "init", "--repo", str(tmp_path), *args)
    assert_error(proc, 2, text)
    assert not (tmp_path / ".github").exists()
