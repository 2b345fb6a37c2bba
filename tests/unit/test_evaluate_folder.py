"""evaluate_folder on real files: results, aggregation, CSV/JSON forms and every bad input."""

import gzip
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from segbook.core.errors import InputMissing, InvalidInput
from segbook.evaluate import EvaluationResult, evaluate_folder, label_map_metrics

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[1] / "data" / "totalsegmentator"
LABELS = {0: "background", 1: "organ", 2: "lesion", 3: "vessel"}


def write(path: Path, array, spacing=(0.8, 0.8, 2.5), origin=(0.0, 0.0, 0.0), direction=None):
    image = sitk.GetImageFromArray(np.asarray(array))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path))
    return path


def synthetic_case(seed, shape=(12, 20, 18)):
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, np.uint8)
    ref[2:9, 4:15, 3:14] = 1
    ref[4:6, 6:9, 5:8] = 2
    ref[:, 17:19, 9] = 3
    pred = np.roll(ref, int(rng.choice([-1, 1])), axis=int(rng.integers(0, 3)))
    core = ndimage.binary_erosion(pred == 1, iterations=int(rng.integers(1, 3)))
    pred[core & (rng.random(shape) < 0.01)] = 0
    return ref, pred


@pytest.fixture
def folders(tmp_path):
    for index in range(3):
        ref, pred = synthetic_case(index)
        write(tmp_path / "ref" / f"case_{index:03d}.nii.gz", ref)
        write(tmp_path / "pred" / f"case_{index:03d}.nii.gz", pred)
    return tmp_path / "pred", tmp_path / "ref"


def test_results_equal_array_metrics_with_spacing_in_array_order(folders):
    pred_dir, ref_dir = folders
    result = evaluate_folder(pred_dir, ref_dir, LABELS, nsd_tolerance_mm={1: 1.0, 2: 0.5})
    assert sorted(result.per_case) == ["case_000", "case_001", "case_002"]
    assert result.tolerances == {1: 1.0, 2: 0.5, 3: 1.0}
    ref = sitk.GetArrayFromImage(sitk.ReadImage(str(ref_dir / "case_001.nii.gz")))
    pred = sitk.GetArrayFromImage(sitk.ReadImage(str(pred_dir / "case_001.nii.gz")))
    spacing = result.spacing["case_001"]  # float32 in the NIfTI header
    assert spacing == pytest.approx([2.5, 0.8, 0.8])
    expected = label_map_metrics(ref, pred, spacing, [1, 2, 3], result.tolerances)
    assert result.per_case["case_001"] == {str(k): v for k, v in expected.items()}
    assert 0 < result.per_case["case_001"]["1"]["dice"] < 1


def test_shift_along_slices_uses_the_slice_thickness(tmp_path):
    ref = np.zeros((10, 12, 12), np.uint8)
    ref[3:7, 3:9, 3:9] = 1
    write(tmp_path / "ref" / "a.nii.gz", ref, spacing=(0.5, 0.5, 4.0))  # (x, y, z): z is array axis 0
    write(tmp_path / "pred" / "a.nii.gz", np.roll(ref, 1, axis=0), spacing=(0.5, 0.5, 4.0))
    result = evaluate_folder(tmp_path / "pred", tmp_path / "ref", {1: "box"})
    assert result.per_case["a"]["1"]["hd95"] == pytest.approx(4.0)


