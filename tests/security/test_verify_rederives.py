"""`segbook verify` re-derives the metrics, pins the reference labels, stays inside the run folder."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers import run_segbook
from tests.report_runs import write_run
from tests.security.builders import TOTALSEG, assert_two_lines, truncate

pytestmark = [pytest.mark.unit, pytest.mark.security]

DICE = np.array([[0.30, 0.42], [0.35, 0.37], [0.40, 0.32]])  # a mean near 0.36, as in the issue


@pytest.fixture()
def receipt(tmp_path):
    """A real run folder (predictions, checkpoint, split, plans) and its held-out references in OUT."""
    return write_run(tmp_path / "out", "Task009_Spleen", "stunet-b_ft", DICE)


def _edit(receipt, change):
    data = json.loads(receipt.read_text())
    change(data)
    receipt.write_text(json.dumps(data))


def test_untouched_run_verifies(receipt):
    result = run_segbook("verify", str(receipt), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verify: OK" in result.stdout


def test_forged_metrics_are_a_difference(receipt):
    """The issue's forgery: mean and per-class Dice edited from 0.36 to 0.99; every hash still agrees."""
    def forge(data):
        summary = data["metrics"]["summary"]
        assert round(summary["mean_dice"], 2) == 0.36
        summary["mean_dice"] = 0.99
        for entry in summary["per_class"].values():
            entry["dice"] = 0.99
        for case in data["metrics"]["per_case"].values():
            for entry in case.values():
                entry["dice"] = 0.99

    _edit(receipt, forge)
    result = run_segbook("verify", str(receipt), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DIFFERS metrics summary.mean_dice: recorded 0.99, found 0.36" in result.stdout
    assert "DIFFERS prediction" not in result.stdout  # the files are the run's own: only the numbers lie


def test_reference_labels_are_pinned(receipt):
    """One voxel of a reference label changed: its pin differs, the metrics are not trusted."""

    label = receipt.parents[3] / "nnUNet_raw" / "Dataset009_Spleen" / "labelsTs" / "case_001.nii.gz"
    image = sitk.ReadImage(str(label))
    array = sitk.GetArrayFromImage(image)
    array[0, -1, -1] = 1
    edited = sitk.GetImageFromArray(array)
    edited.CopyInformation(image)
    sitk.WriteImage(edited, str(label), True)
    result = run_segbook("verify", str(receipt), timeout=300)
    assert result.returncode == 1
    assert "DIFFERS test label case_001" in result.stdout
    assert "DIFFERS metrics: recorded recomputed, found not recomputed" in result.stdout


@pytest.mark.parametrize("damage", ["truncated prediction", "truncated reference", "missing prediction",
                                    "corrupt checkpoint"])
def test_damaged_files_are_listed_differences(receipt, damage):
    run = receipt.parent
    labels = run.parents[2] / "nnUNet_raw" / "Dataset009_Spleen" / "labelsTs"
    if damage == "truncated prediction":
        truncate(run / "predictions" / "case_002.nii.gz", 0.6)
    elif damage == "truncated reference":
        truncate(labels / "case_002.nii.gz", 0.6)
    elif damage == "missing prediction":
        (run / "predictions" / "case_002.nii.gz").unlink()
    else:
        truncate(run / "checkpoint_final.pth", 0.5)
    result = run_segbook("verify", str(receipt), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DIFFERS" in result.stdout and "internal error" not in result.stderr


@pytest.mark.parametrize("key, value", [
    ("final_weights", "../../../../../etc/passwd"),
    ("final_weights", "/etc/passwd"),
    ("plans", "../receipt.json"),
    ("predictions", "/tmp/"),
])
def test_receipt_paths_that_escape_are_refused(receipt, key, value):
    _edit(receipt, lambda data: data["files"].update({key: value}))
    result = run_segbook("verify", str(receipt), timeout=300)
    assert_two_lines(result, 65, f"files.{key}")


def test_a_symlink_out_of_the_run_folder_is_refused(receipt, tmp_path):
    """A prediction replaced by a link to a foreign NIfTI: verify must not read it, let alone pass."""
    prediction = receipt.parent / "predictions" / "case_000.nii.gz"
    foreign = tmp_path / "foreign.nii.gz"
    shutil.copy(prediction, foreign)  # same content: the hash would even agree
    prediction.unlink()
    os.symlink(foreign, prediction)
    result = run_segbook("verify", str(receipt), timeout=300)
    assert_two_lines(result, 65, "prediction case_000", "symbolic link")


def test_a_symlinked_reference_label_is_refused(receipt, tmp_path):
    label = receipt.parents[3] / "nnUNet_raw" / "Dataset009_Spleen" / "labelsTs" / "case_000.nii.gz"
    shutil.copy(TOTALSEG / "example_seg.nii.gz", tmp_path / "elsewhere.nii.gz")
    label.unlink()
    os.symlink(tmp_path / "elsewhere.nii.gz", label)
    assert_two_lines(run_segbook("verify", str(receipt), timeout=300), 65, "symbolic link")


@pytest.mark.parametrize("change", [
    lambda d: d["hashes"].pop("test_labels"),
    lambda d: d["hashes"].update(predictions=["case_000"]),
    lambda d: d["files"].pop("split"),
    lambda d: d["files"].update(split=7),
    lambda d: d["dataset"].update(labels=["background", "spleen"]),
    lambda d: d["hashes"]["predictions"].update({"../../x": "0" * 64}),
    lambda d: d.update(hashes="none"),
], ids=["no test_labels", "predictions a list", "no files.split", "files.split a number", "labels a list",
        "case id with a path", "hashes a string"])
def test_malformed_receipts_are_invalid_input(receipt, change):
    _edit(receipt, change)
    assert_two_lines(run_segbook("verify", str(receipt), timeout=300), 65, "receipt")


def test_a_receipt_that_is_no_object_is_invalid_input(receipt):
    receipt.write_text("[1, 2, 3]")
    assert_two_lines(run_segbook("verify", str(receipt), timeout=300), 65)


@pytest.mark.parametrize("text", ["mean_dice: 0.9", '{"per_class": [1, 2]}', '"just a string"'])
def test_expected_metrics_that_are_not_json_objects(receipt, tmp_path, text):
    expected = tmp_path / "expected.json"
    expected.write_text(text)
    result = run_segbook("verify", str(receipt), "--no-files", "--expected", str(expected), timeout=300)
    assert_two_lines(result, 65, "--expected")


def test_report_refuses_a_malformed_metrics_block(receipt, tmp_path):
    _edit(receipt, lambda d: d["metrics"].update(summary=["not", "an", "object"]))
    result = run_segbook("report", "--out-root", str(receipt.parents[3]), "--out", str(tmp_path / "report"),
                         "--no-verify", timeout=300)
    assert_two_lines(result, 65, "malformed")
