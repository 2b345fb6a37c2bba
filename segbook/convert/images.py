"""Read, check and normalise one case's images; write it in nnU-Net layout.

Every problem becomes a one-line InvalidInput naming the case: unreadable/truncated files,
wrong channel count in a 4D volume, NaN/inf voxels, bad header spacing, image/label shape,
spacing, origin or orientation mismatch, label values outside the declared set. Files are read
and written only through segbook.core.volumes (integrity checks, silent write failures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segbook.core.errors import InvalidInput
from segbook.core.volumes import read_volume, write_volume

SPACING_RTOL = 1e-4  # relative; nnU-Net's own check is similar (np.allclose)
ORIGIN_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4
_DTYPES = {"float32": sitk.sitkFloat32, "int16": sitk.sitkInt16}


def read_image(path: Path, case: str) -> sitk.Image:
    return read_volume(path, f"case {case}: {path.name}")


def _sub_volume(image: sitk.Image, index: int) -> sitk.Image:
    """Volume `index` of a 4D image, with the 3D part of its geometry."""
    array = sitk.GetArrayViewFromImage(image)[index]
    out = sitk.GetImageFromArray(np.array(array))
    d = image.GetDirection()
    out.SetSpacing(image.GetSpacing()[:3])
    out.SetOrigin(image.GetOrigin()[:3])
    out.SetDirection((d[0], d[1], d[2], d[4], d[5], d[6], d[8], d[9], d[10]))
    return out


def _volumes(image: sitk.Image) -> list[sitk.Image]:
    """A read image as a list of 3D scalar volumes (4D and vector images are split)."""
    if image.GetNumberOfComponentsPerPixel() > 1:
        return [sitk.VectorIndexSelectionCast(image, i) for i in range(image.GetNumberOfComponentsPerPixel())]
    if image.GetDimension() == 4:
        return [_sub_volume(image, i) for i in range(image.GetSize()[3])]
    return [image]


def channel_images(paths: tuple[Path, ...], n_channels: int, case: str, task_id: str) -> list[sitk.Image]:
    """One 3D image per channel, from one file per channel or one 4D file."""
    volumes = []
    for path in paths:
        image = read_image(path, case)
        if image.GetDimension() not in (3, 4):
            raise InvalidInput(f"case {case}: {path.name} is {image.GetDimension()}D, expected a 3D volume")
        parts = _volumes(image)
        if len(paths) > 1 and len(parts) != 1:
            raise InvalidInput(f"case {case}: {path.name} holds {len(parts)} volumes, expected one channel")
        volumes += parts
    if len(volumes) != n_channels:
        raise InvalidInput(f"case {case}: the 4D volume has {len(volumes)} channels, "
                           f"{task_id} declares {n_channels}",
                           hint="is this the right dataset for the manifest?")
    return volumes


def match_grid(reference: sitk.Image, image: sitk.Image, case: str, what: str) -> sitk.Image:
    """Check `image` lies on `reference`'s grid (within tolerance) and give it exactly that grid."""
    if reference.GetSize() != image.GetSize():
        raise InvalidInput(f"case {case}: {what} shape {image.GetSize()} differs from the image's "
                           f"{reference.GetSize()}")
    if not np.allclose(reference.GetSpacing(), image.GetSpacing(), rtol=SPACING_RTOL, atol=0):
        raise InvalidInput(f"case {case}: {what} spacing {_fmt(image.GetSpacing())} differs from the "
                           f"image's {_fmt(reference.GetSpacing())}")
    if not np.allclose(reference.GetDirection(), image.GetDirection(), rtol=0, atol=DIRECTION_ATOL):
        raise InvalidInput(f"case {case}: {what} orientation differs from the image's "
                           f"({_fmt(image.GetDirection())} vs {_fmt(reference.GetDirection())})")
    if not np.allclose(reference.GetOrigin(), image.GetOrigin(), rtol=0, atol=ORIGIN_ATOL_MM):
        raise InvalidInput(f"case {case}: {what} origin {_fmt(image.GetOrigin())} differs from the "
                           f"image's {_fmt(reference.GetOrigin())}")
    image.CopyInformation(reference)  # identical grids, not merely close ones
    return image


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def normalise_label(image: sitk.Image, label_map: dict[int, int], n_labels: int, case: str) -> sitk.Image:
    """Integer label map with remapped values, checked against 0..n_labels-1, as uint8/uint16."""
    array = sitk.GetArrayFromImage(image)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise InvalidInput(f"case {case}: the label holds non-integer values")
    elif array.dtype.kind not in "iu":
        raise InvalidInput(f"case {case}: the label has pixel type {array.dtype}")
    array = array.astype(np.int64)
    out = array.copy()
    for source, target in (label_map or {}).items():
        out[array == source] = target  # masks from the original: swaps (1<->2) work
    values = np.unique(out)
    bad = [int(v) for v in values if v < 0 or v >= n_labels]
    if bad:
        raise InvalidInput(f"case {case}: label values {bad[:6]} are outside the declared labels "
                           f"0..{n_labels - 1}", hint="check the manifest's labels and label_map")
    result = sitk.GetImageFromArray(out.astype(np.uint8 if n_labels <= 256 else np.uint16))
    result.CopyInformation(image)
    return result


def normalise(image: sitk.Image, orientation: str | None, dtype: str | None) -> sitk.Image:
    if orientation:
        image = sitk.DICOMOrient(image, orientation)
    if dtype:
        image = sitk.Cast(image, _DTYPES[dtype])
    return image


def read_volume_case(raw_case, manifest, spec: dict) -> tuple[list[sitk.Image], sitk.Image]:
    """The "volume" reader: channel files (or one 4D file) and a label file SimpleITK reads."""
    case = raw_case.case_id
    images = channel_images(raw_case.images, manifest.num_channels, case, manifest.task_id)
    return images, read_label_volume(raw_case.label, case)


def read_label_volume(path: Path, case: str) -> sitk.Image:
    """A 3D scalar label file; a 4D one with a single volume (CMRxMotion) is taken as 3D."""
    label = read_image(path, case)
    if label.GetDimension() == 4 and label.GetSize()[3] == 1 and label.GetNumberOfComponentsPerPixel() == 1:
        label = _sub_volume(label, 0)
    if label.GetDimension() != 3 or label.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInput(f"case {case}: the label {path.name} is not a 3D scalar volume")
    return label


def convert_case(raw_case, manifest, spec: dict, image_dir: Path, label_dir: Path) -> dict[str, Path]:
    """Read (by the case's reader), check, normalise and write one case; return {channel key: written file}."""
    from segbook.convert.readers import reader_for  # noqa: PLC0415 - readers import this module

    case = raw_case.case_id
    prepare = manifest.prepare
    orientation, dtype = prepare.get("orientation"), prepare.get("image_dtype")
    images, label = reader_for(raw_case.reader)(raw_case, manifest, spec)
    reference = images[0]
    written = {}
    for i, image in enumerate(images):
        key = f"{i:04d}"
        if i:
            image = match_grid(reference, image, case, f"channel {key}")
        path = image_dir / f"{case}_{key}.nii.gz"
        write_volume(normalise(image, orientation, dtype), path)
        written[key] = path
    label = match_grid(reference, label, case, "label")
    label = normalise_label(label, spec.get("label_map") or {}, len(manifest.labels), case)
    path = label_dir / f"{case}.nii.gz"
    write_volume(normalise(label, orientation, None), path)
    written["label"] = path
    return written
