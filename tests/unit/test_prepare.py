"""What `prepare` writes: an nnU-Net v2 raw dataset with the test cases apart, split files, stamp."""

from __future__ import annotations

import json
import shutil
import stat

import pytest

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.convert.prepare import PreparedDataset, PrepareOptions, nnunet_channel_name, prepare_dataset
from segbook.convert.user_manifest import manifest_for_folder
from segbook.core.errors import OutputBlocked, UsageProblem
from segbook.core.hashing import image_content_hash
from segbook.core.splits import Split, make_split
from tests.helpers.fakes import catalog_copy, load_copy, nnunet_tree

pytestmark = pytest.mark.unit


@pytest.fixture()
def prepared(tmp_path) -> PreparedDataset:
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    return prepare_dataset(demo, nnunet_tree(tmp_path / "raw", 11), tmp_path / "out",
                           PrepareOptions(lock=True, seed=12345))


def test_layout_and_training_cases_only_in_tr(prepared, tmp_path):
    ds = prepared.dataset_dir
    assert ds == tmp_path / "out" / "nnUNet_raw" / "Dataset999_SegBookDemo"
    assert prepared.dataset_name == "Dataset999_SegBookDemo"
    assert prepared.split == make_split([f"case_{i:03d}" for i in range(11)], 12345)
    assert (prepared.n_train, prepared.n_test) == (8, 3)
    images = sorted(p.name for p in (ds / "imagesTr").iterdir())
    assert images == [f"{c}_0000.nii.gz" for c in prepared.split.train]
    assert sorted(p.name for p in (ds / "labelsTs").iterdir()) == [f"{c}.nii.gz" for c in prepared.split.test]
    assert not any(p.name.startswith(".") for p in ds.parent.iterdir())


def test_dataset_json_is_nnunet_v2(prepared):
    meta = json.loads((prepared.dataset_dir / "dataset.json").read_text())
    assert meta["numTraining"] == 8 and meta["file_ending"] == ".nii.gz"
    assert meta["labels"] == {"background": 0, "organ": 1, "lesion": 2}
    assert meta["channel_names"] == {"0": "synthetic MR"}
    assert meta["segbook"]["task_id"] == "Task999_SegBookDemo" and meta["segbook"]["test_cases"] == 3


def test_split_files(prepared):
    ds = prepared.dataset_dir
    folds = json.loads((ds / "splits_final.json").read_text())
    assert len(folds) == 5
    train, test = set(prepared.split.train), set(prepared.split.test)
    for fold in folds:
        assert set(fold["train"]) | set(fold["val"]) == train and not set(fold["val"]) & set(fold["train"])
    validated = set().union(*(f["val"] for f in folds))
    assert validated == train and not test & validated
    split = json.loads((ds / "split.json").read_text())
    assert split.pop("sha256") == prepared.split.sha256 and Split.from_dict(split) == prepared.split


def test_returned_hashes_are_the_files_content_hashes(prepared):
    ds = prepared.dataset_dir
    case = prepared.split.test[0]
    assert prepared.case_hashes[case]["0000"] == image_content_hash(ds / "imagesTs" / f"{case}_0000.nii.gz")
    assert prepared.case_hashes[case]["label"] == image_content_hash(ds / "labelsTs" / f"{case}.nii.gz")
    assert len(prepared.dataset_sha256) == 64 and len(prepared.lock_sha256) == 64


def test_prepared_files_are_not_private(prepared):
    for path in [prepared.dataset_dir, *prepared.dataset_dir.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044, path


@pytest.mark.parametrize("channel, expected", [
    ({"name": "CT", "normalization": "CTNormalization"}, "CT"),
    ({"name": "contrast CT", "normalization": "CTNormalization"}, "CT"),
    ({"name": "T2 MRI", "normalization": "ZScoreNormalization"}, "T2 MRI"),
    ({"name": "CT", "normalization": "ZScoreNormalization"}, "zscore"),
    ({"name": "PET", "normalization": "NoNormalization"}, "noNorm"),
])
def test_channel_names_select_the_manifests_normalisation(channel, expected):
    assert nnunet_channel_name(channel) == expected


def test_cli_prepare_json_output(tmp_path, capsys):
    root = catalog_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 8)
    args = ["prepare", str(root / "datasets" / "Task999_SegBookDemo.yaml"), "--raw", str(raw),
            "--out", str(tmp_path / "out"), "--format", "json"]
    assert run_guarded(cli, [*args, "--lock"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["lock_written"] and first["train_cases"] == 6 and first["test_cases"] == 2
    assert run_guarded(cli, args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["reused"] and second["dataset_sha256"] == first["dataset_sha256"]


def test_cli_prepare_uses_settings_out_root_and_catalog_names(tmp_path, capsys, monkeypatch):
    root = catalog_copy(tmp_path, "Task999_SegBookDemo")
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(root))
    monkeypatch.setenv("SEGBOOK_OUT", str(tmp_path / "default-out"))
    code = run_guarded(cli, ["prepare", "demo", "--raw", str(nnunet_tree(tmp_path / "raw", 8)), "--lock"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "[8/8]" in captured.err  # progress lines go to stderr
    assert (tmp_path / "default-out" / "nnUNet_raw" / "Dataset999_SegBookDemo" / "dataset.json").is_file()


def test_a_folder_given_as_the_dataset_gets_an_in_memory_manifest(tmp_path):
    raw = nnunet_tree(tmp_path / "Dataset777_My Scans", 8)
    manifest = manifest_for_folder(raw)
    assert (manifest.task_id, manifest.kind, manifest.target) == ("Task777_My_Scans", "user", "unknown")
    assert not (raw / "segbook.yaml").exists()
    result = prepare_dataset(manifest, raw, tmp_path / "out", PrepareOptions(lock=True))
    assert result.lock_path == raw / "segbook.lock" and result.dataset_name == "Dataset777_My_Scans"
    assert prepare_dataset(manifest_for_folder(raw), raw, tmp_path / "out").reused


def test_a_folder_with_its_own_manifest_uses_it(tmp_path):

    raw = nnunet_tree(tmp_path / "anything", 8)
    shutil.copy(catalog_copy(tmp_path, "Task999_SegBookDemo") / "datasets" / "Task999_SegBookDemo.yaml",
                raw / "segbook.yaml")
    assert manifest_for_folder(raw).task_id == "Task999_SegBookDemo"


def test_a_folder_without_an_id_in_its_name_is_a_usage_problem(tmp_path):
    with pytest.raises(UsageProblem, match="cannot tell a dataset id"):
        manifest_for_folder(nnunet_tree(tmp_path / "scans", 8))


def test_an_unwritable_lock_location_is_refused_before_converting(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(OutputBlocked, match="cannot write the lock") as info:
        prepare_dataset(demo, nnunet_tree(tmp_path / "raw", 8), tmp_path / "out",
                        PrepareOptions(lock=True, lock_file=tmp_path / "a-file" / "demo.lock"))
    assert "--lock-file" in info.value.hint and not (tmp_path / "out").exists()
