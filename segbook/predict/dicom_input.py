"""DICOM series as `segbook predict` input: each image series of a folder becomes one case.

The series are found by their headers (segbook.convert.dicom.index: SeriesInstanceUID, slice
positions along the orientation's normal; never file or folder names) and read on the grid their
headers describe (segbook.convert.dicom.series), then written as a NIfTI under the work folder for
nnU-Net. The prediction comes back on that grid, slice k on the series' k-th file, which is what a
DICOM-SEG referencing the series needs (segbook.predict.dicom_seg).
"""

from __future__ import annotations

from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput


def series_cases(source: Path, work: Path, channels: int):
    """(InputCase list, {case id: SeriesInfo}) for every image series under `source`."""
    import SimpleITK as sitk  # noqa: PLC0415

    from segbook.convert.dicom.index import index_dicom_tree  # noqa: PLC0415
    from segbook.convert.dicom.series import read_series  # noqa: PLC0415
    from segbook.predict.inputs import InputCase  # noqa: PLC0415

    index = index_dicom_tree(Path(source), None)
    if not index.series:
        raise InputMissing(f"no image files and no DICOM image series in {source}",
                           hint="give NIfTI/MHA/NRRD images, or a folder holding DICOM series")
    if channels != 1:
        raise InvalidInput(f"the model needs {channels} channels; a DICOM series is one",
                           hint="convert each case's channels to <case>_0000, <case>_0001, ... NIfTI files")
    work.mkdir(parents=True, exist_ok=True)
    cases, series_of = [], {}
    for uid in sorted(index.series):
        series = index.series[uid]
        image = read_series(series, f"series {uid}")
        path = work / f"{uid}_0000.nii.gz"
        sitk.WriteImage(image, str(path), True)
        cases.append(InputCase(uid, (path,)))
        series_of[uid] = series
    return cases, series_of
