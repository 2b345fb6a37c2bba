"""Our NSD and HD95 against DeepMind's surface-distance and MONAI, shape by shape.

Oracles (test-only dependencies):
  * DeepMind `surface-distance` (the reference implementation of Nikolov et al.): NSD and the
    area-weighted robust Hausdorff (HD95) must agree to floating-point precision;
  * MONAI `compute_surface_dice(..., use_subvoxels=True)`: the same NSD in float32.
The oracles run on the full arrays; our metrics run on the per-label bounding box, so every
comparison also checks that cropping changes nothing.
"""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import surface_distance as deepmind
from scipy import ndimage

from segbook.evaluate import metrics
from segbook.evaluate.metrics import binary_metrics, label_map_metrics

pytestmark = [
    pytest.mark.unit,
    # the oracles use deprecated scipy/MONAI spellings; not our code
    pytest.mark.filterwarnings("ignore:Please import `:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*always_return_as_numpy:FutureWarning"),
]

DATA = Path(__file__).resolve().parents[1] / "data" / "totalsegmentator"


def monai_nsd(ref, pred, spacing, tolerance):
    import torch  # noqa: PLC0415 - torch only in the tests that need it
    from monai.metrics import compute_surface_dice  # noqa: PLC0415 - the oracle only in its tests

    y = torch.from_numpy(np.ascontiguousarray(ref))[None, None].float()
    y_pred = torch.from_numpy(np.ascontiguousarray(pred))[None, None].float()
    return float(compute_surface_dice(y_pred, y, [tolerance], include_background=True,
                                      spacing=[float(s) for s in spacing], use_subvoxels=True)[0, 0])


def deepmind_metrics(ref, pred, spacing, tolerance):
    distances = deepmind.compute_surface_distances(ref, pred, tuple(float(s) for s in spacing))
    return (deepmind.compute_surface_dice_at_tolerance(distances, tolerance),
            deepmind.compute_robust_hausdorff(distances, 95))


def assert_matches_oracles(ref, pred, spacing, tolerance, monai=True):
    ours = binary_metrics(ref, pred, spacing, tolerance)
    nsd, hd95 = deepmind_metrics(ref, pred, spacing, tolerance)
    assert ours["nsd"] == pytest.approx(nsd, abs=1e-9)
    assert ours["hd95"] == pytest.approx(hd95, abs=1e-9)
    if monai:
        assert ours["nsd"] == pytest.approx(monai_nsd(ref, pred, spacing, tolerance), abs=2e-6)
    return ours


@pytest.fixture(params=["transform", "tree"])
def distance_path(request, monkeypatch):
    """Run a test through both distance computations (dense transform and k-d tree)."""
    monkeypatch.setattr(metrics, "TREE_MIN_POINTS", 10**12 if request.param == "transform" else 0)
    return request.param


def random_blobs(rng, shape, density, grow):
    return ndimage.binary_dilation(rng.random(shape) < density, iterations=grow)


@pytest.mark.parametrize("seed", range(8))
def test_random_blobs_anisotropic(seed, distance_path):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(8, 40, 3))
    spacing = tuple(float(s) for s in rng.uniform(0.3, 5.0, 3))
    ref = random_blobs(rng, shape, 0.02, 2)
    pred = ndimage.binary_dilation(ref, iterations=int(rng.integers(0, 3))) ^ (rng.random(shape) < 0.03)
    pred[0] |= ref[0] if seed % 2 else False  # sometimes touch the array border
    tolerance = float(rng.choice([0.5, 1.0, 2.0, 4.0]))
    ours = assert_matches_oracles(ref, pred, spacing, tolerance)
    assert 0.0 <= ours["nsd"] <= 1.0


@pytest.mark.parametrize("tolerance", [0.0, 0.99, 1.0, 3.0])
def test_tolerance_boundary_is_inclusive_like_the_oracles(tolerance, distance_path):
    # Shifted by exactly one 1-mm voxel: distances of exactly 1.0 mm sit on the boundary.
    ref = np.zeros((12, 12, 12), bool)
    ref[3:8, 3:8, 3:8] = True
    pred = np.roll(ref, 1, axis=1)
    ours = assert_matches_oracles(ref, pred, (1.0, 1.0, 1.0), tolerance)
    if tolerance >= 1.0:
        assert ours["nsd"] > 0.9


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (5.0, 0.7, 0.7), (0.6, 0.6, 3.0)])
def test_thin_structures(spacing, distance_path):
    shape = (16, 20, 18)
    plate = np.zeros(shape, bool)
    plate[8, 2:18, 3:15] = True  # one voxel thick
    line = np.zeros(shape, bool)
    line[2:14, 10, 9] = True  # one voxel wide tube
    dot = np.zeros(shape, bool)
    dot[5, 5, 5] = True
    assert_matches_oracles(plate, np.roll(plate, 1, axis=0), spacing, 1.0)
    assert_matches_oracles(line, np.roll(line, 1, axis=2), spacing, 2.0)
    assert_matches_oracles(line, plate, spacing, 1.0)
    assert_matches_oracles(dot, dot, spacing, 0.0)
    assert_matches_oracles(dot, np.roll(dot, 3, axis=1), spacing, 1.0)


