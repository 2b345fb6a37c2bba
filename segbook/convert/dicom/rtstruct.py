"""The label map of a case from its RTSTRUCT objects, rasterised onto the grid of the image series they reference.

An RTSTRUCT holds outlines, not voxels: each CLOSED_PLANAR contour is a polygon of points in patient
millimetres (LPS, the frame of reference of the image). Each point goes to a continuous voxel index
through the reference image's own TransformPhysicalPointToContinuousIndex (so spacing, origin and
orientation are the image's, as SimpleITK read them; index k is the centre of voxel k); the contour must
lie on one slice plane (within a quarter slice). The polygon is filled with skimage.draw.polygon, whose
rule is the one wanted here: a voxel is inside when its centre is inside the polygon (a centre exactly on
an edge may go either way; outlines drawn between voxel centres, as find_contours at 0.5 draws them,
never pass through one). POINT and OPEN_PLANAR contours enclose nothing and are ignored.

Contours of one ROI on one slice are combined by XOR: a contour inside another is a hole, one inside a
hole an island again (how RT tools store holes without marking them). The rest is label_map.py's: ROIs not
named in the manifest are ignored, where ROIs overlap the higher value wins, readers "union"/"first".
"""

from __future__ import annotations

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from skimage.draw import polygon

from segbook.convert.dicom.cases import NameMap
from segbook.convert.dicom.index import LabelObject, SeriesInfo
from segbook.convert.dicom.label_map import case_label
from segbook.core.errors import InvalidInput

PLANE_TOLERANCE = 0.25  # slices: how far a contour's points may lie from the slice plane they are drawn on


def _read(obj: LabelObject, case: str) -> Dataset:
    try:
        return pydicom.dcmread(obj.path)
    except Exception as exc:  # pydicom raises many kinds on a broken file; each means "unreadable"
        raise InvalidInput(f"case {case}: {obj.path} cannot be read as an RTSTRUCT: {str(exc)[:200]}",
                           hint="is the download complete?") from None


def _roi_values(ds: Dataset, names: NameMap) -> dict[int, int]:
    """ROINumber -> label value, for the ROIs whose name the manifest names."""
    values = {}
    for roi in ds.get("StructureSetROISequence") or []:
        value = names.value(str(roi.get("ROIName", "")))
        if value and roi.get("ROINumber") is not None:
            values[int(roi.ROINumber)] = value
    return values


def _contour_indices(contour: Dataset, reference: sitk.Image, where: str) -> np.ndarray | None:
    """The contour's points as continuous (x, y, z) voxel indices, or None when it encloses nothing."""
    if str(contour.get("ContourGeometricType", "")).upper() != "CLOSED_PLANAR":
        return None
    try:
        points = np.asarray([float(v) for v in contour.get("ContourData") or []]).reshape(-1, 3)
    except ValueError:
        raise InvalidInput(f"{where}: ContourData is not a list of (x, y, z) points") from None
    if len(points) < 3:
        return None
    return np.array([reference.TransformPhysicalPointToContinuousIndex(tuple(map(float, p))) for p in points])


def _slice_of(indices: np.ndarray, depth: int, where: str) -> int:
    """The slice a contour is drawn on; it must lie in one slice plane of the image."""
    z = indices[:, 2]
    k = round(float(np.mean(z)))
    if np.abs(z - k).max() > PLANE_TOLERANCE:
        raise InvalidInput(f"{where}: a contour does not lie on a slice of the image (z index {z.min():.2f} to "
                           f"{z.max():.2f})", hint="the RTSTRUCT must be drawn on the series it references")
    if not 0 <= k < depth:
        raise InvalidInput(f"{where}: a contour lies on slice {k}, outside the image's 0..{depth - 1}",
                           hint="the RTSTRUCT must be drawn on the series it references")
    return k


def _roi_mask(item: Dataset, reference: sitk.Image, shape: tuple[int, int, int], where: str) -> np.ndarray:
    """One ROI's voxels: each slice's contours filled (voxel centres inside) and combined by XOR."""
    mask = np.zeros(shape, dtype=bool)
    for contour in item.get("ContourSequence") or []:
        indices = _contour_indices(contour, reference, where)
        if indices is None:
            continue
        k = _slice_of(indices, shape[0], where)
        rows, cols = polygon(indices[:, 1], indices[:, 0], shape=shape[1:])
        filled = np.zeros(shape[1:], dtype=bool)
        filled[rows, cols] = True
        mask[k] ^= filled
    return mask


def _object_label(obj: LabelObject, reference: sitk.Image, series: SeriesInfo, names: NameMap,
                  shape: tuple[int, int, int], case: str) -> np.ndarray:
    """One RTSTRUCT's label map: each named ROI its value, the higher value where ROIs overlap."""
    out = np.zeros(shape, dtype=np.uint16)
    ds = _read(obj, case)
    values = _roi_values(ds, names)
    for item in ds.get("ROIContourSequence") or []:
        number = item.get("ReferencedROINumber")
        value = values.get(int(number)) if number is not None else None
        if value:
            mask = _roi_mask(item, reference, shape, f"case {case}: {obj.path} ROI {number}")
            out[mask] = np.maximum(out[mask], value)
    return out


def rtstruct_label(objects: list[LabelObject], reference: sitk.Image, series: SeriesInfo, names: dict[str, int],
                   readers: str, case: str) -> sitk.Image:
    """The case's label map (uint16, `reference`'s geometry) from the RTSTRUCT objects drawn on `series`."""
    return case_label(objects, reference, series, names, readers, case, _object_label)
