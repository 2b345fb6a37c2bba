"""Tiny fake raw downloads in each supported layout (8x8x8 SimpleITK volumes), for the tests.

Builders write exactly the folder/file names of the real downloads; the values are small
deterministic random volumes. tests/unit/test_convert_fakes.py checks the builders themselves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segbook.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "manifests" / "datasets"
SHAPE = (8, 8, 8)  # z, y, x
SPACING = (0.8, 0.8, 2.0)  # x, y, z


def volume(seed: int, *, dtype=np.int16, shape=SHAPE, spacing=SPACING, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(-100, 400, size=shape).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def label(seed: int, values=(0, 1, 2), *, shape=SHAPE, spacing=SPACING, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    rng = np.random.default_rng(10_000 + seed)
    image = sitk.GetImageFromArray(rng.choice(np.array(values, dtype=np.uint8), size=shape))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


def four_d(images: list[sitk.Image]) -> sitk.Image:
    return sitk.JoinSeries(images)  # stacks 3D volumes along a 4th axis, like MSD's multi-modal files


def write(image: sitk.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)
    return path


def catalog_copy(tmp: Path, *task_ids: str) -> Path:
    """A manifests folder holding copies of some catalog manifests (so locks land in tmp)."""
    root = tmp / "manifests"
    (root / "datasets").mkdir(parents=True, exist_ok=True)
    for task in task_ids:
        shutil.copy(CATALOG / f"{task}.yaml", root / "datasets" / f"{task}.yaml")
    return root


def load_copy(tmp: Path, task_id: str):
    return load_catalog(catalog_copy(tmp, task_id)).get(task_id)


# -- layouts -----------------------------------------------------------------------------------
def nnunet_tree(root: Path, n: int = 8, *, channels: int = 1, values=(0, 1, 2), v2: bool = True,
                test_cases: int = 0, prefix: str = "case") -> Path:
    names = {v: "background" if v == 0 else f"class{v}" for v in values}
    if v2:
        labels = {name: v for v, name in names.items()}
        meta = {"channel_names": {str(c): f"MR{c}" for c in range(channels)}, "labels": labels,
                "numTraining": n, "file_ending": ".nii.gz"}
    else:
        labels = {str(v): name for v, name in names.items()}
        meta = {"modality": {str(c): f"MR{c}" for c in range(channels)}, "labels": labels,
                "numTraining": n, "training": [], "test": []}
    for i in range(n + test_cases):
        sub = "Tr" if i < n else "Ts"
        case = f"{prefix}_{i:03d}"
        for c in range(channels):
            write(volume(100 * i + c), root / f"images{sub}" / f"{case}_{c:04d}.nii.gz")
        write(label(i, values), root / f"labels{sub}" / f"{case}.nii.gz")
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def msd_tree(root: Path, n: int = 8, *, channels: int = 2, values=(0, 1, 2), name: str = "prostate") -> Path:
    training = []
    for i in range(n):
        case = f"{name}_{i:02d}"
        vols = [volume(100 * i + c) for c in range(channels)]
        write(four_d(vols) if channels > 1 else vols[0], root / "imagesTr" / f"{case}.nii.gz")
        write(label(i, values), root / "labelsTr" / f"{case}.nii.gz")
        training.append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
        (root / "imagesTr" / f"._{case}.nii.gz").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    write(volume(999), root / "imagesTs" / f"{name}_99.nii.gz")
    meta = {"name": name, "modality": {str(c): f"M{c}" for c in range(channels)},
            "labels": {str(v): f"class{v}" for v in values}, "numTraining": n, "training": training,
            "test": [f"./imagesTs/{name}_99.nii.gz"]}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def brats2021_tree(root: Path, n: int = 8) -> Path:
    for i in range(n):
        case = f"BraTS2021_{i:05d}"
        for c, mod in enumerate(("t1", "t1ce", "t2", "flair")):
            write(volume(100 * i + c), root / case / f"{case}_{mod}.nii.gz")
        write(label(i, (0, 1, 2, 4)), root / case / f"{case}_seg.nii.gz")
    return root


def brats2015_tree(root: Path, n: int = 8) -> Path:
    for i in range(n):
        grade = "HGG" if i % 2 == 0 else "LGG"
        case = root / grade / f"brats_2013_pat{i // 2:04d}_1"  # the same name in HGG and LGG
        for c, mod in enumerate(("MR_Flair", "MR_T1", "MR_T1c", "MR_T2")):
            folder = case / f"VSD.Brain.XX.O.{mod}.{54500 + 10 * i + c}"
            write(volume(100 * i + c), folder / f"{folder.name}.mha")
        folder = case / f"VSD.Brain_3more.XX.O.OT.{54509 + 10 * i}"
        write(label(i, (0, 1, 2, 3, 4)), folder / f"{folder.name}.mha")
    return root


def brats2023_tree(root: Path, family: str = "GLI", n: int = 8) -> Path:
    for i in range(n):
        case = f"BraTS-{family}-{i:05d}-000"
        for c, mod in enumerate(("t1n", "t1c", "t2w", "t2f")):
            write(volume(100 * i + c), root / case / f"{case}-{mod}.nii.gz")
        write(label(i, (0, 1, 2, 3)), root / case / f"{case}-seg.nii.gz")
    return root


def kits_tree(root: Path, label_name: str = "segmentation.nii.gz", n: int = 8) -> Path:
    for i in range(n):
        case = root / f"case_{i:05d}"
        write(volume(i), case / "imaging.nii.gz")
        write(label(i, (0, 1, 2, 3)), case / label_name)
    return root


def autopet_tree(root: Path, n: int = 8) -> Path:
    for i in range(n):
        study_name = f"0{i % 9 + 1}-14-2003-NA-PET-CT Ganzkoerper  primaer mit KM-{i}"  # real naming
        study = root / f"PETCT_{i:04x}a1b2c3" / study_name
        write(volume(i, dtype=np.float32), study / "SUV.nii.gz")
        write(volume(50 + i), study / "CTres.nii.gz")
        write(volume(90 + i), study / "CT.nii.gz")  # original resolution CT, not used
        write(label(i, (0, 1)), study / "SEG.nii.gz")
    return root
