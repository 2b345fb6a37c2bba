"""Every converter on a tiny fake raw tree in exactly its download layout."""

from __future__ import annotations

import json
import re
import tarfile

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from segbook.catalog import DatasetManifest
from segbook.convert.layouts import discover
from segbook.convert.prepare import PrepareOptions, prepare_dataset
from segbook.core.errors import UsageProblem
from tests.helpers.fakes import (
    autopet_tree,
    brats2015_tree,
    brats2021_tree,
    brats2023_tree,
    kits_tree,
    label,
    load_copy,
    msd_tree,
    nnunet_tree,
    volume,
    write,
)

pytestmark = pytest.mark.unit


def _read(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _prepare(manifest, raw, out, **kw):
    return prepare_dataset(manifest, raw, out, PrepareOptions(lock=True, **kw))


def _all_cases(result) -> list[str]:
    return sorted(result.case_hashes)


def test_nnunet_v2_folder_with_labelled_test_cases(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw" / "Dataset999_SegBookDemo", 7, test_cases=2)
    result = _prepare(demo, raw, tmp_path / "out")
    assert result.layout == "nnU-Net folder" and _all_cases(result) == [f"case_{i:03d}" for i in range(9)]
    ds = result.dataset_dir
    assert sorted(p.name for p in (ds / "labelsTr").iterdir()) == [f"{c}.nii.gz" for c in result.split.train]
    assert sorted(p.name for p in (ds / "labelsTs").iterdir()) == [f"{c}.nii.gz" for c in result.split.test]
    assert len(list((ds / "imagesTr").iterdir())) == len(result.split.train)
    # the converted voxels are the raw voxels
    case = result.split.train[0]
    source = raw / ("imagesTr" if case < "case_007" else "imagesTs") / f"{case}_0000.nii.gz"
    assert np.array_equal(_read(ds / "imagesTr" / f"{case}_0000.nii.gz"), _read(source))


def test_nnunet_v1_folder_with_two_channels(tmp_path):
    prostate = load_copy(tmp_path, "Task005_Prostate")
    raw = nnunet_tree(tmp_path / "raw" / "Task005_Prostate", 8, channels=2, v2=False)
    result = _prepare(prostate, raw, tmp_path / "out", layout="nnunet")
    assert result.dataset_name == "Dataset005_Prostate"
    assert set(result.case_hashes["case_000"]) == {"0000", "0001", "label"}
    meta = json.loads((result.dataset_dir / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "T2 MRI", "1": "ADC MRI"} and meta["numTraining"] == 6


def test_msd_folder_splits_4d_volumes_and_ignores_mac_forks(tmp_path):
    prostate = load_copy(tmp_path, "Task005_Prostate")
    raw = msd_tree(tmp_path / "Task05_Prostate", 8, channels=2)
    result = _prepare(prostate, raw, tmp_path / "out")
    assert result.layout == "MSD download"
    assert _all_cases(result) == [f"prostate_{i:02d}" for i in range(8)]
    case = result.split.train[0]
    folder = result.dataset_dir / "imagesTr"
    four_d = _read(raw / "imagesTr" / f"{case}.nii.gz")  # (channels, z, y, x)
    for c in range(2):
        split = sitk.ReadImage(str(folder / f"{case}_{c:04d}.nii.gz"))
        assert split.GetDimension() == 3 and split.GetSpacing() == pytest.approx((0.8, 0.8, 2.0))
        assert np.array_equal(sitk.GetArrayFromImage(split), four_d[c])


def test_msd_single_channel_task_from_its_tar_archive(tmp_path):
    spleen = load_copy(tmp_path, "Task009_Spleen")
    raw = msd_tree(tmp_path / "Task09_Spleen", 8, channels=1, values=(0, 1), name="spleen")
    archive = tmp_path / "Task09_Spleen.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(raw, arcname="Task09_Spleen")
    result = _prepare(spleen, archive, tmp_path / "out")
    assert len(result.case_hashes) == 8
    assert (tmp_path / "out" / "downloads" / "Task009_Spleen" / "Task09_Spleen" / "dataset.json").is_file()


def test_brats2021_case_folders_remap_labels(tmp_path):
    brats = load_copy(tmp_path, "Task019_BraTS21")
    raw = brats2021_tree(tmp_path / "RSNA_ASNR_MICCAI_BraTS2021_TrainingData", 8)
    result = _prepare(brats, raw, tmp_path / "out")
    assert result.layout == "BraTS 2021 case folders"
    case = result.split.train[0]
    original = _read(raw / case / f"{case}_seg.nii.gz")
    converted = _read(result.dataset_dir / "labelsTr" / f"{case}.nii.gz")
    assert converted.dtype == np.uint8 and set(np.unique(converted)) <= {0, 1, 2, 3}
    for source, target in {0: 0, 1: 2, 2: 1, 4: 3}.items():
        assert np.all(converted[original == source] == target)
    # channel order T1, T1ce, T2, FLAIR
    assert np.array_equal(_read(result.dataset_dir / "imagesTr" / f"{case}_0003.nii.gz"),
                          _read(raw / case / f"{case}_flair.nii.gz"))


def test_brats2015_nested_mha_folders_keep_hgg_and_lgg_apart(tmp_path):
    brats = load_copy(tmp_path, "Task503_BraTs2015")
    result = _prepare(brats, brats2015_tree(tmp_path / "BRATS2015_Training", 8), tmp_path / "out")
    cases = _all_cases(result)
    assert "HGG_brats_2013_pat0000_1" in cases and "LGG_brats_2013_pat0000_1" in cases and len(cases) == 8
    assert all(set(h) == {"0000", "0001", "0002", "0003", "label"} for h in result.case_hashes.values())


@pytest.mark.parametrize("task, family", [("Task899_BraTS2023_GLI", "GLI"), ("Task898_BraTS2023_MEN", "MEN"),
                                          ("Task896_BraTS2023_PED", "PED"), ("Task894_BraTS2023_MET", "MET"),
                                          ("Task895_BraTS2023_SSA", "SSA")])
def test_brats2023_case_folders(tmp_path, task, family):
    manifest = load_copy(tmp_path, task)
    result = _prepare(manifest, brats2023_tree(tmp_path / "train", family, 8), tmp_path / "out")
    assert _all_cases(result)[0] == f"BraTS-{family}-00000-000"
    case = result.split.train[0]
    assert np.array_equal(_read(result.dataset_dir / "imagesTr" / f"{case}_0001.nii.gz"),
                          _read(tmp_path / "train" / case / f"{case}-t1c.nii.gz"))


@pytest.mark.parametrize("task, label_name", [("Task021_KiTS2021", "aggregated_MAJ_seg.nii.gz"),
                                              ("Task044_KiTS23", "segmentation.nii.gz")])
def test_kits_case_folders(tmp_path, task, label_name):
    manifest = load_copy(tmp_path, task)
    raw = kits_tree(tmp_path / "kits" / "dataset", label_name, 8)
    result = _prepare(manifest, tmp_path / "kits", tmp_path / "out")  # one wrapper folder above
    assert _all_cases(result) == [f"case_{i:05d}" for i in range(8)]
    assert result.dataset_name == ("Dataset944_KiTS23" if task == "Task044_KiTS23" else "Dataset021_KiTS2021")
    case = result.split.test[0]
    assert np.array_equal(_read(result.dataset_dir / "labelsTs" / f"{case}.nii.gz"),
                          _read(raw / case / label_name))


def test_autopet_study_folders_give_safe_case_ids(tmp_path):
    manifest = load_copy(tmp_path, "Task710_autoPET")
    raw = autopet_tree(tmp_path / "FDG-PET-CT-Lesions", 8)
    result = _prepare(manifest, raw, tmp_path / "out")
    assert all(" " not in c and "/" not in c for c in result.case_hashes)
    case = result.split.train[0]
    # documented rule: the case folder's path below --raw, runs of other characters turned into "_"
    folders = {re.sub(r"[^A-Za-z0-9._-]+", "_", p.relative_to(raw).as_posix()): p for p in raw.glob("*/*")}
    folder = folders[case]
    assert np.array_equal(_read(result.dataset_dir / "imagesTr" / f"{case}_0000.nii.gz"),
                          _read(folder / "SUV.nii.gz"))
    assert np.array_equal(_read(result.dataset_dir / "imagesTr" / f"{case}_0001.nii.gz"),
                          _read(folder / "CTres.nii.gz"))


def test_generic_files_layout_from_a_user_manifest(tmp_path):
    data = {
        "schema": "segbook-manifest/1", "kind": "user", "task_id": "Task501_MyLiver", "nnunet_id": 501,
        "display_name": "My liver", "modality": "CT", "target": "seen structure", "region": ["Abdomen"],
        "channels": [{"name": "CT", "normalization": "CTNormalization"},
                     {"name": "PET", "normalization": "ZScoreNormalization"}],
        "labels": {0: "background", 1: "liver"},
        "cases": {"paper": None, "train": None, "test": None},
        "source": {"homepage": None, "licence": "unknown", "access": "unknown", "url": None},
        "prepare": {"layouts": [{"kind": "files", "name": "scans/ + masks/",
                                 "label": "masks/{case}_mask.nii.gz",
                                 "channels": ["scans/{case}_ct.nii.gz", "scans/{case}_pet.nii.gz"],
                                 "label_map": {255: 1}}],
                    "orientation": "LPS", "image_dtype": "float32"},
    }
    path = tmp_path / "my_liver.yaml"

    path.write_text(yaml.safe_dump(data))
    manifest = DatasetManifest.from_file(path)
    raw = tmp_path / "raw"
    for i in range(8):
        write(volume(i), raw / "scans" / f"p{i}_ct.nii.gz")
        write(volume(50 + i), raw / "scans" / f"p{i}_pet.nii.gz")
        write(label(i, (0, 255)), raw / "masks" / f"p{i}_mask.nii.gz")
    result = _prepare(manifest, raw, tmp_path / "out")
    assert result.lock_path == tmp_path / "my_liver.lock" and result.lock_path.is_file()
    case = result.split.train[0]
    image = sitk.ReadImage(str(result.dataset_dir / "imagesTr" / f"{case}_0000.nii.gz"))
    assert image.GetPixelID() == sitk.sitkFloat32
    assert set(np.unique(_read(result.dataset_dir / "labelsTr" / f"{case}.nii.gz"))) == {0, 1}


def test_discovery_descends_through_single_wrapper_folders(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    nnunet_tree(tmp_path / "download" / "unzipped" / "Dataset999_X", 7)
    found = discover(demo, tmp_path / "download")
    assert found.root == tmp_path / "download" / "unzipped" / "Dataset999_X" and len(found.cases) == 7


def test_unlabelled_test_images_are_noted_not_used(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 7)
    write(volume(5), raw / "imagesTs" / "extra_000_0000.nii.gz")
    found = discover(demo, raw)
    assert len(found.cases) == 7 and "imagesTs/ has no labelsTs/" in found.notes[0]


def test_a_forced_layout_must_be_one_the_manifest_declares(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    with pytest.raises(UsageProblem, match="has no layout 'msd'"):
        discover(demo, nnunet_tree(tmp_path / "raw", 7), layout="msd")
