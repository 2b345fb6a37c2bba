"""Real DICOM files from numpy arrays, for the tests: CT/MR series, DICOM-SEG (highdicom) and RTSTRUCT (pydicom).

Everything the kit reads comes from the headers, so the writers give each file what a scanner or a
segmentation tool would (UIDs, patient/study attributes, positions, orientation, spacing, rescale) and
name the slice files in no slice order: a test passes only if the reader sorts by header, not by name.
Arrays are (z, y, x); `spacing` and `origin` are (x, y, z) as SimpleITK gives them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid
from skimage.measure import find_contours

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
STUDY_COMPONENT = "1.2.840.10008.3.1.2.3.1"  # what RTReferencedStudySequence items reference
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _file_meta(sop_class: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _ds(value: float) -> str:
    """A decimal string DICOM accepts (at most 16 characters), precise to far below a micrometre here."""
    text = format(float(value), ".10g")
    return "0" if text == "-0" else text


def _patient_study(ds: Dataset, patient_id: str, study_uid: str, study_date: str) -> None:
    ds.PatientID = patient_id
    ds.PatientName = f"Anon^{patient_id}"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyID = "1"
    ds.StudyDate = study_date
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""


def write_ct_series(volume_zyx: np.ndarray, folder: Path, *, patient_id: str,
                    spacing: Sequence[float] = (1.0, 1.0, 1.0), origin: Sequence[float] = (0.0, 0.0, 0.0),
                    study_uid: str | None = None, modality: str = "CT",
                    series_number: int = 1, shuffle_names: bool = True, study_date: str = "20200101",
                    series_description: str = "", orientation: Sequence[float] = AXIAL, intercept: int = 0,
                    echo_time: float | None = None, frame_of_reference_uid: str | None = None,
                    seed: int = 0) -> list[Path]:
    """One image series, a file per slice, in `folder`; returns the files in slice (z) order.

    Slice k lies at origin + k * spacing_z * (row x col). Stored values are volume - intercept with
    RescaleIntercept `intercept` (slope 1), so a reader that ignores the rescale reads wrong values.
    With shuffle_names the files are called 1-NNN.dcm with NNN a shuffled number (and written in that order)."""
    volume = np.asarray(volume_zyx)
    stored = volume.astype(np.int64) - intercept
    if stored.min(initial=0) < -32768 or stored.max(initial=0) > 32767:
        raise ValueError("volume - intercept does not fit int16")
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), frame_of_reference_uid or generate_uid()
    row, col = np.array(orientation[:3], float), np.array(orientation[3:], float)
    normal = np.cross(row, col)
    numbers = list(range(1, len(volume) + 1))
    if shuffle_names:
        random.Random(f"{patient_id}/{series_number}/{seed}").shuffle(numbers)
    paths = [folder / f"1-{n:03d}.dcm" for n in numbers]
    sop_class = MR_IMAGE if modality == "MR" else CT_IMAGE
    for z in sorted(range(len(volume)), key=numbers.__getitem__):  # write in name order, not slice order
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
        ds.file_meta = _file_meta(sop_class, ds.SOPInstanceUID)
        _patient_study(ds, patient_id, study_uid, study_date)
        ds.Modality = modality
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = series_uid, series_number, series_description
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_uid, ""
        ds.Manufacturer = "segbook tests"
        ds.InstanceNumber = z + 1  # InstanceNumber follows the position (CHAOS's PNGs rely on it)
        position = np.asarray(origin, float) + z * float(spacing[2]) * normal
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in orientation]
        ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]  # row spacing (y), then column spacing (x)
        ds.SliceThickness = _ds(spacing[2])
        ds.SpacingBetweenSlices = _ds(spacing[2])
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = _ds(intercept), "1", "HU" if modality == "CT" else "US"
        if echo_time is not None:
            ds.EchoTime = _ds(echo_time)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = stored[z].astype("<i2").tobytes()
        ds.save_as(paths[z], enforce_file_format=True)
    return paths


def _sorted_sources(series_files: Sequence[Path]) -> list[Dataset]:
    """The series' datasets in slice order (position along the normal), whatever order they were given in."""
    datasets = [pydicom.dcmread(p) for p in series_files]

    def along_normal(ds: Dataset) -> float:
        iop = np.array(ds.ImageOrientationPatient, float)
        return float(np.dot(np.array(ds.ImagePositionPatient, float), np.cross(iop[:3], iop[3:])))
    return sorted(datasets, key=along_normal)


