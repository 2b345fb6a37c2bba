"""Every catalog dataset is prepared through `segbook prepare` from a fixture in the suite.

The download layouts have their own fixture tests (test_download_layouts*.py, test_convert_layouts.py,
test_dicom_layouts.py). Here: each of the ten MSD tasks from an MSD tree with its own channel and label
counts, and each dataset whose download layout is unknown from the one way in it has, an nnU-Net folder.
test_every_dataset_has_a_fixture fails when a manifest is named by none of them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.fakes import catalog_copy, msd_tree, nnunet_tree

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "manifests" / "datasets").glob("Task*.yaml"))
FIXTURE_TESTS = [REPO / "tests" / "unit" / name for name in
                 ("test_download_layouts.py", "test_download_layouts_parts.py", "test_convert_layouts.py",
                  "test_dicom_layouts.py")]


def _manifest(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _kinds(manifest: dict) -> set[str]:
    return {s["kind"] for s in manifest["prepare"]["layouts"] if s["kind"] != "nnunet" or s.get("name")}


MSD_TASKS = [p.stem for p in MANIFESTS if _kinds(_manifest(p)) == {"msd"}]
NNUNET_ONLY = [p.stem for p in MANIFESTS if not _kinds(_manifest(p))]


def _prepare(cli_runner, tmp_path, task: str, raw: Path) -> dict:
    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    result = cli_runner("prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _counts(task: str) -> tuple[int, tuple[int, ...]]:
    manifest = _manifest(REPO / "manifests" / "datasets" / f"{task}.yaml")
    return len(manifest["channels"]), tuple(sorted(manifest["labels"]))[:3]


@pytest.mark.parametrize("task", MSD_TASKS)
def test_each_msd_task_from_its_tar_layout(tmp_path, cli_runner, task):
    channels, values = _counts(task)
    summary = _prepare(cli_runner, tmp_path, task, msd_tree(tmp_path / "raw" / "TaskNN", 7, channels=channels,
                                                            values=values, name=task.split("_", 1)[1].lower()))
    assert summary["layout"] == "MSD download" and summary["train_cases"] + summary["test_cases"] == 7


@pytest.mark.parametrize("task", NNUNET_ONLY)
def test_each_dataset_of_unknown_layout_from_an_nnunet_folder(tmp_path, cli_runner, task):
    channels, values = _counts(task)
    summary = _prepare(cli_runner, tmp_path, task, nnunet_tree(tmp_path / "raw" / task, 7, channels=channels,
                                                               values=values))
    assert summary["layout"] == "nnU-Net folder" and summary["train_cases"] + summary["test_cases"] == 7


def _tasks_named_in(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and node.value.startswith("Task")}


def test_every_dataset_has_a_fixture():
    named = set(MSD_TASKS) | set(NNUNET_ONLY)
    named |= set().union(*(_tasks_named_in(p) for p in FIXTURE_TESTS if p.exists()))
    missing = [p.stem for p in MANIFESTS if _manifest(p)["kind"] == "catalog" and p.stem not in named]
    assert not missing, f"catalog datasets no test prepares: {missing}"
    assert len(MANIFESTS) >= 87
