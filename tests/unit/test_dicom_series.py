"""DICOM image series found, ordered and read by header (segbook.convert.dicom.index and .series), and the
cached header index. Files are real DICOM written by tests/helpers/dicom_writer.py, named in no slice order."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from segbook.convert.dicom import index as index_module
from segbook.convert.dicom.index import cache_file, index_dicom_tree
from segbook.convert.dicom.layout import detect
from segbook.convert.dicom.series import read_series
from segbook.core.errors import InvalidInput
from tests.helpers.dicom_writer import write_ct_series

pytestmark = pytest.mark.unit

SHAPE = (6, 20, 24)  # z, y, x
SPACING = (0.8, 0.7, 2.5)  # x, y, z
ORIGIN = (-10.0, -20.0, 5.0)


def _volume(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-1000, 1500, size=SHAPE).astype(np.int16)


def _series(root: Path, seed: int = 0, **kwargs) -> list[Path]:
    folder = root / "LIDC-IDRI-0001" / "01-01-2000-NA-CT CHEST-30178" / "3000566.000000-NA-03192"
    options = {"patient_id": "LIDC-IDRI-0001", "spacing": SPACING, "origin": ORIGIN, **kwargs}
    return write_ct_series(_volume(seed), folder, **options)


def _only_series(root: Path, cache_dir: Path | None = None):
    index = index_dicom_tree(root, cache_dir)
    assert len(index.series) == 1, index.series
    return next(iter(index.series.values()))


def _scatter(files: list[Path], root: Path) -> None:
    """Move the slices into folders whose name order is unrelated to slice order, under names saying nothing."""
    rng = random.Random(7)
    for k, path in enumerate(rng.sample(files, len(files))):
        target = root / f"{'ba'[k % 2]}{rng.randint(0, 9)}" / f"{rng.getrandbits(32):08x}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)


def _noise(root: Path) -> None:
    """Files a reader must skip: text, a NIfTI-like blob, DICM at the wrong offset, a preamble with garbage."""
    (root / "README.txt").write_text("TCIA download\n")
    (root / "b0" / "image.nii.gz").parent.mkdir(parents=True, exist_ok=True)
    (root / "b0" / "image.nii.gz").write_bytes(os.urandom(600))
    (root / "a1" / "fake.dcm").parent.mkdir(parents=True, exist_ok=True)
    (root / "a1" / "fake.dcm").write_bytes(b"DICM" + os.urandom(300))
    (root / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(64))
    (root / "empty.dcm").write_bytes(b"")


def test_shuffled_slices_in_shuffled_folders_read_back(tmp_path):
    root = tmp_path / "raw"
    files = _series(root, intercept=-1024)  # stored values shifted: the rescale must be applied
    _scatter(files, root)
    _noise(root)
    series = _only_series(root)
    assert len(series.files) == SHAPE[0] and series.problem == ""
    assert series.modality == "CT" and series.patient_id == "LIDC-IDRI-0001"
    image = read_series(series, "c1")
    assert np.array_equal(sitk.GetArrayFromImage(image), _volume())
    assert np.allclose(image.GetSpacing(), SPACING) and np.allclose(image.GetOrigin(), ORIGIN)
    assert np.allclose(image.GetDirection(), np.eye(3).ravel())
    numbers = [int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber) for p in series.files]
    assert numbers == list(range(1, SHAPE[0] + 1))  # files in position order
    assert [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in series.files] == list(
        series.sop_uids)


def test_oblique_orientation_ordered_along_its_normal(tmp_path):
    """Sagittal-ish slices stacked along -x: the sort key is the position along cross(row, col), not z."""
    c, s = np.cos(0.3), np.sin(0.3)
    orientation = (0.0, c, s, 0.0, -s, c)  # rows along y/z, columns along -z/y; normal = (1, 0, 0)
    _series(tmp_path, orientation=orientation)
    image = read_series(_only_series(tmp_path), "c1")
    assert np.array_equal(sitk.GetArrayFromImage(image), _volume())
    direction = np.array(image.GetDirection()).reshape(3, 3)
    assert np.allclose(direction[:, 0], orientation[:3]) and np.allclose(direction[:, 1], orientation[3:])
    assert np.allclose(image.GetSpacing(), SPACING)


def test_non_dicom_tree_is_not_detected(tmp_path):
    _noise(tmp_path)
    assert index_dicom_tree(tmp_path, None).series == {}
    (tmp_path / "broken.dcm").unlink()  # detect looks no further than the preamble: this one would count
    assert not detect(tmp_path, {})
    _series(tmp_path / "later")
    assert detect(tmp_path, {})


def _copy_slice(source: Path, target: Path, **changes) -> Path:
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def test_duplicate_slice_position_is_refused_naming_the_file(tmp_path):
    files = _series(tmp_path)
    copy = _copy_slice(files[3], tmp_path / "zz" / "copy.dcm")
    cache = tmp_path.parent / f"{tmp_path.name}-cache"
    fresh = _only_series(tmp_path, cache)  # indexing succeeds: only using the series fails
    cached = _only_series(tmp_path, cache)
    assert cached == fresh and str(tmp_path) not in cache_file(tmp_path, cache).read_text()  # no absolute path
    for series in (fresh, cached):
        with pytest.raises(InvalidInput) as err:
            read_series(series, "LIDC-IDRI-0001")
        assert "case LIDC-IDRI-0001" in err.value.message and str(copy) in err.value.message
        assert "one position" in err.value.message and series.series_uid in err.value.message


def test_uneven_gaps_and_mixed_orientations_are_refused(tmp_path):
    files = _series(tmp_path / "gap")
    files[2].unlink()  # a missing slice
    with pytest.raises(InvalidInput, match=r"uneven slice gaps.*before .*1-\d{3}\.dcm"):
        read_series(_only_series(tmp_path / "gap"), "c1")
    files = _series(tmp_path / "tilt", seed=1)
    odd = _copy_slice(files[1], files[1], ImageOrientationPatient=[1, 0, 0, 0, 0.9, 0.4359])
    with pytest.raises(InvalidInput, match="mixes slice orientations") as err:
        read_series(_only_series(tmp_path / "tilt"), "c2")
    assert str(odd) in err.value.message


def test_truncated_slice_names_the_case_and_the_file(tmp_path):
    files = _series(tmp_path)
    with open(files[4], "r+b") as handle:
        handle.truncate(files[4].stat().st_size - 400)
    with pytest.raises(InvalidInput) as err:
        read_series(_only_series(tmp_path), "case7")
    assert err.value.message.startswith("case case7: ") and str(files[4]) in err.value.message


class _Counter:
    """Counts header reads: index._header replaced by one that counts and delegates."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = index_module._header

        def counting(path):
            self.calls += 1
            return original(path)
        monkeypatch.setattr(index_module, "_header", counting)


