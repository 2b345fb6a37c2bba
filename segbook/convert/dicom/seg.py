"""The label map of a case from its DICOM-SEG objects (highdicom), on the grid of the image series they reference.

Frames are placed by the source image each was derived from (its SOP Instance UID, matched against the
series' slices in position order), never by frame order: tools write frames in any order and leave
empty ones out. A SEG whose frames do not name their source images is placed by geometry instead (its
plane positions, nearest voxel). Fractional SEGs count a voxel in when its value is at least 0.5.

Rules, the same as for RTSTRUCT (rtstruct.py):
- a segment whose label is not among the manifest's names (cases.NameMap) is ignored;
- where segments of one object overlap, the higher label value wins;
- readers "union": a voxel gets the highest value any of the case's objects gives it; "first": only the
  first object by (series number, path) counts (cases.chosen_objects; applied in label_map.py).
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import SimpleITK as sitk

from segbook.convert.dicom.cases import NameMap
from segbook.convert.dicom.index import LabelObject, SeriesInfo
from segbook.convert.dicom.label_map import case_label
from segbook.core.errors import InvalidInput

INSIDE = 0.5  # fractional SEGs: occupancy/probability from which a voxel is inside


def _read(obj: LabelObject, case: str) -> hd.seg.Segmentation:
    try:
        return hd.seg.segread(obj.path)
    except Exception as exc:  # highdicom/pydicom raise many kinds on a broken file; each means "unreadable"
        raise InvalidInput(f"case {case}: {obj.path} cannot be read as a DICOM-SEG: {str(exc)[:200]}",
                           hint="is the download complete?") from None


def _segment_values(seg: hd.seg.Segmentation, names: NameMap) -> list[tuple[int, int]]:
    """(segment number, label value) of each segment whose label the manifest names, by ascending value."""
    found = [(int(item.SegmentNumber), names.value(str(item.get("SegmentLabel", "")))) for item in seg.SegmentSequence]
    return sorted(((number, value) for number, value in found if value), key=lambda nv: nv[1])


def _dtype(seg: hd.seg.Segmentation) -> type:
    """uint8 for binary and labelmap SEGs (a fraction of the memory), float32 where values are fractions."""
    return np.float32 if str(seg.get("SegmentationType", "")).upper() == "FRACTIONAL" else np.uint8


def _by_source(seg: hd.seg.Segmentation, number: int, series: SeriesInfo) -> np.ndarray:
    """(z, y, x) of one segment, its frames placed by the source instance each was derived from."""
    pixels = seg.get_pixels_by_source_instance(list(series.sop_uids), segment_numbers=[number],
                                               combine_segments=False, assert_missing_frames_are_empty=True,
                                               skip_overlap_checks=True, dtype=_dtype(seg))
    return pixels[..., 0]


def _volume_image(array: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A (slice, row, column) array with highdicom's index->LPS affine, as a SimpleITK image (x=column, y=row)."""
    axes = affine[:3, [2, 1, 0]]  # the patient-space step of a column, row, slice index
    spacing = np.linalg.norm(axes, axis=0)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    image.SetDirection([float(v) for v in (axes / spacing).ravel()])
    return image


def _by_geometry(seg: hd.seg.Segmentation, number: int, reference: sitk.Image) -> np.ndarray:
    """(z, y, x) of one segment, resampled (nearest voxel) from the SEG's plane positions onto the reference grid."""
    volume = seg.get_volume(segment_numbers=[number], combine_segments=False, dtype=_dtype(seg))
    array = np.ascontiguousarray(volume.array.reshape(volume.array.shape[:3]))
    moved = sitk.Resample(_volume_image(array, volume.affine), reference, sitk.Transform(),
                          sitk.sitkNearestNeighbor, 0.0)
    return sitk.GetArrayFromImage(moved)


def _segment(seg: hd.seg.Segmentation, number: int, series: SeriesInfo, reference: sitk.Image,
             obj: LabelObject, case: str) -> np.ndarray:
    """One segment's voxels (boolean, z, y, x) on the reference grid."""
    try:
        pixels = _by_source(seg, number, series)
    except (RuntimeError, ValueError, KeyError, AttributeError) as exc:  # e.g. frames without source references
        try:
            pixels = _by_geometry(seg, number, reference)
        except (RuntimeError, ValueError, KeyError, AttributeError) as again:
            raise InvalidInput(f"case {case}: the frames of {obj.path} cannot be placed on series "
                               f"{series.series_uid} ({str(exc)[:120]}; by position: {str(again)[:120]})") from None
    shape = tuple(reversed(reference.GetSize()))
    if pixels.shape != shape:
        raise InvalidInput(f"case {case}: {obj.path} has frames of {pixels.shape[2]}x{pixels.shape[1]} pixels, "
                           f"the series' slices are {shape[2]}x{shape[1]}")
    return pixels >= INSIDE


def _object_label(obj: LabelObject, reference: sitk.Image, series: SeriesInfo, names: NameMap,
                  shape: tuple[int, int, int], case: str) -> np.ndarray:
    """One SEG's label map: each named segment its value, the higher value where segments overlap."""
    out = np.zeros(shape, dtype=np.uint16)
    seg = _read(obj, case)
    for number, value in _segment_values(seg, names):  # ascending values: np.maximum lets the higher one win
        inside = _segment(seg, number, series, reference, obj, case)
        np.maximum(out, np.where(inside, value, 0).astype(np.uint16), out=out)
    return out


def seg_label(objects: list[LabelObject], reference: sitk.Image, series: SeriesInfo, names: dict[str, int],
              readers: str, case: str) -> sitk.Image:
    """The case's label map (uint16, `reference`'s geometry) from the SEG objects drawn on `series`."""
    return case_label(objects, reference, series, names, readers, case, _object_label)
