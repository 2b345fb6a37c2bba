"""Real inputs for the security tests (plain functions): raw datasets, damaged files, CLI checks."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[2]
TOTALSEG = REPO / "tests" / "data" / "totalsegmentator"
DEMO = "Task999_SegBookDemo"
DEMO_DATASET = "Dataset999_SegBookDemo"


def demo_manifest(tmp: Path) -> Path:
    """A private copy of the demo's manifest without its lock (prepare --lock pins into the copy)."""
    root = tmp / "manifests"
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    (root / "locks").mkdir(exist_ok=True)
    target = root / "datasets" / f"{DEMO}.yaml"
    shutil.copy(REPO / "manifests" / "datasets" / f"{DEMO}.yaml", target)
    return target


def write_image(array: np.ndarray, path: Path, spacing=(0.8, 0.8, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path), True)
    return path


def raw_tree(root: Path, n: int = 8, shape=(8, 8, 8)) -> Path:
    """An nnU-Net v2 raw folder the demo manifest prepares (one channel, labels 0..2)."""
    rng = np.random.default_rng(7)
    for i in range(n):
        case = f"case_{i:03d}"
        write_image(rng.integers(-100, 400, size=shape).astype(np.int16), root / "imagesTr" / f"{case}_0000.nii.gz")
        write_image(rng.integers(0, 3, size=shape).astype(np.uint8), root / "labelsTr" / f"{case}.nii.gz")
    meta = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "organ": 1, "lesion": 2},
            "numTraining": n, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def prepare_args(manifest: Path, raw: Path, out: Path, *extra: str) -> list[str]:
    return ["prepare", str(manifest), "--raw", str(raw), "--out", str(out), "--lock", "--quiet", *extra]


def set_header_voxel_size(path: Path, index: int, value: float) -> Path:
    """Overwrite pixdim[index] of a .nii.gz header (ITK would read a NaN/0 there as 1.0 mm)."""
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[76 + 4 * index: 80 + 4 * index] = struct.pack("<f", value)
    path.write_bytes(gzip.compress(bytes(raw)))
    return path


def truncate(path: Path, share: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def assert_two_lines(result, code: int, *fragments: str) -> None:
    """The documented exit code and exactly `error: ...` / `hint: ...` on stderr."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, f"exit {result.returncode}, expected {code}\n{result.stderr[-2000:]}"
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