def test_index_cache_reused_until_a_file_changes(tmp_path, monkeypatch):
    root, cache = tmp_path / "raw", tmp_path / "out" / ".cache"
    files = _series(root)
    _noise(root)
    first = index_dicom_tree(root, cache)
    stored = cache_file(root, cache)
    data = json.loads(stored.read_text())
    assert data["format"] == index_module.CACHE_FORMAT and len(data["tree_sha256"]) == 64
    assert all(not Path(p).is_absolute() for s in data["series"] for p in s["files"])  # relative to root
    assert [p.name for p in cache.iterdir()] == [stored.name]  # written atomically: no temp file left
    counter = _Counter(monkeypatch)
    assert index_dicom_tree(root, cache) == first and counter.calls == 0  # reused
    os.utime(files[0], ns=(files[0].stat().st_atime_ns, files[0].stat().st_mtime_ns + 1_000_000))
    assert index_dicom_tree(root, cache) == first and counter.calls > 0  # rebuilt: a file changed
    calls = counter.calls
    (root / "new.txt").write_text("x")
    index_dicom_tree(root, cache)
    assert counter.calls > calls  # rebuilt: a file was added
    calls = counter.calls
    index_dicom_tree(root, cache)
    assert counter.calls == calls


def test_corrupt_or_tampered_cache_is_rebuilt(tmp_path, monkeypatch):
    root, cache = tmp_path / "raw", tmp_path / "cache"
    _series(root)
    first = index_dicom_tree(root, cache)
    stored = cache_file(root, cache)
    counter = _Counter(monkeypatch)
    stored.write_text("{not json")
    assert index_dicom_tree(root, cache) == first and counter.calls > 0
    assert json.loads(stored.read_text())["format"] == index_module.CACHE_FORMAT  # rewritten
    data = json.loads(stored.read_text())
    data["series"][0]["files"][0] = "../../etc/passwd"  # a path outside the tree: the cache is not trusted
    stored.write_text(json.dumps(data))
    calls = counter.calls
    assert index_dicom_tree(root, cache) == first and counter.calls > calls


def test_cache_inside_the_tree_does_not_invalidate_itself(tmp_path, monkeypatch):
    _series(tmp_path)
    cache = tmp_path / ".cache"
    first = index_dicom_tree(tmp_path, cache)
    counter = _Counter(monkeypatch)
    assert index_dicom_tree(tmp_path, cache) == first and counter.calls == 0
