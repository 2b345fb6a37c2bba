"""`segbook datasets init` on a DICOM tree: names listed without --label (exit 2), a manifest with it,
case ids from PatientID (and the study date where a patient has two studies), prepared by header."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.helpers.dicom_writer import write_ct_series, write_rtstruct

pytestmark = pytest.mark.unit

SHAPE = (5, 14, 14)


def _tree(root):
    studies = [(f"PAT{i:02d}", "20190101") for i in range(7)] + [("PAT00", "20200315")]  # PAT00 twice
    for k, (patient, date) in enumerate(studies):
        image = np.random.default_rng(k).integers(-100, 300, size=SHAPE).astype(np.int16)
        folder = root / patient / f"{date}-CT-{k}" / f"2.000000-CT-{k}"
        files = write_ct_series(image, folder, patient_id=patient, study_date=date, spacing=(1.0, 1.0, 2.0), seed=k)
        gtv = np.zeros(SHAPE, dtype=bool)
        gtv[1:4, 3:9, 4:10] = True
        cord = np.zeros(SHAPE, dtype=bool)
        cord[:, 10:12, 6:8] = True
        write_rtstruct({"GTV_Mass_CT": gtv, "SpinalCord": cord}, files, folder.parent / "1.000000-RTSTRUCT" / "1-1.dcm")


def test_init_lists_the_roi_names_then_writes_a_manifest_prepare_reads(tmp_path, cli_runner):
    raw = tmp_path / "HNC"
    _tree(raw)
    listed = cli_runner("datasets", "init", "HeadNeck", "--raw", raw, "--id", "590", "--target", "lesion",
                        "--out", tmp_path / "m.yaml")
    assert listed.exit_code == 2, listed.output
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 2 and "GTV_Mass_CT" in lines[0] and "SpinalCord" in lines[0] and "--label" in lines[1]
    assert not (tmp_path / "m.yaml").exists()

    made = cli_runner("datasets", "init", "HeadNeck", "--raw", raw, "--id", "590", "--target", "lesion",
                      "--out", tmp_path / "m.yaml", "--label", "1=GTV_Mass_CT")
    assert made.exit_code == 0, made.output
    manifest = yaml.safe_load((tmp_path / "m.yaml").read_text())
    assert manifest["labels"] == {0: "background", 1: "GTV_Mass_CT"} and manifest["modality"] == "CT"
    assert manifest["prepare"]["layouts"][0]["kind"] == "dicom"

    prepared = cli_runner("prepare", tmp_path / "m.yaml", "--raw", raw, "--out", tmp_path / "out", "--lock",
                          "--format", "json")
    assert prepared.exit_code == 0, prepared.output
    summary = json.loads(prepared.stdout)
    assert summary["train_cases"] + summary["test_cases"] == 8
    split = json.loads((tmp_path / "out" / "nnUNet_raw" / "Dataset590_HeadNeck" / "split.json").read_text())
    cases = set(split["train"]) | set(split["test"])
    assert {"PAT00_20190101", "PAT00_20200315", "PAT01", "PAT06"} <= cases
    assert ("PAT00_20190101" in split["test"]) == ("PAT00_20200315" in split["test"])  # one patient, one side


def test_a_label_name_not_in_the_tree_is_refused(tmp_path, cli_runner):
    raw = tmp_path / "HNC"
    _tree(raw)
    result = cli_runner("datasets", "init", "HeadNeck", "--raw", raw, "--id", "590", "--target", "lesion",
                        "--out", tmp_path / "m.yaml", "--label", "1=GTV_Node")
    assert result.exit_code == 2 and "GTV_Node" in result.stderr
    assert not (tmp_path / "m.yaml").exists()
