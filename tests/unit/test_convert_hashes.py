"""Content hashes hash what the data is: storage changes keep them, data changes move them."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
import SimpleITK as sitk

from segbook.catalog.content import file_hashes, image_hashes
from segbook.convert.prepare import PrepareOptions, prepare_dataset
from segbook.core.hashing import image_content_hash
from segbook.core.nifti import nifti_problem
from segbook.core.splits import make_split
from tests.helpers.fakes import load_copy, nnunet_tree, volume, write

pytestmark = pytest.mark.unit


def _regzip(path, level: int) -> None:
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data, compresslevel=level, mtime=0))


def test_recompressing_keeps_every_hash(tmp_path):
    path = write(volume(1), tmp_path / "a.nii.gz")
    before, raw_before = file_hashes(path), path.read_bytes()
    _regzip(path, 1)
    fast = path.read_bytes()
    _regzip(path, 9)
    assert len({raw_before, fast, path.read_bytes()}) == 3  # three different files on disk...
    assert file_hashes(path) == before  # ...one content
    sitk.WriteImage(sitk.ReadImage(str(path)), str(tmp_path / "a.nii"), False)
    assert file_hashes(tmp_path / "a.nii") == before


def test_content_hash_is_core_hashing_image_content_hash(tmp_path):
    path = write(volume(2), tmp_path / "b.nii.gz")
    assert file_hashes(path).content == image_content_hash(path)


def test_one_voxel_changes_the_voxel_hash_only():
    image = volume(3)
    before = image_hashes(image)
    image[1, 2, 3] = image[1, 2, 3] + 1
    after = image_hashes(image)
    assert after.voxels != before.voxels and after.geometry == before.geometry
    assert after.content != before.content


def test_origin_shift_changes_the_geometry_hash_only():
    image = volume(4)
    before = image_hashes(image)
    image.SetOrigin((0.0, 0.0, 0.001))
    after = image_hashes(image)
    assert after.geometry != before.geometry and after.voxels == before.voxels


def test_dtype_is_part_of_the_voxel_hash():
    image = volume(5)
    assert image_hashes(sitk.Cast(image, sitk.sitkInt32)).voxels != image_hashes(image).voxels


def test_a_recompressed_download_prepares_to_the_same_dataset(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 8)
    first = prepare_dataset(demo, raw, tmp_path / "out1", PrepareOptions(lock=True))
    for path in sorted(raw.rglob("*.nii.gz")):
        _regzip(path, 1)
    second = prepare_dataset(demo, raw, tmp_path / "out2")  # checked against the lock: no difference
    assert second.dataset_sha256 == first.dataset_sha256 and second.lock_sha256 == first.lock_sha256


def test_split_is_pinned_across_library_versions():
    """sha256-ordered split: these values are what every lock relies on; they must never move."""
    cases = [f"case_{i:03d}" for i in range(20)]
    split = make_split(cases, seed=12345)
    by_hash = sorted(cases, key=lambda c: hashlib.sha256(f"12345:{c}".encode()).hexdigest())
    assert split.test == tuple(sorted(by_hash[:4])) == ("case_003", "case_008", "case_011", "case_015")
    assert split.folds[0] == tuple(sorted(by_hash[4::5]))
    assert len(split.train) == 16 and [len(f) for f in split.folds] == [4, 3, 3, 3, 3]
    assert split.sha256 == make_split(list(reversed(cases)), seed=12345).sha256
    assert split.sha256 == "97f018c1e3a82cb42335e0b35e6ad3714a7233573369f2d800300c9e8b58912e"


def test_nifti_scan_matches_numpy_on_a_large_float_volume(tmp_path):
    """The streaming NaN check crosses 1 MiB block boundaries correctly."""

    array = np.zeros((80, 64, 64), np.float32)  # 1.25 MiB of voxels
    image = sitk.GetImageFromArray(array)
    path = write(image, tmp_path / "big.nii.gz")
    assert nifti_problem(path) is None
    array[-1, -1, -1] = np.nan  # the very last voxel, in the second block
    write(sitk.GetImageFromArray(array), path)
    assert nifti_problem(path) == "has NaN or infinite voxels"
