"""Per-image hashes for locks: voxels and geometry apart, plus the combined content hash.

Built on segbook.core.hashing: `content` equals core's image_object_hash (what receipts and
`segbook verify` use); `voxels` and `geometry` are kept apart so that a lock mismatch can say
which of the two changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from segbook.core.hashing import array_digest, geometry_of, image_object_hash, sha256_bytes


@dataclass(frozen=True)
class ImageHashes:
    voxels: str  # dtype, shape, components and voxel bytes
    geometry: str  # spacing, origin, direction at core.hashing.GEOMETRY_DECIMALS
    content: str  # both (core.hashing.image_object_hash)


def voxel_hash(image) -> str:
    import SimpleITK as sitk  # noqa: PLC0415 - loading the catalog stays free of SimpleITK

    digest = hashlib.sha256(b"segbook-voxels-v1|")
    digest.update(f"components={image.GetNumberOfComponentsPerPixel()}|".encode())
    array_digest(sitk.GetArrayViewFromImage(image), digest)
    return digest.hexdigest()


def geometry_hash(image) -> str:
    g = geometry_of(image)
    return sha256_bytes(f"segbook-geometry-v1|{g['spacing']}|{g['origin']}|{g['direction']}".encode())


def image_hashes(image) -> ImageHashes:
    return ImageHashes(voxels=voxel_hash(image), geometry=geometry_hash(image),
                       content=image_object_hash(image))


def file_hashes(path: Path) -> ImageHashes:
    from segbook.core.volumes import read_volume  # noqa: PLC0415 - SimpleITK only when hashing

    return image_hashes(read_volume(path))
