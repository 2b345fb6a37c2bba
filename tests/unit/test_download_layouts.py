"""Each dataset's real download layout, laid out by the names its download uses, prepared by `segbook prepare`.

File names follow ../shared/reference/segbook/dataset_sources.csv (image_pattern, label_pattern),
top folders included where the download has one (prepare descends through them). Every fixture
holds 7 tiny cases (the fewest a split accepts) plus, where the download has them, files that must
not be taken (4D cines, alternative labels, centroid JSON, PNG snapshots).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers.fakes import catalog_copy, label, volume, write

pytestmark = pytest.mark.unit

N = 7
Case = tuple[str, list[str], str]  # case id prepare must give, channel files, label file


def _files(case_id: Callable[[int], str], channels: Callable[[int], list[str]], label_of: Callable[[int], str]):
    return lambda: [(case_id(i), channels(i), label_of(i)) for i in range(N)]


def _isles(i):
    sub = f"sub-strokecase{i + 1:04d}"
    return f"ISLES/dataset/rawdata/{sub}/ses-0001/{sub}_ses-0001"


def _atlas(i):
    sub = f"sub-r00{1 + i % 2}s{i:03d}"
    return f"ATLAS_2/Training/R00{1 + i % 2}/{sub}/ses-1/anat/{sub}_ses-1_space-MNI152NLin2009aSym"


def _feta(i):
    sub = f"sub-{i + 1:03d}"
    return f"feta_2.2/{sub}/anat/{sub}_rec-{'mial' if i % 2 else 'irtk'}"


LAYOUTS: dict[str, Callable[[], list[Case]]] = {
    "Task011_BTCV": _files(lambda i: f"{i + 1:04d}", lambda i: [f"RawData/Training/img/img{i + 1:04d}.nii.gz"],
                           lambda i: f"RawData/Training/label/label{i + 1:04d}.nii.gz"),
    "Task012_BTCV_Cervix": _files(lambda i: f"05076{i:02d}",
                                  lambda i: [f"BTCV-Cervix/RawData/Training/img/05076{i:02d}-Image.nii.gz"],
                                  lambda i: f"BTCV-Cervix/RawData/Training/label/05076{i:02d}-Mask.nii.gz"),
    "Task020_AbdomenCT1K": _files(lambda i: f"Case_{i + 1:05d}",
                                  lambda i: [f"AbdomenCT-1K/Images/Case_{i + 1:05d}_0000.nii.gz"],
                                  lambda i: f"AbdomenCT-1K/Masks/Case_{i + 1:05d}.nii.gz"),
    "Task023_FLARE22": _files(
        lambda i: f"FLARE22_Tr_{i + 1:04d}",
        lambda i: [f"FLARE2022/Training/FLARE22_LabeledCase50/images/FLARE22_Tr_{i + 1:04d}_0000.nii.gz"],
        lambda i: f"FLARE2022/Training/FLARE22_LabeledCase50/labels/FLARE22_Tr_{i + 1:04d}.nii.gz"),
    "Task029_LITS": _files(lambda i: str(i), lambda i: [f"LiTS/Training Batch {1 + i // 4}/volume-{i}.nii"],
                           lambda i: f"LiTS/Training Batch {1 + i // 4}/segmentation-{i}.nii"),
    "Task034_Instance22": _files(lambda i: f"{i + 1:03d}",
                                 lambda i: [f"INSTANCE 2022/train/data/{i + 1:03d}.nii.gz"],
                                 lambda i: f"INSTANCE 2022/train/label/{i + 1:03d}.nii.gz"),
    "Task036_KiPA22": _files(lambda i: str(i), lambda i: [f"train/image/{i}.nii.gz"],
                             lambda i: f"train/label/{i}.nii.gz"),
    "Task039_Parse22": _files(lambda i: f"train_PA{i:06d}", lambda i: [f"train/PA{i:06d}/image/PA{i:06d}.nii.gz"],
                              lambda i: f"train/PA{i:06d}/label/PA{i:06d}.nii.gz"),
    "Task040_ATM22": _files(lambda i: f"ATM_{i:03d}",
                            lambda i: [f"ATM22/TrainBatch{1 + i // 4}/imagesTr/ATM_{i:03d}_0000.nii.gz"],
                            lambda i: f"ATM22/TrainBatch{1 + i // 4}/labelsTr/ATM_{i:03d}_0000.nii.gz"),
    "Task041_ISLES2022": _files(lambda i: f"sub-strokecase{i + 1:04d}",
                                lambda i: [f"{_isles(i)}_adc.nii.gz", f"{_isles(i)}_dwi.nii.gz"],
                                lambda i: _isles(i).replace("rawdata", "derivatives") + "_msk.nii.gz"),
    "Task044_CrossMoDA23": _files(
        lambda i: f"crossmoda2023_etz_{i + 1}",
        lambda i: [f"crossMoDA/crossmoda23_training/TrainingSource/crossmoda2023_etz_{i + 1}_ceT1.nii.gz"],
        lambda i: f"crossMoDA/crossmoda23_training/TrainingSource/crossmoda2023_etz_{i + 1}_Label.nii.gz"),
    "Task083_VerSe2020": _files(
        lambda i: f"sub-gl{i:03d}",
        lambda i: [f"dataset-01training/rawdata/sub-gl{i:03d}/sub-gl{i:03d}_dir-{'ax' if i % 2 else 'sag'}_ct.nii.gz"],
        lambda i: f"dataset-01training/derivatives/sub-gl{i:03d}/"
                  f"sub-gl{i:03d}_dir-{'ax' if i % 2 else 'sag'}_seg-vert_msk.nii.gz"),
    "Task103_ADAM2020": _files(lambda i: f"100{i:02d}", lambda i: [f"ADAM_release_subjs/100{i:02d}/orig/TOF.nii.gz"],
                               lambda i: f"ADAM_release_subjs/100{i:02d}/aneurysms.nii.gz"),
    "Task106_AIIB2023": _files(lambda i: f"AIIB23_{30 + i}", lambda i: [f"AIIB23/image/AIIB23_{30 + i}.nii.gz"],
                               lambda i: f"AIIB23/label/AIIB23_{30 + i}.nii.gz"),
    "Task109_SMILE-UHURA2023": _files(lambda i: f"sub{i:03d}", lambda i: [f"TrainingSet/train/sub{i:03d}.nii.gz"],
                                      lambda i: f"TrainingSet/train_label/sub{i:03d}.nii"),
    "Task504_ATLAS": _files(lambda i: f"sub-r00{1 + i % 2}s{i:03d}", lambda i: [f"{_atlas(i)}_T1w.nii.gz"],
                            lambda i: f"{_atlas(i)}_label-L_desc-T1lesion_mask.nii.gz"),
    "Task507_Myops2020": _files(
        lambda i: str(101 + i),
        lambda i: [f"MyoPS 2020 Dataset/train25/myops_training_{101 + i}_{c}.nii.gz" for c in ("C0", "DE", "T2")],
        lambda i: f"MyoPS 2020 Dataset/train25_myops_gd/myops_training_{101 + i}_gd.nii.gz"),
    "Task511_ATLAS2023": _files(lambda i: str(i), lambda i: [f"atlas-train-dataset-1.0.1/train/imagesTr/im{i}.nii.gz"],
                                lambda i: f"atlas-train-dataset-1.0.1/train/labelsTr/lb{i}.nii.gz"),
    "Task556_FeTA2022_all": _files(lambda i: f"sub-{i + 1:03d}", lambda i: [f"{_feta(i)}_T2w.nii.gz"],
                                   lambda i: f"{_feta(i)}_dseg.nii.gz"),
    "Task559_WORD": _files(lambda i: f"word_{i + 2:04d}", lambda i: [f"WORD-V0.1.0/imagesTr/word_{i + 2:04d}.nii.gz"],
                           lambda i: f"WORD-V0.1.0/labelsTr/word_{i + 2:04d}.nii.gz"),
    "Task603_MMWHS": _files(lambda i: str(1001 + i),
                            lambda i: [f"MM-WHS 2017 Dataset/ct_train/ct_train_{1001 + i}_image.nii.gz"],
                            lambda i: f"MM-WHS 2017 Dataset/ct_train/ct_train_{1001 + i}_label.nii.gz"),
    "Task605_SegThor": _files(lambda i: f"train_Patient_{i + 1:02d}",
                              lambda i: [f"SegTHOR/train/Patient_{i + 1:02d}/Patient_{i + 1:02d}.nii.gz"],
                              lambda i: f"SegTHOR/train/Patient_{i + 1:02d}/GT.nii.gz"),
    "Task611_PROMISE12": _files(lambda i: f"{i:02d}", lambda i: [f"TrainingData_Part{1 + i // 4}/Case{i:02d}.mhd"],
                                lambda i: f"TrainingData_Part{1 + i // 4}/Case{i:02d}_segmentation.mhd"),
    "Task613_COVID-19-20": _files(lambda i: f"volume-covid19-A-{i:04d}",
                                  lambda i: [f"Train/volume-covid19-A-{i:04d}_ct.nii.gz"],
                                  lambda i: f"Train/volume-covid19-A-{i:04d}_seg.nii.gz"),
    **{task: _files(lambda i: f"{i + 1}", lambda i: [f"{i + 1}/data.nii.gz"], lambda i: f"{i + 1}/label.nii.gz")
       for task in ("Task628_StructSeg2019_subtask1", "Task629_StructSeg2019_subtask2",
                    "Task630_StructSeg2019_subtask3", "Task631_StructSeg2019_subtask4")},
    "Task666_MESSEG": _files(lambda i: f"0{i}", lambda i: [f"0{i}/flair_time01_on_middle_space.nii.gz",
                                                         f"0{i}/flair_time02_on_middle_space.nii.gz"],
                             lambda i: f"0{i}/ground_truth.nii.gz"),
    "Task701_LNQ2023": _files(lambda i: f"lnq2023-train-{i:04d}", lambda i: [f"lnq2023-train-{i:04d}-ct.nrrd"],
                              lambda i: f"lnq2023-train-{i:04d}-seg.nrrd"),
    "Task703_TDSC-ABUS2023": _files(lambda i: f"{i:03d}", lambda i: [f"Dataset/DATA/{i:03d}.nrrd"],
                                    lambda i: f"Dataset/MASK/{i:03d}.nrrd"),
}

# raw label value -> the value prepare must write (the label traps of dataset_sources.md)
RAW_LABELS = {"Task507_Myops2020": {0: 0, 500: 1, 600: 2, 200: 3, 1220: 4, 2221: 5},
              "Task603_MMWHS": {0: 0, 205: 1, 420: 2, 500: 3, 550: 4, 600: 5, 820: 6, 850: 7}}
# files the download holds beside the cases that must not be read
DECOYS = {"Task083_VerSe2020": ["dataset-01training/derivatives/sub-gl000/sub-gl000_dir-sag_seg-subreg_ctd.json",
                                "dataset-01training/derivatives/sub-gl000/sub-gl000_dir-sag_seg-vert_snp.png"],
          "Task103_ADAM2020": ["ADAM_release_subjs/10000/pre/TOF.nii.gz"],
          "Task109_SMILE-UHURA2023": ["TrainingSet/train_OMELETTElabel/sub000.nii"]}


def _label_volume(seed: int, raw_values) -> sitk.Image:
    image = label(seed, values=(0, 1))
    array = sitk.GetArrayFromImage(image).astype(np.int32)
    rng = np.random.default_rng(seed)
    out = sitk.GetImageFromArray(np.asarray(raw_values, dtype=np.int32)[rng.integers(0, len(raw_values), array.shape)]
                                 .astype(np.uint16 if max(raw_values) > 255 else np.uint8))
    out.CopyInformation(image)
    return out


def lay_out(task: str, root: Path, n_labels: int) -> list[Case]:
    cases = LAYOUTS[task]()
    raw_values = sorted(RAW_LABELS.get(task, {v: v for v in range(min(n_labels, 3))}))
    for index, (_, channels, label_file) in enumerate(cases):
        for c, channel in enumerate(channels):
            write(volume(100 * index + c), root / channel)
        write(_label_volume(index, raw_values), root / label_file)
    for decoy in DECOYS.get(task, []):
        path = root / decoy
        path.parent.mkdir(parents=True, exist_ok=True)
        if decoy.endswith(".nii.gz") or decoy.endswith(".nii"):
            write(volume(999), path)
        else:
            path.write_text("{}")
    return cases


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.mark.parametrize("task", sorted(LAYOUTS))
def test_prepared_from_its_download_layout(tmp_path, cli_runner, task):
    import yaml  # noqa: PLC0415

    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    n_labels = len(yaml.safe_load(manifest.read_text())["labels"])
    raw = tmp_path / "download"
    cases = lay_out(task, raw, n_labels)
    result = cli_runner("prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["layout"] != "nnU-Net folder"
    assert summary["train_cases"] + summary["test_cases"] == N
    dataset = Path(summary["dataset_dir"])
    labels = [*(dataset / "labelsTr").iterdir(), *(dataset / "labelsTs").iterdir()]
    prepared = {p.name.removesuffix(".nii.gz") for p in labels}
    assert prepared == {case for case, _, _ in cases}
    for case, channels, label_file in cases:  # every channel in the declared order, every label remapped
        where = "Tr" if (dataset / "labelsTr" / f"{case}.nii.gz").exists() else "Ts"
        for c, channel in enumerate(channels):
            assert np.array_equal(_read(dataset / f"images{where}" / f"{case}_{c:04d}.nii.gz"), _read(raw / channel))
        converted, original = _read(dataset / f"labels{where}" / f"{case}.nii.gz"), _read(raw / label_file)
        for source, target in RAW_LABELS.get(task, {}).items():
            assert np.all(converted[original == source] == target)


def test_a_download_that_does_not_fit_names_the_first_file(tmp_path, cli_runner):
    task = "Task011_BTCV"
    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    raw = tmp_path / "download"
    lay_out(task, raw, 3)
    (raw / "RawData/Training/img/img0003.nii.gz").unlink()
    result = cli_runner("prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock")
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 65, result.output
    assert len(lines) == 2 and "0003" in lines[0] and "img0003.nii.gz" in lines[0], lines
    assert not (tmp_path / "out" / "nnUNet_raw").exists() or not any((tmp_path / "out" / "nnUNet_raw").iterdir())
