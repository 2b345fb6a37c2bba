"""The DICOM downloads (TCIA/IDC trees: CT or MR series with DICOM-SEG or RTSTRUCT labels), and CHAOS's
DICOM series with PNG ground truth, laid out as their downloads name them and prepared by `segbook prepare`.

Files are written with pydicom/highdicom (tests/helpers/dicom_writer.py) under TCIA-style folder names, the
slices of a series in no name order: prepare must find everything by header. Segment and ROI names follow
the patterns each manifest declares; automatic (AI) SEGs and unreferenced series must be left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from tests.helpers.dicom_writer import write_ct_series, write_rtstruct, write_seg
from tests.helpers.fakes import catalog_copy

pytestmark = pytest.mark.unit

SHAPE = (6, 16, 16)  # z, y, x


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-200, 400, size=SHAPE).astype(np.int16)


def _box(seed: int, k: int) -> np.ndarray:
    """A block of whole voxels (exact through SEG and RTSTRUCT round trips)."""
    rng = np.random.default_rng(1000 * seed + k)
    mask = np.zeros(SHAPE, dtype=bool)
    y, x = rng.integers(1, 8, size=2)
    mask[1:5, y:y + 6, x:x + 5] = True
    return mask


def _study(patient: str, i: int) -> str:
    return f"{patient}/0{1 + i % 9}-0{1 + i % 7}-200{i % 10}-NA-CT ABDOMEN-{7000 + i}"


def _series_folder(study: str, number: int, what: str) -> str:
    return f"{study}/{number}.000000-{what}-{40000 + number}"


def _dicom_dataset(root: Path, prefix: str, segments: list[tuple[str, int | None]], *, modality="CT",
                   obj="SEG", readers: int = 1, n: int = 7, extra=None) -> dict[str, np.ndarray]:
    """n patients, each a series and its label object(s); segments are (name, expected value or None)."""
    expected = {}
    for i in range(n):
        patient = f"{prefix}-{1001 + i}"
        study = _study(patient, i)
        files = write_ct_series(_image(i), root / _series_folder(study, 3, "NA"), patient_id=patient,
                                modality=modality, series_number=3, spacing=(0.8, 0.8, 2.5), origin=(-10.0, -20.0, 5.0))
        label = np.zeros(SHAPE, dtype=np.int64)
        for r in range(readers):
            masks = {name: _box(i, 10 * r + k) for k, (name, _) in enumerate(segments)}
            path = root / _series_folder(study, 300 + r, "Segmentation") / "1-1.dcm"
            if obj == "SEG":
                write_seg(masks, files, path)
            else:
                write_rtstruct(masks, files, path)
            if r == 0 or extra != "first":
                for name, value in sorted(segments, key=lambda s: s[1] or 0):  # the higher value wins
                    if value:
                        label[masks[name]] = value
        expected[patient] = label
    return expected


def crlm(root):
    expected = _dicom_dataset(root, "CRLM-CT", [("Liver", 1), ("Liver Remnant", None), ("Hepatic", None),
                                                ("Portal", None), ("Tumor_1", 2), ("Tumor_2", 2)])
    # an AI segmentation of the first patient's CT (IDC's BAMF analysis results): excluded
    series = sorted((root / _series_folder(_study("CRLM-CT-1001", 0), 3, "NA")).glob("*.dcm"))
    write_seg({"Liver": _box(0, 99)}, series, root / "CRLM-CT-1001" / "bamf" / "seg.dcm", algorithm="AUTOMATIC")
    return expected


def lidc(root):
    return _dicom_dataset(root, "LIDC-IDRI", [("Nodule 1", 1), ("Nodule 2", 1)], readers=3, extra="union")


def hcc(root):
    expected = _dicom_dataset(root, "HCC", [("Liver", 1), ("Mass", 2), ("Portal vein", 3), ("Abdominal aorta", 4)])
    # another phase of the first patient, referenced by no SEG: not a case
    write_ct_series(_image(77), root / _series_folder(_study("HCC-1001", 0), 4, "Recon 3 LIVER"), patient_id="HCC-1001",
                    series_number=4, spacing=(0.8, 0.8, 2.5), origin=(-10.0, -20.0, 5.0))
    return expected


def prostatex_hires(root):
    return _dicom_dataset(root, "ProstateX", [("Prostate", 1)], modality="MR", readers=2, extra="first")


def prostatex_zones(root):
    return _dicom_dataset(root, "ProstateX", [("Peripheral zone", 1), ("Transition zone", 2), ("Urethra", 3),
                                              ("Anterior fibromuscular stroma", 4)], modality="MR")


def edge_cases(root):
    return _dicom_dataset(root, "Prostate-AEC", [("Prostate", 1), ("Rectum", 2), ("Bladder", 3), ("Femur_L", 4),
                                                 ("Femur_R", 5), ("Couch", None)], obj="RTSTRUCT")


def qiba(root):
    return _dicom_dataset(root, "QIBA", [("Lesion", 1)], readers=3, extra="first")


DICOM_LAYOUTS = {"Task104_Colorectal_Liver_Metastases": crlm, "Task105_DICOM_LIDC_IDRI_Nodules": lidc,
                 "Task107_HCC-TACE-Seg": hcc, "Task112_PROSTATEx-Seg-HiRes": prostatex_hires,
                 "Task113_PROSTATEx-Seg-Zones": prostatex_zones, "Task114_Prostate-Anatomical-Edge-Cases": edge_cases,
                 "Task115_QIBA-VolCT-1B": qiba}


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _prepare(cli_runner, tmp_path, task, raw) -> tuple[dict, Path]:
    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    result = cli_runner("prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    return summary, Path(summary["dataset_dir"])


def _prepared(dataset: Path, case: str, what: str) -> np.ndarray:
    side = "Tr" if (dataset / "labelsTr" / f"{case}.nii.gz").exists() else "Ts"
    return _read(dataset / f"{what}{side}" / (f"{case}.nii.gz" if what == "labels" else f"{case}_0000.nii.gz"))


@pytest.mark.parametrize("task", sorted(DICOM_LAYOUTS))
def test_dicom_download_prepared_by_header(tmp_path, cli_runner, task):
    raw = tmp_path / "download" / "manifest-1700000000000"
    expected = DICOM_LAYOUTS[task](raw)
    summary, dataset = _prepare(cli_runner, tmp_path, task, tmp_path / "download")
    assert summary["layout"] != "nnU-Net folder"
    cases = {p.name.removesuffix(".nii.gz") for side in ("Tr", "Ts") for p in (dataset / f"labels{side}").iterdir()}
    assert cases == set(expected)
    for i, (case, label) in enumerate(sorted(expected.items())):
        assert np.array_equal(_prepared(dataset, case, "labels"), label), case
        assert np.array_equal(_prepared(dataset, case, "images"), _image(i)), case  # slices in position order
    assert (tmp_path / "out" / ".cache").is_dir()  # the header index is kept under the output root


def chaos(root: Path) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """Train_Sets/MR/<id>/{T1DUAL/DICOM_anon/{InPhase,OutPhase}, T2SPIR/DICOM_anon}/*.dcm + */Ground/*.png."""
    grey = {1: 63, 2: 126, 3: 189, 4: 252}
    expected = {}
    for p in (1, 2, 3, 5, 8, 13):  # 6 patients: a grouped split needs 6 units
        base = root / "CHAOS_Train_Sets" / "Train_Sets" / "MR" / str(p)
        for sequence, echoes in (("T1DUAL", {"InPhase": 4.6, "OutPhase": 2.3}), ("T2SPIR", {"": 80.0})):
            images = []
            for k, (folder, echo) in enumerate(echoes.items()):
                volume = _image(10 * p + k)
                write_ct_series(volume, base / sequence / "DICOM_anon" / folder, patient_id=f"CHAOS-{p}", modality="MR",
                                series_number=k + 1, spacing=(1.5, 1.5, 6.0), origin=(0.0, 0.0, 0.0), echo_time=echo)
                images.append(volume)
            label = np.zeros(SHAPE, dtype=np.int64)
            for value in grey:
                label[_box(p, value)] = value
            for z in range(SHAPE[0]):  # PNG k <-> the slice with the k-th InstanceNumber (position order here)
                png = np.vectorize(lambda v: grey.get(v, 0))(label[z]).astype(np.uint8)
                path = base / sequence / "Ground" / f"IMG-{z + 1:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(png).save(path)
            expected[f"{p}_{sequence}"] = (images if len(images) == 2 else images * 2, label)
    return expected


def test_chaos_dicom_series_with_png_ground_truth(tmp_path, cli_runner):
    expected = chaos(tmp_path / "download")
    summary, dataset = _prepare(cli_runner, tmp_path, "Task037_CHAOS_Task_3_5_Variant1", tmp_path / "download")
    assert summary["layout"].startswith("CHAOS")
    for case, (images, label) in expected.items():
        side = "Tr" if (dataset / "labelsTr" / f"{case}.nii.gz").exists() else "Ts"
        assert np.array_equal(_read(dataset / f"labels{side}" / f"{case}.nii.gz"), label), case
        for c, image in enumerate(images):  # in-phase (the longer echo) first, whatever the folder names
            assert np.array_equal(_read(dataset / f"images{side}" / f"{case}_{c:04d}.nii.gz"), image), (case, c)
        other = f"{case.split('_')[0]}_{'T2SPIR' if case.endswith('T1DUAL') else 'T1DUAL'}"
        assert (dataset / f"labels{side}" / f"{other}.nii.gz").exists()  # one patient, one side of the split
