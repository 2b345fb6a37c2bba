"""The paper's plan through real nnU-Net: a small dataset whose manifest carries a reference plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from segbook.demo.sources import ensure_demo_sources
from tests.helpers import TINY, assert_two_line_error, run_segbook

pytestmark = pytest.mark.integration

PATCH, SPACING = [16, 48, 48], [2.5, 1.25, 1.25]  # nnU-Net's own plan here: [24, 40, 40] at 2.0 x 1.5 x 1.5


def _manifest(folder: Path, raw: Path, patch, name: str = "PlanCheck") -> Path:
    path = folder / f"Task998_{name}.yaml"
    run_segbook("datasets", "init", name, "--raw", str(raw), "--target", "structure & lesion", "--modality", "MRI",
                "--id", "998", "--out", str(path), "--force", check=True)
    data = yaml.safe_load(path.read_text())
    data["reference_plan"] = {"patch": patch, "spacing": SPACING, "axes": "zyx"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """The demo's generated MR-like phantoms, as a user's own nnU-Net folder."""
    return ensure_demo_sources(tmp_path_factory.mktemp("sources"), lambda message: None)


def test_finetune_trains_with_the_papers_plan(tmp_path, raw):
    manifest = _manifest(tmp_path, raw, PATCH)
    out = tmp_path / "out"
    result = run_segbook("finetune", str(manifest), "--raw", str(raw), "--out", str(out), "--model", "stunet-s",
                         "--init", "scratch", *TINY, "--device", "cpu", "--lock", check=True)
    assert "paper's plan: patch [16, 48, 48]" in result.stdout + result.stderr
    run_dir = out / "runs" / "Task998_PlanCheck" / "stunet-s_scratch"
    receipt = json.loads((run_dir / "receipt.json").read_text())
    plan = receipt["configuration"]["plan"]
    assert plan["source"] == "paper" and plan["plans_name"] == "SegBookPlans"
    assert plan["used"]["patch_size"] == PATCH and plan["used"]["spacing"] == SPACING
    assert plan["nnunet_own"]["patch_size"] != PATCH  # the two plans really differ here
    plans = json.loads((run_dir / "plans.json").read_text())
    fullres = plans["configurations"]["3d_fullres"]
    assert plans["plans_name"] == "SegBookPlans" and fullres["patch_size"] == PATCH
    strides = fullres["architecture"]["arch_kwargs"]["strides"]
    for axis, size in enumerate(PATCH):  # the topology was recomputed for the paper's patch
        total = 1
        for stride in strides:
            total *= stride[axis]
        assert size % total == 0
    assert run_segbook("verify", str(run_dir / "receipt.json")).returncode == 0
    shown = run_segbook("datasets", "show", str(manifest), "--out", str(out), check=True).stdout
    assert "paper's plan: patch [16, 48, 48]" in shown and "nnU-Net 2.8.1's own would be patch" in shown

    # the same cell with nnU-Net's own plan is another result: refused, not mixed up with this one
    other = run_segbook("finetune", str(manifest), "--raw", str(raw), "--out", str(out), "--model", "stunet-s",
                        "--init", "scratch", *TINY, "--device", "cpu", "--plan", "nnunet")
    assert_two_line_error(other, 73, "made with SegBookPlans, not nnUNetPlans")


def test_absurd_reference_plan_is_refused_naming_the_dataset(tmp_path, raw):
    manifest = _manifest(tmp_path, raw, [256, 256, 256], name="HugePatch")
    result = run_segbook("finetune", str(manifest), "--raw", str(raw), "--out", str(tmp_path / "out"),
                         "--model", "stunet-s", "--init", "scratch", *TINY, "--device", "cpu", "--lock")
    # progress lines come first; the run ends with the two-line error
    assert result.returncode == 65, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-2:]
    assert last[0].startswith("error: Task998_HugePatch") and "far larger than its images" in last[0]
    assert last[1].startswith("hint: ")


def test_paper_plan_needs_a_reference_plan():
    result = run_segbook("finetune", "Demo", "--plan", "paper", "--model", "stunet-s", "--init", "scratch", *TINY)
    assert_two_line_error(result, 2, "has no reference plan")
