"""The voxels of one indexed image series, as a 3D SimpleITK image.

SimpleITK (GDCM) gets the file list in the index's slice order, so it never sorts by itself (it would
sort by name or its own rules); it takes the slice spacing from the positions and applies each slice's
RescaleSlope/RescaleIntercept.
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from segbook.convert.dicom.index import SeriesInfo
from segbook.core.errors import InvalidInput


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:200]  # ITK puts the reason last


def _unreadable(series: SeriesInfo) -> tuple[Path, str] | None:
    """The first file of the series that SimpleITK cannot read alone (looked for only once the series failed)."""
    for path in series.files:
        try:
            sitk.ReadImage(str(path))
        except RuntimeError as exc:
            return path, _first_line(exc)
    return None


def read_series(series: SeriesInfo, case: str) -> sitk.Image:
    """The series as a 3D scalar image on the grid its headers describe."""
    series.checked(f"case {case}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in series.files])
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        path, reason = _unreadable(series) or (series.files[0], _first_line(exc))
        raise InvalidInput(f"case {case}: {path} of DICOM series {series.series_uid} cannot be read: {reason}",
                           hint="is the download complete?") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInput(f"case {case}: the DICOM series {series.series_uid} is not greyscale "
                           f"({image.GetNumberOfComponentsPerPixel()} samples per pixel)")
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)  # one slice: still a volume, its depth 1
    if image.GetDimension() != 3 or image.GetSize()[2] != len(series.files):
        raise InvalidInput(f"case {case}: the DICOM series {series.series_uid} read as {image.GetSize()}, "
                           f"expected {len(series.files)} slices", hint="are some of its files multi-frame?")
    return image
