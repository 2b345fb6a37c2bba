"""DICOM-SEG and RTSTRUCT labels rasterised onto the series they reference (segbook.convert.dicom.seg, .rtstruct),
named by the manifest, combined over readers, and paired with their series into cases (.cases, .layout).

Round trips are exact: SEG stores voxels; the RTSTRUCT writer draws outlines between voxel centres
(find_contours at 0.5), so filling by "voxel centre inside" gives back exactly the voxels drawn."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from segbook.convert.dicom.cases import NameMap, dicom_cases, label_names
from segbook.convert.dicom.index import index_dicom_tree
from segbook.convert.dicom.layout import discover, read_case
from segbook.convert.dicom.rtstruct import rtstruct_label
from segbook.convert.dicom.seg import seg_label
from segbook.convert.dicom.series import read_series
from segbook.core.errors import InvalidInput
from tests.helpers.dicom_writer import write_ct_series, write_rtstruct, write_seg

pytestmark = pytest.mark.unit

SHAPE = (6, 20, 24)  # z, y, x
SPACING = (0.8, 0.7, 2.5)
ORIGIN = (-10.0, -20.0, 5.0)
NAMES = {"liver": 1, "tumou?r.*": 2}


def _masks() -> dict[str, np.ndarray]:
    """Liver: a block with a hole (and an island in the hole); Tumor: a disc overlapping it; Couch: not named."""
    z, y, x = np.indices(SHAPE)
    liver = (z >= 1) & (z < 5) & (y >= 3) & (y < 15) & (x >= 4) & (x < 18)
    liver &= ~((z >= 2) & (z < 4) & (y >= 6) & (y < 11) & (x >= 7) & (x < 13))
    liver[3, 8:9, 9:11] = True
    tumor = ((y - 13) ** 2 + (x - 16) ** 2 <= 16) & (z >= 2) & (z < 5)
    couch = (y >= 18) & (z < 6)
    return {"Liver": liver, "Tumor_1": tumor, "Couch": couch}


def _expected(masks: dict[str, np.ndarray]) -> np.ndarray:
    out = np.zeros(SHAPE, dtype=np.uint16)
    out[masks["Liver"]] = 1
    out[masks["Tumor_1"]] = 2  # the higher value wins where they overlap
    return out


def _series(root: Path, patient: str = "P1", *, date: str = "20200101", number: int = 3, modality: str = "CT",
            **kwargs) -> list[Path]:
    folder = root / patient / f"{date}-NA-STUDY" / f"{number}.000000-NA-{number}"
    volume = np.random.default_rng(number).integers(-100, 300, size=SHAPE).astype(np.int16)
    return write_ct_series(volume, folder, patient_id=patient, spacing=SPACING, origin=ORIGIN, study_date=date,
                           series_number=number, modality=modality, **kwargs)


def _spec(obj: str = "SEG", names=None, readers: str = "union", exclude_automatic: bool = True, modality="CT"):
    return {"kind": "dicom", "name": "test", "image": {"modality": modality},
            "label": {"object": obj, "names": names or NAMES, "readers": readers,
                      "exclude_automatic": exclude_automatic}}


def _label(root: Path, spec: dict) -> np.ndarray:
    (case,) = dicom_cases(index_dicom_tree(root, None), spec)
    image = read_series(case.series, case.case_id)
    build = seg_label if spec["label"]["object"] == "SEG" else rtstruct_label
    label = build(list(case.labels), image, case.series, spec["label"]["names"], spec["label"]["readers"],
                  case.case_id)
    assert label.GetPixelID() == sitk.sitkUInt16
    assert label.GetSize() == image.GetSize() and label.GetOrigin() == image.GetOrigin()
    assert label.GetSpacing() == image.GetSpacing() and label.GetDirection() == image.GetDirection()
    return sitk.GetArrayFromImage(label)


def test_seg_round_trip_is_exact(tmp_path):
    files = _series(tmp_path)
    masks = _masks()
    write_seg(masks, files, tmp_path / "P1" / "seg" / "1-1.dcm")  # frames shuffled, empty ones left out
    assert np.array_equal(_label(tmp_path, _spec()), _expected(masks))


def test_seg_without_source_references_is_placed_by_geometry(tmp_path):
    files = _series(tmp_path)
    masks = _masks()
    path = write_seg(masks, files, tmp_path / "P1" / "seg" / "1-1.dcm")
    ds = pydicom.dcmread(path)
    for frame in ds.PerFrameFunctionalGroupsSequence:
        del frame.DerivationImageSequence
    ds.save_as(path)
    assert np.array_equal(_label(tmp_path, _spec()), _expected(masks))


@pytest.mark.parametrize("orientation", [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
                                         (np.cos(0.4), np.sin(0.4), 0.0, 0.0, 0.0, -1.0)])  # axial, oblique coronal
def test_rtstruct_round_trip_is_exact(tmp_path, orientation):
    files = _series(tmp_path, orientation=orientation)
    masks = _masks()
    path = write_rtstruct(masks, files, tmp_path / "P1" / "rt" / "1-1.dcm")
    liver = pydicom.dcmread(path).ROIContourSequence[0]
    assert len(liver.ContourSequence) == 4 + 2 + 1  # an outline on each of 4 slices, 2 holes, 1 island in a hole
    assert np.array_equal(_label(tmp_path, _spec("RTSTRUCT")), _expected(masks))


def test_names_match_exactly_then_case_insensitively_then_as_patterns():
    names = NameMap({"Liver": 1, "liver": 9, "tumou?r.*": 2, "GTV (primary": 3, "Portal( vein)?": 4})
    assert names.value("Liver") == 1 and names.value("liver") == 9  # exact first
    assert names.value("LIVER") == 1  # then case-insensitive: the first spelling in the manifest
    assert names.value("Tumor_2") == 2 and names.value("TUMOUR") == 2
    assert names.value("portal VEIN") == 4
    assert names.value("Liver Remnant") is None  # a pattern matches the whole name
    assert names.value("GTV (primary") == 3 and names.value("GTV primary") is None  # not a regex: literal only
    assert names.value("Couch") is None


def test_readers_union_and_first(tmp_path):
    files = _series(tmp_path)
    one, two = np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)
    one[1:3, 2:8, 2:8] = True
    two[2:5, 5:12, 5:12] = True
    write_seg({"Couch": two}, files, tmp_path / "P1" / "s299" / "1-1.dcm", series_number=299)  # names nothing
    write_seg({"Liver": one}, files, tmp_path / "P1" / "s300" / "1-1.dcm", series_number=300)
    write_seg({"Liver": two, "Tumor": one & two}, files, tmp_path / "P1" / "s301" / "1-1.dcm", series_number=301)
    union = np.where(one & two, 2, np.where(one | two, 1, 0))
    assert np.array_equal(_label(tmp_path, _spec(readers="union")), union)
    assert np.array_equal(_label(tmp_path, _spec(readers="first")), one.astype(np.uint16))
    with pytest.raises(InvalidInput, match="readers"):
        _label(tmp_path, _spec(readers="majority"))


def test_automatic_seg_is_excluded_when_asked(tmp_path):
    files = _series(tmp_path)
    manual, automatic = np.zeros(SHAPE, bool), np.zeros(SHAPE, bool)
    manual[1:3, 2:8, 2:8] = True
    automatic[3:5, 9:15, 9:15] = True
    write_seg({"Liver": manual}, files, tmp_path / "P1" / "manual" / "1-1.dcm")
    write_seg({"Liver": automatic}, files, tmp_path / "P1" / "ai" / "1-1.dcm", algorithm="AUTOMATIC")
    index = index_dicom_tree(tmp_path, None)
    assert sorted(o.algorithm_type for o in index.labels) == ["AUTOMATIC", "MANUAL"]
    assert np.array_equal(_label(tmp_path, _spec()), manual.astype(np.uint16))
    assert np.array_equal(_label(tmp_path, _spec(exclude_automatic=False)), (manual | automatic).astype(np.uint16))
    other = _series(tmp_path, "P2")
    write_seg({"Liver": manual}, other, tmp_path / "P2" / "ai" / "1-1.dcm", algorithm="AUTOMATIC")
    assert [c.case_id for c in dicom_cases(index_dicom_tree(tmp_path, None), _spec())] == ["P1"]


def test_no_named_segment_lists_the_names_found(tmp_path):
    files = _series(tmp_path)
    write_seg({"Couch": _masks()["Couch"], "Lung_L": _masks()["Liver"]}, files, tmp_path / "P1" / "seg" / "1.dcm")
    with pytest.raises(InvalidInput) as err:
        _label(tmp_path, _spec())
    assert err.value.message.startswith("case P1: ") and "Couch, Lung_L" in err.value.message


def test_case_ids_groups_and_pairing(tmp_path):
    mask = _masks()["Liver"]
    labelled = {("A", "20200101", 3), ("A", "20210101", 3), ("B", "20200101", 3), ("B", "20200101", 4),
                ("C", "20190505", 2)}
    for patient, date, number in sorted(labelled):
        files = _series(tmp_path, patient, date=date, number=number)
        write_seg({"Liver": mask}, files, tmp_path / patient / f"{date}-NA-STUDY" / f"seg-{number}" / "1-1.dcm")
    _series(tmp_path, "C", date="20190505", number=5)  # referenced by no SEG: not a case
    mr = _series(tmp_path, "D", modality="MR")  # labelled, but the manifest wants CT
    write_seg({"Liver": mask}, mr, tmp_path / "D" / "seg" / "1-1.dcm")
    index = index_dicom_tree(tmp_path, None)
    cases = dicom_cases(index, _spec())
    assert [(c.case_id, c.group) for c in cases] == [("A_20200101", "A"), ("A_20210101", "A"),
                                                     ("B_20200101_3", "B"), ("B_20200101_4", "B"), ("C", "C")]
    for case in cases:
        assert all(o.referenced_series_uid == case.series.series_uid for o in case.labels)
    assert label_names(index) == ["Liver"] and label_names(index, "RTSTRUCT") == []


def test_seg_of_a_missing_series_is_refused_naming_the_file(tmp_path):
    files = _series(tmp_path / "elsewhere")
    seg = write_seg({"Liver": _masks()["Liver"]}, files, tmp_path / "raw" / "P1" / "seg" / "1-1.dcm")
    _series(tmp_path / "raw", "P1", number=4)  # another series of the patient: not the referenced one
    uid = str(pydicom.dcmread(seg, stop_before_pixels=True).ReferencedSeriesSequence[0].SeriesInstanceUID)
    with pytest.raises(InvalidInput) as err:
        dicom_cases(index_dicom_tree(tmp_path / "raw", None), _spec())
    assert str(seg) in err.value.message and uid in err.value.message


def test_layout_discover_and_read_case(tmp_path):
    files = _series(tmp_path)
    masks = _masks()
    rt = write_rtstruct(masks, files, tmp_path / "P1" / "rt" / "1-1.dcm")
    write_rtstruct({"Liver": masks["Couch"]}, files, tmp_path / "P1" / "rt2" / "1-1.dcm", series_number=301)
    manifest = SimpleNamespace(num_channels=1, task_id="Task999_Test")
    spec = _spec("RTSTRUCT", readers="first")
    (raw,) = discover(tmp_path, spec, manifest, tmp_path / "cache")
    assert raw.case_id == "P1" and raw.group == "P1" and raw.reader == "dicom" and raw.label == rt
    assert set(raw.files) == {*files, rt, tmp_path / "P1" / "rt2" / "1-1.dcm"}
    images, label = read_case(raw, manifest, spec)
    assert len(images) == 1 and np.array_equal(sitk.GetArrayFromImage(label), _expected(masks))
    with pytest.raises(InvalidInput, match="2 channels"):
        read_case(raw, SimpleNamespace(num_channels=2, task_id="Task999_Test"), spec)
    with pytest.raises(InvalidInput, match="no SEG object"):
        discover(tmp_path, _spec("SEG"), manifest, None)
