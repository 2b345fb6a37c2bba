"""A case's label map from its DICOM label objects, whatever their kind (SEG or RTSTRUCT).

The rules the manifest states are applied here once, for both kinds: which objects count
(cases.chosen_objects: readers "union" or "first"), and that where objects overlap the higher label
value wins. How one object becomes a label array is the kind's own module (seg.py, rtstruct.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from segbook.convert.dicom.cases import NameMap, chosen_objects
from segbook.convert.dicom.index import LabelObject, SeriesInfo
from segbook.core.errors import InvalidInput

# (object, reference image, its series, names, (z, y, x), case id) -> uint16 label array of that shape
ObjectDrawer = Callable[[LabelObject, sitk.Image, SeriesInfo, NameMap, tuple[int, int, int], str], np.ndarray]


def label_image(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """A uint16 label image on `reference`'s grid."""
    image = sitk.GetImageFromArray(array.astype(np.uint16))
    image.CopyInformation(reference)
    return image


def grid_shape(reference: sitk.Image, series: SeriesInfo, case: str) -> tuple[int, int, int]:
    """(z, y, x) of the reference, which must be the series' (one slice per file, in the same order)."""
    size = reference.GetSize()
    if reference.GetDimension() != 3 or size[2] != len(series.sop_uids):
        raise InvalidInput(f"case {case}: the image is {size}, its series has {len(series.sop_uids)} slices")
    return size[2], size[1], size[0]


def case_label(objects: list[LabelObject], reference: sitk.Image, series: SeriesInfo, names: dict[str, int],
               readers: str, case: str, draw: ObjectDrawer) -> sitk.Image:
    """The case's label map (uint16, `reference`'s geometry) from the objects drawn on `series`."""
    name_map = NameMap(names)
    shape = grid_shape(reference, series, case)
    out = np.zeros(shape, dtype=np.uint16)
    for obj in chosen_objects(objects, name_map, readers, case):
        np.maximum(out, draw(obj, reference, series, name_map, shape, case), out=out)
    return label_image(out, reference)
