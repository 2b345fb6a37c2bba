"""Integrity everywhere a volume is read: evaluate, prepare; files that are not files."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers import run_segbook
from tests.security.builders import (
    DEMO_DATASET,
    TOTALSEG,
    assert_two_lines,
    demo_manifest,
    prepare_args,
    raw_tree,
    set_header_voxel_size,
    truncate,
)

pytestmark = [pytest.mark.unit, pytest.mark.security]


@pytest.fixture()
def pair(tmp_path):
    """The same real TotalSegmentator label map as prediction and reference (Dice 1), with labels."""
    pred, ref = tmp_path / "pred", tmp_path / "ref"
    for folder in (pred, ref):
        folder.mkdir()
        shutil.copy(TOTALSEG / "example_seg.nii.gz", folder / "s01.nii.gz")

    values = np.unique(sitk.GetArrayViewFromImage(sitk.ReadImage(str(TOTALSEG / "example_seg.nii.gz"))))
    labels = {"background": 0, **{f"class{v}": int(v) for v in values if v}}
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    return pred, ref, tmp_path / "dataset.json"


def _evaluate(pred, ref, labels, tmp_path):
    return run_segbook("evaluate", str(pred), str(ref), "--labels", str(labels), "--out",
                       str(tmp_path / "metrics.csv"), timeout=300)


def test_identical_pair_scores_one(pair, tmp_path):
    result = _evaluate(*pair, tmp_path)
    assert result.returncode == 0, result.stderr
    mean = next(line for line in result.stdout.splitlines() if line.strip().startswith("mean"))
    assert " 1.0000 " in mean, result.stdout


@pytest.mark.parametrize("side", ["ref", "pred"])
def test_a_truncated_file_is_refused_not_scored(pair, tmp_path, side):
    """Cut at 60 % the stream still decodes (zeros for the rest): it scored Dice 0.5673, exit 0."""
    pred, ref, labels = pair
    truncate((ref if side == "ref" else pred) / "s01.nii.gz", 0.6)
    result = _evaluate(pred, ref, labels, tmp_path)
    assert_two_lines(result, 65, f"{side}/s01.nii.gz", "truncated")
    assert not (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize("value", [float("nan"), 0.0, -1.5])
def test_prepare_refuses_a_bad_header_voxel_size(tmp_path, value):
    """ITK reads a NaN or zero pixdim as 1.0 mm: prepare pinned such files before."""
    raw = raw_tree(tmp_path / "raw")
    set_header_voxel_size(raw / "imagesTr" / "case_004_0000.nii.gz", 2, value)
    result = run_segbook(*prepare_args(demo_manifest(tmp_path), raw, tmp_path / "out"), timeout=300)
    assert_two_lines(result, 65, "case_004_0000.nii.gz", "voxel size")
    assert not (tmp_path / "manifests" / "locks" / "Task999_SegBookDemo.lock").exists()
    assert not (tmp_path / "out" / "nnUNet_raw" / DEMO_DATASET).exists()


def test_evaluate_refuses_a_zero_header_voxel_size(pair, tmp_path):
    pred, ref, labels = pair
    set_header_voxel_size(ref / "s01.nii.gz", 1, 0.0)
    assert_two_lines(_evaluate(pred, ref, labels, tmp_path), 65, "voxel size")


def test_a_fifo_in_the_raw_folder_is_refused_not_waited_on(tmp_path):
    raw = raw_tree(tmp_path / "raw")
    label = raw / "labelsTr" / "case_002.nii.gz"
    label.unlink()
    os.mkfifo(label)
    result = run_segbook(*prepare_args(demo_manifest(tmp_path), raw, tmp_path / "out"), timeout=120)
    assert_two_lines(result, 65, "case_002.nii.gz", "FIFO")


def test_a_dangling_symlink_in_the_raw_folder_is_input_missing(tmp_path):
    raw = raw_tree(tmp_path / "raw")
    image = raw / "imagesTr" / "case_005_0000.nii.gz"
    image.unlink()
    os.symlink(tmp_path / "gone.nii.gz", image)
    result = run_segbook(*prepare_args(demo_manifest(tmp_path), raw, tmp_path / "out"), timeout=300)
    assert_two_lines(result, 66, "case_005_0000.nii.gz", "symbolic link to a missing file")


@pytest.mark.parametrize("channels", [1, "CT", ["CT"]])
def test_channel_names_that_are_not_an_object(tmp_path, channels):
    raw = raw_tree(tmp_path / "raw")
    meta = json.loads((raw / "dataset.json").read_text())
    meta["channel_names"] = channels
    (raw / "dataset.json").write_text(json.dumps(meta))
    result = run_segbook(*prepare_args(demo_manifest(tmp_path), raw, tmp_path / "out"), timeout=300)
    assert_two_lines(result, 65, "channel_names")


def test_a_folder_dataset_with_channel_names_one(tmp_path):
    """`segbook datasets init` reads dataset.json for the user's own data: same input, same answer."""
    raw = raw_tree(tmp_path / "Dataset555_Mine")
    meta = json.loads((raw / "dataset.json").read_text())
    meta["channel_names"] = 1
    (raw / "dataset.json").write_text(json.dumps(meta))
    result = run_segbook("datasets", "init", "Mine", "--raw", str(raw), "--id", "555", "--target", "lesion",
                         "--modality", "MRI", "--out", str(tmp_path / "mine.yaml"), timeout=300)
    assert_two_lines(result, 65, "channel")
