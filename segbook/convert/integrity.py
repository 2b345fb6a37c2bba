"""Is a NIfTI file complete and finite? SimpleITK's reader does not say.

Measured with SimpleITK 2.5 (ITK NiftiImageIO):
- a truncated .nii or .nii.gz reads without error, the missing voxels silently zero;
- NaN and +/-inf voxels of a float NIfTI read back as 0.
So NIfTI files are scanned here first, in one streaming pass: a .gz stream is decompressed to
its end (gzip checks its CRC and length trailer), the data must be as long as the header says,
and float data must be finite. Other formats (MetaImage, NRRD) fail loudly in ITK and keep
their NaNs, which images.check_finite then catches.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_CHUNK = 1 << 20
_FLOATS = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 / float64


@dataclass(frozen=True)
class _Header:
    expected: int  # bytes the file must hold: vox_offset + voxels * bytes per voxel
    offset: int
    dtype: np.dtype | None  # set for float data, which must be finite


def _header(raw: bytes) -> _Header | None:
    for order in "<>":
        if len(raw) >= 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            dims = struct.unpack(order + "8h", raw[40:56])
            code, bitpix = struct.unpack(order + "2h", raw[70:74])
            offset = max(int(struct.unpack(order + "f", raw[108:112])[0]), 348)
        elif len(raw) >= 540 and struct.unpack(order + "i", raw[:4])[0] == 540:
            code, bitpix = struct.unpack(order + "2h", raw[12:16])
            dims = struct.unpack(order + "8q", raw[16:80])
            offset = max(struct.unpack(order + "q", raw[168:176])[0], 540)
        else:
            continue
        if not 1 <= dims[0] <= 7 or bitpix <= 0:
            return None
        voxels = 1
        for d in dims[1:dims[0] + 1]:
            voxels *= max(int(d), 1)
        dtype = np.dtype(order + _FLOATS[code]) if code in _FLOATS else None
        return _Header(offset + voxels * bitpix // 8, offset, dtype)
    return None


class _FiniteCheck:
    """Feeds the data bytes of a float image through np.isfinite, chunk by chunk."""

    def __init__(self, header: _Header):
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
    """Why a NIfTI file cannot be trusted (truncated, corrupt, non-finite), or None."""
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return None
    try:
        blocks = _blocks(path, name.endswith(".gz"))
        first = next(blocks, b"")  # one block (1 MiB) holds any NIfTI header
        header = _header(first)
        if header is None:
            return None  # not a NIfTI header this module understands: ITK decides
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