def test_summary_is_nnunet_style_mean_with_nan_and_inf_left_out(tmp_path):
    ref_a = np.zeros((8, 8, 8), np.uint8)
    ref_a[2:6, 2:6, 2:6] = 1
    pred_a = ref_a.copy()  # perfect on class 1; class 2 absent on both sides -> NaN
    ref_b = ref_a.copy()
    ref_b[0, 0, 0:3] = 2
    pred_b = np.roll(ref_a, 1, axis=1)  # class 2 missed -> Dice 0, NSD 0, HD95 inf
    for case, (ref, pred) in {"a": (ref_a, pred_a), "b": (ref_b, pred_b)}.items():
        write(tmp_path / "ref" / f"{case}.nii.gz", ref, spacing=(1, 1, 1))
        write(tmp_path / "pred" / f"{case}.nii.gz", pred, spacing=(1, 1, 1))
    result = evaluate_folder(tmp_path / "pred", tmp_path / "ref", {1: "one", 2: "two"})
    summary = result.summary
    b1 = result.per_case["b"]["1"]
    assert summary["per_class"]["1"]["dice"] == pytest.approx((1.0 + b1["dice"]) / 2)
    two = summary["per_class"]["2"]
    assert two["dice"] == 0.0 and two["nsd"] == 0.0 and math.isnan(two["hd95"])
    assert two["n_both_empty"] == 1 and two["hd95_infinite"] == 1 and two["n_cases"] == 2
    assert summary["mean_dice"] == pytest.approx((summary["per_class"]["1"]["dice"] + 0.0) / 2)
    # case-first: case a has only class 1 defined (1.0), case b has (b1, 0)
    assert summary["mean_dice_case_first"] == pytest.approx((1.0 + (b1["dice"] + 0.0) / 2) / 2)
    assert summary["mean_hd95"] == pytest.approx(summary["per_class"]["1"]["hd95"])


def test_csv_json_and_round_trip(folders, tmp_path):
    pred_dir, ref_dir = folders
    result = evaluate_folder(pred_dir, ref_dir, LABELS)
    csv = result.to_csv(tmp_path / "out" / "metrics.csv")
    table = pd.read_csv(csv)
    assert len(table) == 3 * 3 and list(table.columns)[:6] == ["case", "label", "name", "dice", "nsd", "hd95"]
    row = table[(table.case == "case_002") & (table.label == 2)].iloc[0]
    assert row["dice"] == pytest.approx(result.per_case["case_002"]["2"]["dice"], abs=1e-9)
    assert not list((tmp_path / "out").glob(".*"))  # no temp file left behind
    block = result.to_dict()
    text = json.dumps(block, allow_nan=False)  # strict JSON, as the receipt needs
    back = EvaluationResult.from_dict(json.loads(text))
    assert back.per_case == result.per_case and back.summary == result.summary


def test_empty_and_missing_values_survive_json(tmp_path):
    ref = np.zeros((6, 6, 6), np.uint8)
    ref[1:4, 1:4, 1:4] = 1
    write(tmp_path / "ref" / "x.nii.gz", ref)
    write(tmp_path / "pred" / "x.nii.gz", np.zeros_like(ref))
    result = evaluate_folder(tmp_path / "pred", tmp_path / "ref", {1: "a", 2: "b"})
    back = EvaluationResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert back.per_case["x"]["1"]["hd95"] == math.inf and math.isnan(back.per_case["x"]["2"]["dice"])
    assert pd.read_csv(result.to_csv(tmp_path / "m.csv"))["hd95"].tolist()[0] == math.inf


def test_real_ct_labels_and_cases_subset_and_workers(tmp_path):
    image = sitk.ReadImage(str(DATA / "example_seg.nii.gz"))
    labels = sitk.GetArrayFromImage(image)
    (tmp_path / "ref").mkdir()
    (tmp_path / "pred").mkdir()
    for name, shift in (("ct_a", 1), ("ct_b", -2)):
        sitk.WriteImage(image, str(tmp_path / "ref" / f"{name}.nii.gz"))
        moved = sitk.GetImageFromArray(np.roll(labels, shift, axis=2))
        moved.CopyInformation(image)
        sitk.WriteImage(moved, str(tmp_path / "pred" / f"{name}.nii.gz"))
    label_set = {int(v): f"class_{v}" for v in np.unique(labels)}
    serial = evaluate_folder(tmp_path / "pred", tmp_path / "ref", label_set)
    parallel = evaluate_folder(tmp_path / "pred", tmp_path / "ref", label_set, workers=2)
    assert serial.per_case == parallel.per_case and len(serial.labels) == 41
    only_b = evaluate_folder(tmp_path / "pred", tmp_path / "ref", label_set, cases=["ct_b"])
    assert list(only_b.per_case) == ["ct_b"] and only_b.per_case["ct_b"] == serial.per_case["ct_b"]
    assert serial.summary["mean_dice"] > only_b.summary["mean_dice"]  # a 2-voxel shift is worse


