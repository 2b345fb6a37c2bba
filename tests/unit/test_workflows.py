"""The GitHub workflows (the kit's CI and the users' template) pass the workflow schema and zizmor,
offline, as `make lint-workflows` runs them; the checks really catch what they are there for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.workflows import schema_check, zizmor

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
KIT_CI = REPO / ".github" / "workflows" / "ci.yml"
TEMPLATE = REPO / "segbook" / "data" / "ci" / "segbook-reproduce.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def test_make_lint_workflows_passes():
    proc = subprocess.run(["make", "-s", "lint-workflows"], cwd=REPO, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "segbook-reproduce.yml" in proc.stdout + proc.stderr and "ci.yml" in proc.stdout + proc.stderr


@pytest.mark.parametrize("change, finding", [
    (lambda t: t.replace("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
                         "actions/checkout@v4"), "unpinned-uses"),
    (lambda t: t.replace("run: make lint", 'run: echo "${{ github.event.pull_request.title }}" && make lint'),
     "template-injection"),
    (lambda t: t.replace("  pull_request:\n", "  pull_request_target:\n"), "dangerous-triggers"),
    (lambda t: t.replace("permissions: {}\n", "").replace("    permissions:\n      contents: read\n", "", 1),
     "excessive-permissions"),
])
def test_zizmor_catches_what_it_is_there_for(tmp_path, change, finding):
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    text = change(KIT_CI.read_text())
    assert text != KIT_CI.read_text()
    broken.write_text(text)
    proc = zizmor(broken)
    assert proc.returncode != 0 and finding in proc.stdout, proc.stdout[-2000:]


def test_schema_catches_a_job_without_a_runner(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(KIT_CI.read_text().replace("    runs-on: ubuntu-24.04\n", "", 1))
    proc = schema_check(broken)
    assert proc.returncode != 0 and "runs-on" in proc.stdout + proc.stderr


def _workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


@pytest.mark.parametrize("path", [KIT_CI, TEMPLATE], ids=["kit-ci", "user-template"])
def test_least_privilege_pinned_and_no_expressions_in_shell(path):
    workflow = _workflow(path)
    assert "pull_request_target" not in workflow["on"] and "workflow_run" not in workflow["on"]
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert job["permissions"] == {"contents": "read"}, name
        assert job.get("timeout-minutes"), name
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), (name, step.get("name"))  # values reach shells via env
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
    uses = [line.split("uses:", 1)[1].strip() for line in path.read_text().splitlines() if "uses:" in line]
    assert uses and all(PINNED.match(u) for u in uses), uses


def test_kit_ci_has_the_jobs_the_issue_asks_for():
    workflow = _workflow(KIT_CI)
    steps = {name: job["steps"] for name, job in workflow["jobs"].items()}
    text = KIT_CI.read_text()
    assert "make lint" in text and '-m "unit or browser"' in text and "-m integration" in text
    build = next(s for s in steps["image-and-repro-check"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["cache-from"].startswith("type=gha") and build["with"]["load"] is True
    assert any(s.get("uses", "").startswith("docker/setup-buildx-action") for s in steps["image-and-repro-check"])
    assert "make repro-check ENGINE=docker" in text and "--skip-build --keep" in text
    upload = [s for s in steps["image-and-repro-check"] if s.get("uses", "").startswith("actions/upload-artifact")]
    paths = upload[0]["with"]["path"]
    for wanted in ("summary.json", "receipt.json", "report/"):
        assert wanted in paths
    unit = next(s for s in steps["unit"] if "pytest" in s.get("run", ""))
    assert unit["env"]["SEGBOOK_CHROMIUM"]  # the browser test must find a browser: it never skips