def write_seg(masks: dict[str, np.ndarray], series_files: Sequence[Path], path: Path, algorithm: str = "MANUAL", *,
              series_number: int = 300, content_creator: str | None = "Reader^One", shuffle_frames: bool = True,
              omit_empty_frames: bool = True) -> Path:
    """A binary DICOM-SEG (highdicom) with one segment per mask, in the masks' order (numbers 1, 2, ...).

    The source images are handed over in a shuffled order (with the frames to match), so the SEG's frame
    order says nothing about slice order; empty frames are left out as most tools do."""
    sources = _sorted_sources(series_files)
    stack = np.stack([np.asarray(m, bool) for m in masks.values()], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    order = list(range(len(sources)))
    if shuffle_frames:
        random.Random(str(path)).shuffle(order)
    identification = None
    if algorithm != "MANUAL":
        identification = hd.AlgorithmIdentificationSequence(name="segbook test model", version="1.0",
                                                            family=codes.cid7162.ArtificialIntelligence)
    descriptions = [hd.seg.SegmentDescription(segment_number=k + 1, segment_label=name,
                                              segmented_property_category=codes.SCT.Tissue,
                                              segmented_property_type=codes.SCT.Tissue, algorithm_type=algorithm,
                                              algorithm_identification=identification)
                    for k, name in enumerate(masks)]
    seg = hd.seg.Segmentation(source_images=[sources[i] for i in order], pixel_array=stack[order],
                              segmentation_type="BINARY", segment_descriptions=descriptions,
                              series_instance_uid=generate_uid(), series_number=series_number,
                              sop_instance_uid=generate_uid(), instance_number=1, manufacturer="segbook tests",
                              manufacturer_model_name="dicom_writer", software_versions="1",
                              device_serial_number="1", content_creator_name=content_creator,
                              omit_empty_frames=omit_empty_frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def _slice_contours(mask_yx: np.ndarray, source: Dataset) -> list[list[str]]:
    """Closed contours of one slice's mask, as ContourData (x, y, z in patient mm, LPS).

    find_contours on the zero-padded mask at level 0.5 runs through the edge midpoints between voxel
    centres, so every voxel centre of the mask is inside and every other one outside (by >= 0.35 voxel)."""
    padded = np.pad(np.asarray(mask_yx, float), 1)
    iop = np.array(source.ImageOrientationPatient, float)
    row_dir, col_dir = iop[:3], iop[3:]  # direction of increasing column index, of increasing row index
    dy, dx = (float(v) for v in source.PixelSpacing)
    corner = np.array(source.ImagePositionPatient, float)
    contours = []
    for points in find_contours(padded, 0.5):
        r, c = points[:-1, 0] - 1.0, points[:-1, 1] - 1.0  # closed: the last point repeats the first
        mm = corner + np.outer(c * dx, row_dir) + np.outer(r * dy, col_dir)
        contours.append([_ds(v) for v in mm.ravel()])
    return contours


def write_rtstruct(masks: dict[str, np.ndarray], series_files: Sequence[Path], path: Path, *,
                   series_number: int = 300, algorithm: str = "MANUAL") -> Path:
    """An RT Structure Set with one ROI per mask (ROINumbers 1, 2, ...), a CLOSED_PLANAR contour per outline
    (holes are their own contours: a reader combines one slice's contours by XOR)."""
    sources = _sorted_sources(series_files)
    first = sources[0]
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = RT_STRUCTURE_SET, generate_uid()
    ds.file_meta = _file_meta(RT_STRUCTURE_SET, ds.SOPInstanceUID)
    _patient_study(ds, first.PatientID, first.StudyInstanceUID, first.StudyDate)
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "RTSTRUCT", generate_uid(), series_number
    ds.Manufacturer, ds.InstanceNumber = "segbook tests", 1
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "test", first.StudyDate, "120000"
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([_frame_reference(sources)])
    ds.StructureSetROISequence = DicomSequence()
    ds.ROIContourSequence = DicomSequence()
    for number, (name, mask) in enumerate(masks.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number, first.FrameOfReferenceUID
        roi.ROIName, roi.ROIGenerationAlgorithm = name, algorithm
        ds.StructureSetROISequence.append(roi)
        ds.ROIContourSequence.append(_roi_contours(number, np.asarray(mask, bool), sources))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _image_reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = source.SOPClassUID, source.SOPInstanceUID
    return item


def _frame_reference(sources: list[Dataset]) -> Dataset:
    """ReferencedFrameOfReferenceSequence item -> RTReferencedStudySequence -> RTReferencedSeriesSequence."""
    series = Dataset()
    series.SeriesInstanceUID = sources[0].SeriesInstanceUID
    series.ContourImageSequence = DicomSequence([_image_reference(s) for s in sources])
    study = Dataset()
    study.ReferencedSOPClassUID, study.ReferencedSOPInstanceUID = STUDY_COMPONENT, sources[0].StudyInstanceUID
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = sources[0].FrameOfReferenceUID
    frame.RTReferencedStudySequence = DicomSequence([study])
    return frame


def _roi_contours(number: int, mask: np.ndarray, sources: list[Dataset]) -> Dataset:
    item = Dataset()
    item.ReferencedROINumber = number
    item.ROIDisplayColor = [255, 0, 0]
    item.ContourSequence = DicomSequence()
    for z, source in enumerate(sources):
        for data in _slice_contours(mask[z], source):
            contour = Dataset()
            contour.ContourImageSequence = DicomSequence([_image_reference(source)])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(data) // 3
            contour.ContourData = data
            item.ContourSequence.append(contour)
    return item
