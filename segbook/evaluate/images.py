"""Reading label maps for evaluation, with the checks that make a comparison meaningful."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segbook.core.errors import InputMissing, InvalidInput

GEOMETRY_ATOL = 1e-4  # mm (origin/spacing) and cosine (direction): float32 header noise only


@dataclass(frozen=True)
class LabelImage:
    """A 3D integer label map in SimpleITK array order (z, y, x) with its geometry."""

    path: Path
    array: np.ndarray
    spacing: tuple[float, float, float]  # array-axis order, mm
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @property
    def size_xyz(self) -> tuple[int, ...]:
        return tuple(reversed(self.array.shape))


def list_cases(folder: Path, file_ending: str) -> dict[str, Path]:
    """{case_id: path} of the files in `folder` that end with `file_ending` (hidden files skipped)."""
    if not folder.is_dir():
        raise InputMissing(f"folder {folder} does not exist", hint="check the path")
    return {
        p.name[: -len(file_ending)]: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name.endswith(file_ending) and not p.name.startswith(".")
        and len(p.name) > len(file_ending)
    }


def _as_integer_labels(array: np.ndarray, path: Path) -> np.ndarray:
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        return array.astype(np.uint8) if array.dtype == bool else array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise InvalidInput(f"{path.name}: label map holds non-integer values",
                               hint="a label map must hold integer class values")
        return array.astype(np.int32)
    raise InvalidInput(f"{path.name}: unsupported pixel type {array.dtype} for a label map")


def read_label_image(path: Path) -> LabelImage:
    """Read through segbook.core.volumes: a truncated file, NaN voxels or a NaN/zero voxel size in
    the header are refused (InvalidInput naming the file), never scored."""
    import SimpleITK as sitk  # noqa: PLC0415 - keeps SimpleITK out of import time

    from segbook.core.volumes import read_volume  # noqa: PLC0415

    image = read_volume(path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInput(f"{path.name}: expected a 3D single-component label map, got "
                           f"{image.GetDimension()}D with {image.GetNumberOfComponentsPerPixel()} components")
    origin, direction = tuple(image.GetOrigin()), tuple(image.GetDirection())
    sz, sy, sx = (float(s) for s in reversed(image.GetSpacing()))
    spacing = (sz, sy, sx)
    array = _as_integer_labels(sitk.GetArrayFromImage(image), path)
    return LabelImage(path, array, spacing, origin, direction)


def check_same_geometry(ref: LabelImage, pred: LabelImage, case_id: str) -> None:
    if ref.array.shape != pred.array.shape:
        raise InvalidInput(f"case {case_id}: prediction size {pred.size_xyz} differs from reference "
                           f"size {ref.size_xyz}", hint="predictions must be on the reference grid")
    for what in ("spacing", "origin", "direction"):
        a, b = np.asarray(getattr(ref, what)), np.asarray(getattr(pred, what))
        if not np.allclose(a, b, rtol=0, atol=GEOMETRY_ATOL):
            raise InvalidInput(f"case {case_id}: prediction {what} {tuple(np.round(b, 5))} differs from "
                               f"reference {what} {tuple(np.round(a, 5))}",
                               hint="predictions must be on the reference grid")