def test_far_apart_structures_have_zero_nsd_and_large_hd95():
    ref = np.zeros((10, 40, 10), bool)
    ref[2:5, 2:5, 2:5] = True
    pred = np.zeros_like(ref)
    pred[2:5, 30:33, 2:5] = True
    ours = assert_matches_oracles(ref, pred, (2.0, 1.5, 2.0), 1.0)
    assert ours["nsd"] == 0.0 and ours["dice"] == 0.0
    assert ours["hd95"] > 28 * 1.5 * 0.9


def _read(name):
    image = sitk.ReadImage(str(DATA / name))
    return sitk.GetArrayFromImage(image)


def _perturbed(labels, rng):
    """A plausible 'prediction': each label shifted, eroded or dilated a little."""
    pred = np.zeros_like(labels)
    for value in np.unique(labels)[1:]:
        mask = labels == value
        action = rng.integers(0, 3)
        if action == 0:
            mask = np.roll(mask, int(rng.choice([-1, 1])), axis=int(rng.integers(0, 3)))
        elif action == 1:
            mask = ndimage.binary_erosion(mask)
        else:
            mask = ndimage.binary_dilation(mask) & (pred == 0)
        pred[mask] = value
    return pred


@pytest.mark.parametrize("name,spacing", [("example_seg.nii.gz", (3.0, 3.0, 3.0)),
                                          ("example_seg.nii.gz", (3.0, 0.8, 1.2)),
                                          ("example_seg_mr.nii.gz", (5.0, 0.9, 0.9))])
def test_real_multilabel_volumes(name, spacing):
    ref = _read(name)
    rng = np.random.default_rng(11)
    pred = _perturbed(ref, rng)
    values = [int(v) for v in np.unique(ref)[1:]]
    tolerances = {v: float(rng.choice([1.0, 2.0, 3.0])) for v in values}
    ours = label_map_metrics(ref, pred, spacing, values, tolerances)
    assert len(ours) == len(values) > 20
    for value in values:
        r, p = ref == value, pred == value
        if not p.any():  # erosion removed a tiny structure: covered by the empty-mask tests
            assert ours[value]["hd95"] == float("inf")
            continue
        nsd, hd95 = deepmind_metrics(r, p, spacing, tolerances[value])
        assert ours[value]["nsd"] == pytest.approx(nsd, abs=1e-9), value
        assert ours[value]["hd95"] == pytest.approx(hd95, abs=1e-9), value
        assert ours[value]["dice"] == pytest.approx(2 * (r & p).sum() / (r.sum() + p.sum()))
    # MONAI on a sample of labels (it is slower): the same NSD.
    for value in values[:: max(1, len(values) // 6)]:
        r, p = ref == value, pred == value
        if p.any():
            assert ours[value]["nsd"] == pytest.approx(monai_nsd(r, p, spacing, tolerances[value]), abs=2e-6)


def test_tree_and_transform_distances_are_bit_identical():
    rng = np.random.default_rng(21)
    for spacing in [(1.0, 1.0, 1.0), (2.5, 0.8, 0.8), (0.7, 1.3, 3.1)]:
        a = random_blobs(rng, (30, 40, 35), 0.01, 2)
        b = random_blobs(rng, (30, 40, 35), 0.01, 2)
        np.testing.assert_array_equal(metrics._distances_by_tree(a, b, spacing),
                                      metrics._distances_by_transform(a, b, spacing))


def test_large_structure_uses_the_tree_and_matches_the_oracle():
    # A 70x90x80 organ: its crop exceeds TREE_MIN_POINTS, so the default path is the k-d tree.
    z, y, x = np.ogrid[:74, :94, :84]
    ref = ((z - 37) / 34) ** 2 + ((y - 47) / 44) ** 2 + ((x - 42) / 39) ** 2 <= 1
    pred = np.roll(ndimage.binary_erosion(ref), 2, axis=1)
    assert (ref.size + 1) > metrics.TREE_MIN_POINTS
    assert_matches_oracles(ref, pred, (2.5, 0.8, 0.8), 1.0, monai=False)
