"""Download layouts that need more than one image and one label file per case, prepared by `segbook prepare`.

Labels assembled from several files (LAScarQS, LNDb, HaN-Seg), cases chosen by id (AMOS), subjects at
several depths (WMH), cases that belong together in the split (ACDC frames, autoPET studies, CMRxMotion
scans, ISBI-2015 timepoints), singleton 4th axes (CMRxMotion), and label remaps (LUNA16). File names follow
../shared/reference/segbook/dataset_sources.csv, as in tests/unit/test_download_layouts.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.helpers.fakes import SHAPE, catalog_copy, volume, write

pytestmark = pytest.mark.unit


@dataclass
class Expected:
    case: str
    channels: list[str]  # files the channels come from, in order
    label: np.ndarray  # what prepare must write
    group: str | None = None  # cases with the same group stay on one side of the split


def _mask(seed: int, values=(0, 1), dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(5_000 + seed).choice(np.array(values), size=SHAPE).astype(dtype)


def _save(array: np.ndarray, path: Path, *, four_d: bool = False) -> None:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(volume(0))
    if four_d:  # a singleton 4th axis, as CMRxMotion's files carry
        image = sitk.JoinSeries([image])
    write(image, path)


def _case(root: Path, seed: int, channels: list[str], label_file: str | None, label: np.ndarray, *,
          case: str, group: str | None = None, four_d: bool = False, stored=None) -> Expected:
    for c, channel in enumerate(channels):
        image = volume(100 * seed + c)
        write(sitk.JoinSeries([image]) if four_d else image, root / channel)
    if label_file:
        _save(label if stored is None else stored, root / label_file, four_d=four_d)
    return Expected(case, channels, label, group)


def _single(root, seed, channels, label_file, *, case, values=(0, 1), remap=None, **kw) -> Expected:
    raw = _mask(seed, values, np.uint16)
    expected = raw.copy()
    for source, target in (remap or {}).items():
        expected[raw == source] = target
    return _case(root, seed, channels, label_file, expected, case=case, stored=raw, **kw)


def _parts(root: Path, seed: int, channels: list[str], parts: list[tuple[str, int, int]], case: str) -> Expected:
    """parts: (file, value written for it, stored non-zero value); later parts win where they overlap."""
    _case(root, seed, channels, None, None, case=case)
    expected = np.zeros(SHAPE, dtype=np.int64)
    for k, (file, value, stored) in enumerate(parts):
        mask = _mask(31 * seed + k).astype(bool)
        _save(np.where(mask, stored, 0).astype(np.uint8), root / file)
        expected[mask] = value
    return Expected(case, channels, expected)


def acdc(root):
    out = []
    for p in range(1, 8):  # 7 patients: a grouped split needs 6 units (5 folds + the test side)
        base = f"ACDC/database/training/patient{p:03d}"
        _save(_mask(99), root / base / f"patient{p:03d}_4d.nii.gz")  # the cine: not a case
        (root / base / "Info.cfg").write_text("ED: 1\nES: 12\n")
        for frame in (1, 12):
            name = f"patient{p:03d}_frame{frame:02d}"
            out.append(_single(root, 10 * p + frame, [f"{base}/{name}.nii.gz"], f"{base}/{name}_gt.nii.gz",
                               case=name, values=(0, 1, 2, 3), group=f"patient{p:03d}"))
    return out


def lascarqs_task1(root):
    base = "LAScarQS2022/task1/train_data"
    return [_parts(root, i, [f"{base}/train_{i}/enhanced.nii.gz"],
                   [(f"{base}/train_{i}/atriumSegImgMO.nii.gz", 2, 255),
                    (f"{base}/train_{i}/scarSegImgM.nii.gz", 1, 1)],
                   case=f"{base.split('/', 1)[1].replace('/', '_')}_train_{i}") for i in range(1, 8)]


def lascarqs_task2(root):
    base = "LAScarQS2022/task2/train_data"
    return [_parts(root, i, [f"{base}/train_{i}/enhanced.nii.gz"],
                   [(f"{base}/train_{i}/atriumSegImgMO.nii.gz", 1, 255)],
                   case=f"{base.split('/', 1)[1].replace('/', '_')}_train_{i}") for i in range(1, 8)]


def amos(ids: set[int]):
    def lay(root):
        (root / "amos22").mkdir(parents=True)
        (root / "amos22" / "dataset.json").write_text(json.dumps({"name": "AMOS"}))
        out = []
        layout = {"Tr": [1, 2, 3, 500, 501, 502, 540], "Va": [100, 200, 410, 555, 580, 590, 600]}
        for side, numbers in layout.items():
            for n in numbers:
                name = f"amos_{n:04d}"
                exp = _single(root, n, [f"amos22/images{side}/{name}.nii.gz"], f"amos22/labels{side}/{name}.nii.gz",
                              case=name, values=(0, 1, 15))
                out += [exp] if n in ids else []
        write(volume(7), root / "amos22/imagesTs/amos_0010.nii.gz")  # unlabelled: not a case
        return out
    return lay


def ispy1(root):
    base = "ISPY1"
    out = []
    for i in range(7):
        name = f"ISPY1_{1002 + i}"
        channels = [f"{base}/images_bias-corrected_nifti/{name}/{name}_DCE_000{k}_N3.nii" for k in range(3)]
        out.append(_single(root, i, channels, f"{base}/masks_stv_manual/{name}.nii.gz", case=name))
        _save(_mask(77), root / base / "masks_stv_resunet" / f"{name}.nii.gz")  # automatic masks: not read
    return out


def isbi2015(root):
    out = []
    for p in range(1, 7):
        for t in range(1, 3):
            name = f"training{p:02d}_{t:02d}"
            pre = f"training/training{p:02d}/preprocessed/{name}"
            channels = [f"{pre}_{c}_pp.nii" for c in ("flair", "mprage", "pd", "t2")]
            out.append(_single(root, 10 * p + t, channels, f"training/training{p:02d}/masks/{name}_mask1.nii",
                               case=name, group=f"training{p:02d}"))
            _save(_mask(5), root / f"training/training{p:02d}/masks/{name}_mask2.nii")  # rater 2: not read
    return out


def wmh(root):
    subjects = ["Amsterdam/GE3T/100", "Amsterdam/GE3T/101", "Amsterdam/GE1T5/130", "Singapore/50", "Singapore/51",
                "Utrecht/0", "Utrecht/2"]
    out = []
    for i, subject in enumerate(subjects):
        base = f"dataverse_files/training/{subject}"
        write(volume(900 + i), root / base / "orig" / "FLAIR.nii.gz")  # unregistered originals: not read
        out.append(_single(root, i, [f"{base}/pre/FLAIR.nii.gz", f"{base}/pre/T1.nii.gz"], f"{base}/wmh.nii.gz",
                           case="training_" + subject.replace("/", "_"), values=(0, 1, 2)))
    return out


def cmrxmotion(root):
    base = "CMRxMotion/CMRxMotion Training Dataset/data"
    out = []
    for scan in ("P001-1", "P001-2", "P002-1", "P003-1", "P004-1", "P005-1", "P006-1"):
        for phase in ("ED", "ES"):
            name = f"{scan}-{phase}"
            out.append(_single(root, len(out), [f"{base}/{scan}/{name}.nii.gz"], f"{base}/{scan}/{name}-label.nii.gz",
                               case=name, values=(0, 1, 2, 3), group=scan.split("-")[0], four_d=True))
    write(sitk.JoinSeries([volume(3)]), root / base / "P003-2" / "P003-2-ED.nii.gz")  # no label: not a case
    return out


def ctpelvic1k(root):
    return [_single(root, i, [f"CTPelvic1K_dataset6_data/dataset6_CLINIC_{i + 1:04d}_data.nii.gz"],
                    f"ipcai2021_dataset6_Anonymized/dataset6_CLINIC_{i + 1:04d}_mask_4label.nii.gz",
                    case=f"dataset6_CLINIC_{i + 1:04d}", values=(0, 1, 2, 3, 4)) for i in range(7)]


def luna16(root):
    uid = "1.3.6.1.4.1.14519.5.2.1.6279.6001.10900252552452222565860980905{}"
    return [_single(root, i, [f"subset{i % 3}/{uid.format(i)}.mhd"], f"seg-lungs-LUNA16/{uid.format(i)}.mhd",
                    case=uid.format(i), values=(0, 3, 4, 5), remap={3: 1, 4: 1, 5: 0}) for i in range(7)]


def lndb(root):
    out = []
    for i in range(1, 9):
        name = f"LNDb-{i:04d}"
        if i == 8:  # a scan without any reader's mask is not a case
            write(volume(8), root / f"data1/{name}.mhd")
            continue
        readers = [(f"masks/{name}_rad{r}.mhd", 1, r) for r in range(1, 1 + (i % 3) + 1)]  # 2-3 readers
        out.append(_parts(root, i, [f"data{i // 4}/{name}.mhd"], readers, case=name))
    return out


def seg_a(root):
    folders = ["Dongyang/D1", "Dongyang/D2", "KiTS/K1", "KiTS/K2", "Rider/R1 (AAA)", "Rider/R2 (AAA)", "Rider/R3"]
    out = []
    for i, folder in enumerate(folders):
        name = folder.split("/")[1].split(" ")[0]
        out.append(_single(root, i, [f"SEG-A/{folder}/{name}.nrrd"], f"SEG-A/{folder}/{name}.seg.nrrd", case=name))
    return out


def segrap(sub: str, values):
    def lay(root):
        out = []
        for i in range(7):
            name = f"segrap_{i:04d}"
            base = f"SegRap2023_Training_Set_120cases/{name}"
            out.append(_single(root, i, [f"{base}/image.nii.gz", f"{base}/image_contrast.nii.gz"],
                               f"SegRap2023_Training_Set_120cases_OneHot_Labels/{sub}/{name}.nii.gz",
                               case=name, values=values))
            _save(_mask(4), root / base / "Brain.nii.gz")  # per-structure files: not read
        return out
    return lay


def cas2023(root):
    (root / "Dataset").mkdir()
    (root / "Dataset" / "dataset.json").write_text(json.dumps(
        {"channel_names": {"0": "TOF"}, "labels": {"background": 0, "artery": 1}, "numTraining": 7,
         "file_ending": ".nii.gz"}))
    return [_single(root, i, [f"Dataset/imagesTr/CAS2023_{i:03d}_0000.nii.gz"],
                    f"Dataset/labelsTr/CAS2023_{i:03d}.nii.gz",
                    case=f"CAS2023_{i:03d}") for i in range(7)]


def autopet(root):
    studies = [("PETCT_0af7ffe12a", "08-12-2005-NA-PET-CT Ganzkoerper  primaer mit KM-96698"),
               ("PETCT_0af7ffe12a", "10-04-2006-NA-PET-CT Ganzkoerper  primaer mit KM-05263"),
               ("PETCT_0b57b247b6", "01-23-2004-NA-PET-CT Ganzkoerper  primaer mit KM-10450"),
               ("PETCT_0b98dbe00d", "05-18-2003-NA-PET-CT Ganzkoerper  primaer mit KM-23481"),
               ("PETCT_0b98dbe00d", "11-02-2003-NA-PET-CT Ganzkoerper  primaer mit KM-31287"),
               ("PETCT_0c13e4df10", "09-19-2001-NA-PET-CT Ganzkoerper  primaer mit KM-64413"),
               ("PETCT_0c4d2b6c8e", "02-27-2004-NA-PET-CT Ganzkoerper  primaer mit KM-88032"),
               ("PETCT_0d0e2b1a77", "06-14-2005-NA-PET-CT Ganzkoerper  primaer mit KM-11904"),
               ("PETCT_0e3c5a9f21", "03-30-2002-NA-PET-CT Ganzkoerper  primaer mit KM-52216")]
    out = []
    for i, (patient, study) in enumerate(studies):
        base = f"FDG-PET-CT-Lesions/{patient}/{study}"
        write(volume(40 + i), root / base / "CT.nii.gz")  # original-resolution CT: not read
        out.append(_single(root, i, [f"{base}/SUV.nii.gz", f"{base}/CTres.nii.gz"], f"{base}/SEG.nii.gz",
                           case=f"{patient}_{study}".replace(" ", "_").replace("__", "_"), group=patient))
    return out


def hie(root):
    out = []
    for i in range(1, 8):
        name = f"MGHNICU_{i:03d}"
        out.append(_single(root, i, [f"BONBID-HIE/1ADC_ss/{name}-VISIT_01-ADC_ss.mha",
                                     f"BONBID-HIE/2Z_ADC/Zmap_{name}-VISIT_01-ADC_smooth2mm_clipped10.mha"],
                           f"BONBID-HIE/3LABEL/{name}_lesion.mha", case=name))
    return out


OARS = ["A_Carotid_L", "A_Carotid_R", "Arytenoid", "Bone_Mandible", "Brainstem"]  # values 1..5


def hanseg(root):
    out = []
    for i in (1, 2, 3, 4, 5, 6, 7, 19):
        name = f"case_{i:02d}"
        base = f"HaN-Seg/set_1/{name}"
        write(volume(700 + i), root / base / f"{name}_IMG_MR_T1.nrrd")  # not aligned to the CT: not read
        present = [(f"{base}/{name}_OAR_{oar}.seg.nrrd", k + 1, 1) for k, oar in enumerate(OARS) if (i + k) % 4]
        expected = _parts(root, i, [f"{base}/{name}_IMG_CT.nrrd"], present, case=f"set_1_{name}")
        out += [expected] if i != 19 else []  # case_19's image and masks disagree: excluded
    return out


LAYOUTS: dict[str, Callable[[Path], list[Expected]]] = {
    "Task013_ACDC": acdc, "Task050_LAScarQS22_task1": lascarqs_task1, "Task051_LAScarQS22_task2": lascarqs_task2,
    "Task051_AMOS_CT": amos({1, 2, 3, 500, 100, 200, 410}),
    "Task052_AMOS_MR": amos({501, 502, 540, 555, 580, 590, 600}),
    "Task053_AMOS_Task2": amos({1, 2, 3, 500, 501, 502, 540, 100, 200, 410, 555, 580, 590, 600}),
    "Task110_ISPY1-Tumor-SEG-Radiomics": ispy1, "Task166_LongitudinalMultipleSclerosisLesionSegmentation": isbi2015,
    "Task502_WMH": wmh, "Task525_CMRxMotions": cmrxmotion, "Task612_CTPelvic1k": ctpelvic1k, "Task614_LUNA16": luna16,
    "Task616_LNDb": lndb, "Task700_SEG_A_2023": seg_a, "Task701_SegRap2023": segrap("Task001", (0, 1, 45)),
    "Task702_SegRap2023_Task2": segrap("Task002", (0, 1, 2)), "Task702_CAS2023": cas2023,
    "Task711_autoPET_PET_only": autopet, "Task712_autoPET_CT_only": autopet, "Task720_HIE2023": hie,
    "Task966_HaN-Seg": hanseg,
}


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.mark.parametrize("task", sorted(LAYOUTS))
def test_prepared_from_its_download_layout(tmp_path, cli_runner, task):
    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    raw = tmp_path / "download"
    raw.mkdir()
    expected = LAYOUTS[task](raw)
    result = cli_runner("prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["layout"] != "nnU-Net folder"
    dataset = Path(summary["dataset_dir"])
    sides = {p.name.removesuffix(".nii.gz"): side for side in ("Tr", "Ts")
             for p in (dataset / f"labels{side}").iterdir()}
    assert set(sides) == {e.case for e in expected}
    for e in expected:
        side = sides[e.case]
        for c, channel in enumerate(e.channels):
            assert np.array_equal(_read(dataset / f"images{side}" / f"{e.case}_{c:04d}.nii.gz"),
                                  np.squeeze(_read(raw / channel))), (e.case, c)
        assert np.array_equal(_read(dataset / f"labels{side}" / f"{e.case}.nii.gz"), e.label), e.case
    for group in {e.group for e in expected if e.group}:  # one patient's cases on one side of the split
        assert len({sides[e.case] for e in expected if e.group == group}) == 1, group
