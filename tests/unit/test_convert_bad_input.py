"""Bad input: a one-line error, its documented exit code, and nothing half-written."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import numpy as np
import pytest
import SimpleITK as sitk

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.convert.archive import unpack
from segbook.convert.prepare import PrepareOptions, prepare_dataset
from segbook.core.errors import InvalidInput
from tests.helpers.fakes import (
    autopet_tree,
    brats2021_tree,
    catalog_copy,
    four_d,
    label,
    load_copy,
    msd_tree,
    nnunet_tree,
    volume,
    write,
)

pytestmark = pytest.mark.unit

DEMO = "Task999_SegBookDemo"


def _run(tmp_path, capsys, raw, task=DEMO, *extra):
    manifest = catalog_copy(tmp_path, task) / "datasets" / f"{task}.yaml"
    code = run_guarded(cli, ["prepare", str(manifest), "--raw", str(raw), "--out", str(tmp_path / "out"),
                             "--lock", "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def _assert_nothing_written(tmp_path, task=DEMO):
    raw_root = tmp_path / "out" / "nnUNet_raw"
    assert not raw_root.exists() or list(raw_root.iterdir()) == []
    assert not (tmp_path / "manifests" / "locks" / f"{task}.lock").exists()


def _fails(tmp_path, capsys, raw, code, message, task=DEMO):
    got, err = _run(tmp_path, capsys, raw, task)
    assert got == code, err
    assert len(err) == 2 and err[0].startswith("error: ") and err[1].startswith("hint: "), err
    assert message in err[0], err[0]
    _assert_nothing_written(tmp_path, task)


def test_raw_folder_missing(tmp_path, capsys):
    _fails(tmp_path, capsys, tmp_path / "nowhere", 66, "does not exist")


def test_raw_folder_empty(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    _fails(tmp_path, capsys, tmp_path / "raw", 66, "is empty")


def test_raw_folder_in_no_known_layout(tmp_path, capsys):
    write(volume(1), tmp_path / "raw" / "a" / "x.nii.gz")
    write(volume(2), tmp_path / "raw" / "b" / "y.nii.gz")
    _fails(tmp_path, capsys, tmp_path / "raw", 65, "is not in a layout")


def test_case_without_label(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8)
    (raw / "labelsTr" / "case_003.nii.gz").unlink()
    _fails(tmp_path, capsys, raw, 65, "case case_003 in imagesTr/ has no label")


def test_case_without_a_channel(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8, channels=2, v2=False)
    (raw / "imagesTr" / "case_005_0001.nii.gz").unlink()
    _fails(tmp_path, capsys, raw, 65, "case case_005 has no channel 0001", task="Task005_Prostate")


def test_case_folder_without_a_channel_file(tmp_path, capsys):
    raw = brats2021_tree(tmp_path / "raw", 8)
    (raw / "BraTS2021_00002" / "BraTS2021_00002_t2.nii.gz").unlink()
    _fails(tmp_path, capsys, raw, 65, "case BraTS2021_00002 has no channel 0002", task="Task019_BraTS21")


@pytest.mark.parametrize("change, message", [
    ({"shape": (8, 8, 9)}, "label shape (9, 8, 8) differs"),
    ({"spacing": (0.8, 0.8, 3.0)}, "label spacing (0.8, 0.8, 3) differs"),
    ({"origin": (0.0, 5.0, 0.0)}, "label origin (0, 5, 0) differs"),
])
def test_image_label_geometry_mismatch(tmp_path, capsys, change, message):
    raw = nnunet_tree(tmp_path / "raw", 8)
    write(label(2, **change), raw / "labelsTr" / "case_002.nii.gz")
    _fails(tmp_path, capsys, raw, 65, f"case case_002: {message}")


def test_orientation_mismatch(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8)
    flipped = label(4)
    flipped.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
    write(flipped, raw / "labelsTr" / "case_004.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "case case_004: label orientation differs")


def test_channels_on_different_grids(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8, channels=2, v2=False)
    write(volume(7, origin=(10.0, 0.0, 0.0)), raw / "imagesTr" / "case_001_0001.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "case case_001: channel 0001 origin", task="Task005_Prostate")


def test_label_values_outside_the_declared_set(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8)
    write(label(6, (0, 1, 7)), raw / "labelsTr" / "case_006.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "label values [7] are outside the declared labels 0..2")


def test_fractional_label_values(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8)
    bad = sitk.Cast(label(1), sitk.sitkFloat32) * 0.5
    write(bad, raw / "labelsTr" / "case_001.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "non-integer values")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_voxels(tmp_path, capsys, value):
    raw = nnunet_tree(tmp_path / "raw", 8)
    array = sitk.GetArrayFromImage(volume(3)).astype(np.float32)
    array[1, 2, 3] = value
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(volume(3))
    write(image, raw / "imagesTr" / "case_003_0000.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "case case_003: case_003_0000.nii.gz has NaN or infinite voxels")


def test_unreadable_file(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8)
    (raw / "imagesTr" / "case_000_0000.nii.gz").write_bytes(b"this is not an image")
    _fails(tmp_path, capsys, raw, 65, "case case_000: case_000_0000.nii.gz is corrupt")


@pytest.mark.parametrize("compressed", [True, False])
def test_truncated_file(tmp_path, capsys, compressed):
    raw = nnunet_tree(tmp_path / "raw", 8)
    if compressed:
        path = raw / "labelsTr" / "case_007.nii.gz"
    else:  # an uncompressed .nii in a dataset whose dataset.json says so
        meta = json.loads((raw / "dataset.json").read_text())
        meta["file_ending"] = ".nii"
        (raw / "dataset.json").write_text(json.dumps(meta))
        for p in sorted(raw.rglob("*.nii.gz")):
            sitk.WriteImage(sitk.ReadImage(str(p)), str(p).removesuffix(".gz"))
            p.unlink()
        path = raw / "labelsTr" / "case_007.nii"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    _fails(tmp_path, capsys, raw, 65, "case case_007: case_007.nii")


def test_duplicate_case_ids(tmp_path, capsys):
    raw = nnunet_tree(tmp_path / "raw", 8, test_cases=1)
    for sub, ending in (("images", "_0000.nii.gz"), ("labels", ".nii.gz")):
        (raw / f"{sub}Ts" / f"case_008{ending}").rename(raw / f"{sub}Ts" / f"case_001{ending}")
    _fails(tmp_path, capsys, raw, 65, "duplicate case id case_001")


def test_case_ids_that_collide_after_cleaning(tmp_path, capsys):
    raw = autopet_tree(tmp_path / "raw", 8)
    study = sorted(raw.glob("*/*"))[0]
    study.rename(study.with_name(study.name.replace(" ", "+")))  # "a b" and "a+b" both clean to a_b
    autopet_tree(tmp_path / "raw", 1)  # recreate the original study
    _fails(tmp_path, capsys, raw, 65, "duplicate case id", task="Task710_autoPET")


def test_4d_volume_with_the_wrong_number_of_channels(tmp_path, capsys):
    raw = msd_tree(tmp_path / "raw", 8, channels=2)
    write(four_d([volume(1), volume(2), volume(3)]), raw / "imagesTr" / "prostate_04.nii.gz")
    _fails(tmp_path, capsys, raw, 65, "case prostate_04: the 4D volume has 3 channels, Task005_Prostate "
           "declares 2", task="Task005_Prostate")


def test_dataset_json_with_another_channel_count(tmp_path, capsys):
    raw = msd_tree(tmp_path / "raw", 8, channels=1)
    _fails(tmp_path, capsys, raw, 65, "declares 1 channels, Task005_Prostate has 2", task="Task005_Prostate")


def test_too_few_cases_for_a_split(tmp_path, capsys):
    _fails(tmp_path, capsys, nnunet_tree(tmp_path / "raw", 5), 65, "too few")


def test_interrupted_prepare_leaves_no_half_dataset(tmp_path):
    demo = load_copy(tmp_path, DEMO)
    seen = []

    def stop_after_three(line):
        seen.append(line)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(demo, nnunet_tree(tmp_path / "raw", 8), tmp_path / "out", PrepareOptions(lock=True),
                        progress=stop_after_three)
    _assert_nothing_written(tmp_path)


# -- archives -----------------------------------------------------------------------------------
def _tar_with(tmp_path, name: str, *, link: str | None = None):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        good = tarfile.TarInfo("data/ok.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        if link:
            info.type, info.linkname = tarfile.SYMTYPE, link
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    return archive


@pytest.mark.parametrize("name, link", [("../escape.txt", None), ("/tmp/absolute.txt", None),
                                        ("data/../../escape.txt", None), ("data/link", "/etc/passwd")])
def test_tar_members_that_would_escape_are_refused(tmp_path, name, link):
    archive = _tar_with(tmp_path, name, link=link)
    with pytest.raises(InvalidInput, match="refusing to unpack|would extract outside"):
        unpack(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists() and not (tmp_path / "escape.txt").exists()
    assert not any(p.name.startswith(".target") for p in tmp_path.iterdir())


def test_zip_members_that_would_escape_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/ok.txt", "ok")
        zf.writestr("../../escape.txt", "evil")
    with pytest.raises(InvalidInput, match="would extract outside"):
        unpack(archive, tmp_path / "sub" / "target")
    assert not (tmp_path / "sub" / "target").exists() and not (tmp_path / "escape.txt").exists()


def test_archive_escape_through_prepare_exits_65(tmp_path, capsys):
    _fails(tmp_path, capsys, _tar_with(tmp_path, "../escape.txt"), 65, "would extract outside")
    assert not (tmp_path / "out" / "downloads" / DEMO).exists()


def test_damaged_archive(tmp_path, capsys):
    archive = _tar_with(tmp_path, "data/b.txt")
    archive.write_bytes(archive.read_bytes()[:60])
    _fails(tmp_path, capsys, archive, 65, "cannot be unpacked")


def test_good_zip_unpacks_once(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Task/readme.txt", "hello")
    target = unpack(archive, tmp_path / "target")
    assert (target / "Task" / "readme.txt").read_text() == "hello"
    mtime = (target / "Task" / "readme.txt").stat().st_mtime_ns
    assert unpack(archive, tmp_path / "target") == target
    assert (target / "Task" / "readme.txt").stat().st_mtime_ns == mtime  # reused, not unpacked again
