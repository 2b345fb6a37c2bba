"""Empty-mask conventions (checked against MONAI), Dice and volumes, and cropping."""

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

from segbook.evaluate.metrics import binary_metrics, label_map_metrics, present_labels

pytestmark = [
    pytest.mark.unit,
    # the oracles use deprecated scipy/MONAI spellings; not our code
    pytest.mark.filterwarnings("ignore:Please import `:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning"),
]

SPACING = (2.5, 0.8, 1.1)


def monai_nsd_and_hd(ref, pred, spacing, tolerance=1.0, percentile=95):
    import torch  # noqa: PLC0415 - torch only in the tests that need it
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice  # noqa: PLC0415 - the oracle only in its tests

    y = torch.from_numpy(ref)[None, None].float()
    y_pred = torch.from_numpy(pred)[None, None].float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns about the empty masks we feed it on purpose
        nsd = compute_surface_dice(y_pred, y, [tolerance], include_background=True, spacing=list(spacing),
                                   use_subvoxels=True)
        hd = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=percentile,
                                        spacing=list(spacing))
    return float(nsd[0, 0]), float(hd[0, 0])


def cube(shape=(10, 12, 14), where=(slice(2, 6), slice(3, 8), slice(4, 9))):
    mask = np.zeros(shape, bool)
    mask[where] = True
    return mask


def test_both_empty_is_not_defined_like_monai():
    empty = np.zeros((6, 7, 8), bool)
    ours = binary_metrics(empty, empty, SPACING, 1.0)
    nsd, hd95 = monai_nsd_and_hd(empty, empty, SPACING)
    assert math.isnan(nsd) and math.isnan(hd95)
    assert math.isnan(ours["dice"]) and math.isnan(ours["nsd"]) and math.isnan(ours["hd95"])
    assert ours["volume_difference_ml"] == 0.0 and ours["ref_voxels"] == ours["pred_voxels"] == 0


@pytest.mark.parametrize("side", ["reference", "prediction"])
def test_one_side_empty_scores_zero_and_infinite_distance(side):
    full, empty = cube(), np.zeros((10, 12, 14), bool)
    ref, pred = (empty, full) if side == "reference" else (full, empty)
    ours = binary_metrics(ref, pred, SPACING, 1.0)
    nsd, _ = monai_nsd_and_hd(ref, pred, SPACING)
    assert nsd == 0.0 and ours["nsd"] == 0.0
    # Every distance is +inf: DeepMind's robust Hausdorff and MONAI's plain Hausdorff give +inf
    # (MONAI's percentile variant turns it into NaN by interpolating inf - inf).
    _, hausdorff = monai_nsd_and_hd(ref, pred, SPACING, percentile=None)
    assert hausdorff == math.inf and ours["hd95"] == math.inf
    assert ours["dice"] == 0.0  # nnU-Net's convention: a false positive/negative class scores 0


def test_identical_masks_are_perfect():
    mask = cube()
    ours = binary_metrics(mask, mask, SPACING, 0.0)
    assert ours["dice"] == 1.0 and ours["nsd"] == 1.0 and ours["hd95"] == 0.0
    assert ours["volume_difference_ml"] == 0.0


def test_dice_and_volumes_from_counts():
    ref = cube(where=(slice(0, 4), slice(0, 5), slice(0, 5)))  # 100 voxels
    pred = cube(where=(slice(2, 6), slice(0, 5), slice(0, 5)))  # 100 voxels, 50 shared
    ours = binary_metrics(ref, pred, (2.0, 1.0, 0.5), 1.0)
    assert ours["dice"] == pytest.approx(0.5)
    assert ours["volume_ref_ml"] == pytest.approx(100 * 1.0 / 1000)
    assert ours["volume_pred_ml"] == pytest.approx(0.1)
    assert ours["volume_difference_ml"] == 0.0
    bigger = binary_metrics(ref, ndimage.binary_dilation(ref), (2.0, 1.0, 0.5), 1.0)
    extra = int(ndimage.binary_dilation(ref).sum() - ref.sum())
    assert bigger["volume_difference_ml"] == pytest.approx(extra * 1e-3)


def test_nsd_is_symmetric_and_hd95_too():
    rng = np.random.default_rng(5)
    a = ndimage.binary_dilation(rng.random((14, 15, 16)) < 0.02, iterations=2)
    b = ndimage.binary_dilation(rng.random((14, 15, 16)) < 0.02, iterations=2)
    ab, ba = binary_metrics(a, b, SPACING, 2.0), binary_metrics(b, a, SPACING, 2.0)
    assert ab["nsd"] == pytest.approx(ba["nsd"]) and ab["hd95"] == ba["hd95"] and ab["dice"] == ba["dice"]


def test_anisotropic_spacing_changes_the_distances():
    ref = cube()
    pred = np.roll(ref, 1, axis=0)  # one voxel along axis 0
    fine = binary_metrics(ref, pred, (1.0, 1.0, 1.0), 1.5)
    coarse = binary_metrics(ref, pred, (4.0, 1.0, 1.0), 1.5)
    assert fine["hd95"] == pytest.approx(1.0) and coarse["hd95"] == pytest.approx(4.0)
    assert coarse["nsd"] < fine["nsd"]


def test_label_map_metrics_on_crops_equal_full_volume_metrics():
    rng = np.random.default_rng(9)
    shape = (20, 30, 25)
    ref = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for value in range(1, 6):
        ref[ndimage.binary_dilation(rng.random(shape) < 0.002, iterations=2)] = value
        pred[ndimage.binary_dilation(rng.random(shape) < 0.002, iterations=2)] = value
    ref[0, :, :3] = 6  # touches the array border
    pred[0, :, :2] = 6
    labels = [1, 2, 3, 4, 5, 6, 7]  # 7: absent from both
    tolerances = {v: 1.0 + v / 2 for v in labels}
    cropped = label_map_metrics(ref, pred, SPACING, labels, tolerances)
    for value in labels:
        full = binary_metrics(ref == value, pred == value, SPACING, tolerances[value])
        for key, expected in full.items():
            got = cropped[value][key]
            assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)
    assert math.isnan(cropped[7]["dice"]) and cropped[7]["ref_voxels"] == 0


def test_present_labels():
    arr = np.array([[[0, 3], [3, 7]]], dtype=np.uint8)
    assert present_labels(arr) == {0, 3, 7}
    assert present_labels(np.full((2, 2, 2), 4, np.int16)) == {4}
    assert present_labels(np.array([[[-1, 0]]], np.int16)) == {-1, 0}
    assert present_labels(np.array([[[70000, 1]]], np.int32)) == {1, 70000}
