"""Is a NIfTI file complete, finite and of sane geometry? SimpleITK's reader does not say.

Measured with SimpleITK 2.5 (ITK NiftiImageIO):
- a truncated .nii or .nii.gz reads without error, the missing voxels silently zero;
- NaN and +/-inf voxels of a float NIfTI read back as 0;
- a NaN, zero or negative voxel size in the header reads back as 1.0 mm (or its absolute value).
So NIfTI files are scanned here first, in one streaming pass: the header's spatial voxel sizes
must be finite and positive, a .gz stream is decompressed to its end (gzip checks its CRC and
length trailer), the data must be as long as the header says, and float data must be finite.
Other formats (MetaImage, NRRD) fail loudly in ITK and keep their NaNs, which
segbook.core.volumes then catches on the decoded array.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_CHUNK = 1 << 20
_FLOATS = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 / float64
_SPATIAL_DIMS = 3  # pixdim[1..3] are mm; pixdim[4..] (time, ...) may legitimately be 0


@dataclass(frozen=True)
class NiftiHeader:
    expected: int  # bytes the file must hold: vox_offset + voxels * bytes per voxel
    offset: int
    dtype: np.dtype | None  # set for float data, which must be finite
    pixdim: tuple[float, ...]  # the header's voxel sizes, one per image dimension


def is_nifti(path: Path) -> bool:
    return Path(path).name.lower().endswith(NIFTI_SUFFIXES)


def parse_header(raw: bytes) -> NiftiHeader | None:
    """The parts of a NIfTI-1/2 header this module checks, or None if `raw` starts no NIfTI."""
    for order in "<>":
        if len(raw) >= 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            dims = struct.unpack(order + "8h", raw[40:56])
            code, bitpix = struct.unpack(order + "2h", raw[70:74])
            pixdim = struct.unpack(order + "8f", raw[76:108])
            offset = max(int(struct.unpack(order + "f", raw[108:112])[0]), 348)
        elif len(raw) >= 540 and struct.unpack(order + "i", raw[:4])[0] == 540:
            code, bitpix = struct.unpack(order + "2h", raw[12:16])
            dims = struct.unpack(order + "8q", raw[16:80])
            pixdim = struct.unpack(order + "8d", raw[104:168])
            offset = max(struct.unpack(order + "q", raw[168:176])[0], 540)
        else:
            continue
        if not 1 <= dims[0] <= 7 or bitpix <= 0:
            return None
        voxels = 1
        for d in dims[1:dims[0] + 1]:
            voxels *= max(int(d), 1)
        dtype = np.dtype(order + _FLOATS[code]) if code in _FLOATS else None
        return NiftiHeader(offset + voxels * bitpix // 8, offset, dtype, tuple(pixdim[1:dims[0] + 1]))
    return None


def read_header(path: Path) -> NiftiHeader | None:
    """The header of a NIfTI file (None for other formats or an unreadable start)."""
    if not is_nifti(path):
        return None
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            return parse_header(handle.read(540))
    except (OSError, EOFError, zlib.error):
        return None


def spacing_problem(pixdim: tuple[float, ...]) -> str | None:
    spatial = pixdim[:_SPATIAL_DIMS]
    if not all(np.isfinite(spatial)) or min(spatial, default=1.0) <= 0:
        shown = ", ".join(f"{v:g}" for v in spatial)
        return f"has a voxel size that is not finite and positive in its header ({shown})"
    return None


class _FiniteCheck:
    """Feeds the data bytes of a float image through np.isfinite, chunk by chunk."""

    def __init__(self, header: NiftiHeader):
        self.header, self.pos, self.rest, self.finite = header, 0, b"", True

    def feed(self, block: bytes) -> None:
        start, self.pos = self.pos, self.pos + len(block)
        if self.header.dtype is None or not self.finite:
            return
        lo, hi = max(self.header.offset - start, 0), min(self.header.expected - start, len(block))
        if lo >= hi:
            return
        data = self.rest + block[lo:hi]
        usable = len(data) - len(data) % self.header.dtype.itemsize
        self.rest = data[usable:]
        self.finite = bool(np.isfinite(np.frombuffer(data[:usable], dtype=self.header.dtype)).all())


def _blocks(path: Path, compressed: bool):
    opener = gzip.open if compressed else open
    with opener(path, "rb") as stream:
        while block := stream.read(_CHUNK):
            yield block


def nifti_problem(path: Path) -> str | None:
    """Why a NIfTI file cannot be trusted (truncated, corrupt, non-finite, bad spacing), or None.

    The caller makes sure `path` is a regular file (a FIFO would block here)."""
    path = Path(path)
    if not is_nifti(path):
        return None
    try:
        blocks = _blocks(path, path.name.lower().endswith(".gz"))
        first = next(blocks, b"")  # one block (1 MiB) holds any NIfTI header
        header = parse_header(first)
        if header is None:
            return None  # not a NIfTI header this module understands: ITK decides
        bad_spacing = spacing_problem(header.pixdim)
        if bad_spacing:
            return bad_spacing
        check = _FiniteCheck(header)
        check.feed(first)
        for block in blocks:
            check.feed(block)
    except EOFError:
        return "ends early: the compressed stream is truncated"
    except (OSError, zlib.error) as exc:  # BadGzipFile, CRC or length mismatch
        return f"is corrupt ({exc})"
    if check.pos < header.expected:
        return f"is truncated: {check.pos} bytes, its header promises {header.expected}"
    if not check.finite:
        return "has NaN or infinite voxels"
    return None
