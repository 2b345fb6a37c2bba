"""Content hashes: what data IS, not how it is stored.

An image hashes its decoded voxels (dtype, shape, C-order bytes in SimpleITK's z,y,x array
order) plus its geometry (spacing, origin, direction rounded to fixed precision). So
re-compressing a .nii.gz keeps the hash; moving a voxel or the origin changes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

GEOMETRY_DECIMALS = 6  # 1e-6 mm: far below any scanner's precision, above float32 noise
_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj) -> str:
    """Hash of a JSON-able object in canonical form (sorted keys, no whitespace)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def _fmt(values) -> str:
    return ",".join(f"{float(v):.{GEOMETRY_DECIMALS}f}" for v in values)


def array_digest(array: np.ndarray, digest=None):
    """Feed dtype, shape and C-order bytes of an array into a sha256 object."""
    digest = digest or hashlib.sha256()
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(memoryview(array).cast("B"))  # type: ignore[arg-type]  # numpy arrays are buffers
    return digest


def geometry_of(image) -> dict:
    """Spacing, origin and direction of a SimpleITK image, at the hashing precision."""
    return {
        "spacing": _fmt(image.GetSpacing()),
        "origin": _fmt(image.GetOrigin()),
        "direction": _fmt(image.GetDirection()),
    }


def image_content_hash(path: Path) -> str:
    """Content hash of one image file (any format SimpleITK reads), read with the integrity checks
    of segbook.core.volumes: a damaged file raises InvalidInput instead of hashing as zeros."""
    from segbook.core.volumes import read_volume  # noqa: PLC0415 - keep catalog commands light

    return image_object_hash(read_volume(path))


def image_object_hash(image) -> str:
    import SimpleITK as sitk  # noqa: PLC0415

    digest = hashlib.sha256(b"segbook-image-v1|")
    geometry = geometry_of(image)
    digest.update(f"{geometry['spacing']}|{geometry['origin']}|{geometry['direction']}|".encode())
    digest.update(f"components={image.GetNumberOfComponentsPerPixel()}|".encode())
    array_digest(sitk.GetArrayViewFromImage(image), digest)
    return digest.hexdigest()


def combine_hashes(named: dict[str, str]) -> str:
    """One hash over many named hashes, independent of insertion order."""
    lines = "".join(f"{key}  {value}\n" for key, value in sorted(named.items()))
    return sha256_bytes(lines.encode())