# --- bad input: one clear error each, nothing written ----------------------------------------


def expect(error, match, pred_dir, ref_dir, labels=LABELS, **kwargs):
    with pytest.raises(error, match=match) as info:
        evaluate_folder(pred_dir, ref_dir, labels, **kwargs)
    assert "\n" not in info.value.message
    return info.value


def test_missing_cases_on_either_side(folders):
    pred_dir, ref_dir = folders
    (pred_dir / "case_001.nii.gz").unlink()
    expect(InputMissing, r"1 case\(s\) have no prediction .*case_001", pred_dir, ref_dir)
    shutil.copy(ref_dir / "case_000.nii.gz", pred_dir / "case_001.nii.gz")
    shutil.copy(ref_dir / "case_000.nii.gz", pred_dir / "extra.nii.gz")
    expect(InputMissing, r"no reference .*extra", pred_dir, ref_dir)
    expect(InputMissing, r"no reference .*nope", pred_dir, ref_dir, cases=["nope"])
    expect(InputMissing, "does not exist", pred_dir / "absent", ref_dir)
    empty = ref_dir.parent / "empty"
    empty.mkdir()
    expect(InputMissing, "no cases found", empty, empty)


def test_different_shape_or_geometry(folders):
    pred_dir, ref_dir = folders
    ref, pred = synthetic_case(0)
    write(pred_dir / "case_000.nii.gz", pred[:, :-1])
    expect(InvalidInput, "size .* differs", pred_dir, ref_dir)
    write(pred_dir / "case_000.nii.gz", pred, spacing=(0.8, 0.8, 3.0))
    expect(InvalidInput, "spacing .* differs", pred_dir, ref_dir)
    write(pred_dir / "case_000.nii.gz", pred, origin=(0.0, 5.0, 0.0))
    expect(InvalidInput, "origin .* differs", pred_dir, ref_dir)
    write(pred_dir / "case_000.nii.gz", pred, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    expect(InvalidInput, "direction .* differs", pred_dir, ref_dir)


def test_label_values_outside_the_label_set(folders):
    pred_dir, ref_dir = folders
    ref, pred = synthetic_case(0)
    pred[0, 0, 0] = 9
    write(pred_dir / "case_000.nii.gz", pred)
    expect(InvalidInput, r"prediction holds label values \[9\]", pred_dir, ref_dir)
    expect(InvalidInput, r"reference holds label values \[3\]", pred_dir, ref_dir, labels={1: "a", 2: "b"},
           cases=["case_001"])
    write(pred_dir / "case_000.nii.gz", pred.astype(np.float32) + 0.5)
    expect(InvalidInput, "non-integer", pred_dir, ref_dir)


def _nifti_with_nan_voxel_size(path: Path, shape=(12, 20, 18)):
    write(path, np.zeros(shape, np.uint8))
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[76 + 8:76 + 12] = struct.pack("<f", float("nan"))  # pixdim[2]
    raw[280 + 4:280 + 8] = struct.pack("<f", float("nan"))  # srow_x[1]: ITK sees it
    path.write_bytes(gzip.compress(bytes(raw)))


def test_nan_spacing(folders):
    pred_dir, ref_dir = folders
    _nifti_with_nan_voxel_size(ref_dir / "case_002.nii.gz")
    expect(InvalidInput, "case_002.nii.gz has a voxel size that is not finite", pred_dir, ref_dir)


def test_bad_label_sets_and_tolerances(folders):
    pred_dir, ref_dir = folders
    expect(InvalidInput, "no foreground", pred_dir, ref_dir, labels={0: "background"})
    expect(InvalidInput, "not a non-negative integer", pred_dir, ref_dir, labels={-1: "x", 1: "a"})
    expect(InvalidInput, "NSD tolerance .* finite", pred_dir, ref_dir, nsd_tolerance_mm=float("nan"))
    expect(InvalidInput, "labels \\[7\\]", pred_dir, ref_dir, nsd_tolerance_mm={7: 1.0})
