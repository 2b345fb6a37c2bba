"""Lock files: format round trip, comparison, and the prepare -> lock -> verify flows."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from test_convert_fakes import catalog_copy, load_copy, nnunet_tree, write

from segbook.catalog.content import ImageHashes
from segbook.catalog.lock import (
    Difference,
    LockData,
    LockMismatch,
    compare_locks,
    lock_sha256,
    parse_lock,
    read_lock,
    render_lock,
)
from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.convert import prepare_dataset
from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked

pytestmark = pytest.mark.unit

H = ImageHashes("v" * 64, "g" * 64, "c" * 64)


def _lock(images=None, assignment=None, seed=12345, task="Task999_SegBookDemo") -> LockData:
    images = images if images is not None else {("a", "0000"): H, ("a", "label"): H, ("b", "0000"): H,
                                                ("b", "label"): H}
    return LockData(task, seed, "s" * 64, "d" * 64, images, assignment or {"a": "test", "b": "fold0"})


# -- format -------------------------------------------------------------------------------------
def test_render_parse_round_trip_with_sorted_body():
    data = _lock()
    text = render_lock(data, dataset_name="Dataset999_SegBookDemo", tool="segbook test", command="segbook x")
    body = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert body == sorted(body) and len(body) == 4 + 2 + 5
    header = [ln for ln in text.splitlines() if ln.startswith("#")]
    assert any(ln.startswith("# created: ") for ln in header) and "# command: segbook x" in header
    assert any(ln.startswith("# by: ") and "@" in ln for ln in header)
    assert parse_lock(text, "x.lock") == data


def test_lock_hash_covers_the_body_not_the_header():
    data = _lock()
    one = render_lock(data, dataset_name="D", tool="t1", command="c1")
    two = render_lock(data, dataset_name="D", tool="t2", command="c2")
    assert one != two and parse_lock(one, "1") == parse_lock(two, "2")
    assert lock_sha256(data) != lock_sha256(_lock(seed=1))


@pytest.mark.parametrize("text, message", [
    ("format segbook-lock/1\ncase a 0000 content=x\n", "line 2: cannot parse"),
    ("case a 0000 content=x geometry=y other=z\n", "line 1: a case line needs"),
    ("format segbook-lock/1\n", "has no dataset_sha256 line"),
    ("dataset_sha256 d\nformat segbook-lock/9\nsplit_seed 1\nsplit_sha256 s\ntask_id T\n", "segbook-lock/9"),
])
def test_malformed_locks_are_invalid_input(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_lock(text, "bad.lock")


def test_read_lock_of_a_missing_file_is_none(tmp_path):
    assert read_lock(tmp_path / "none.lock") is None


# -- comparison ----------------------------------------------------------------------------------
def test_compare_names_each_kind_of_difference():
    other = ImageHashes("V" * 64, "g" * 64, "C" * 64)
    moved = ImageHashes("v" * 64, "G" * 64, "C" * 64)
    actual = _lock({("a", "0000"): other, ("a", "label"): moved, ("c", "0000"): H, ("c", "label"): H},
                   {"a": "test", "c": "fold1"})
    diffs = compare_locks(_lock(), actual)
    assert [str(d) for d in diffs] == [
        "b: missing (in the lock, not in the data)", "c: extra (in the data, not in the lock)",
        "a: voxels (0000)", "a: geometry (label)"]


def test_compare_reports_a_channel_present_on_one_side_only():
    actual = _lock({("a", "0000"): H, ("a", "0001"): H, ("a", "label"): H, ("b", "0000"): H,
                    ("b", "label"): H})
    assert compare_locks(_lock(), actual) == [Difference("a", "channel", "0001 only in the data")]


def test_compare_reports_another_seed_and_moved_cases():
    diffs = compare_locks(_lock(), _lock(seed=7))
    assert diffs == [Difference("(split)", "split", "seed 7, lock has 12345")]
    moved = compare_locks(_lock(), _lock(assignment={"a": "fold2", "b": "fold0"}))
    assert moved == [Difference("a", "split", "fold2, lock has test")]


def test_identical_locks_have_no_differences():
    assert compare_locks(_lock(), _lock()) == []


# -- prepare flows -------------------------------------------------------------------------------
@pytest.fixture()
def demo(tmp_path):
    return load_copy(tmp_path, "Task999_SegBookDemo")


@pytest.fixture()
def raw(tmp_path):
    return nnunet_tree(tmp_path / "raw", 9)


def test_no_lock_is_refused_before_any_work(tmp_path, demo, raw):
    with pytest.raises(InputMissing, match="has no lock yet") as info:
        prepare_dataset(demo, raw, tmp_path / "out")
    assert "--lock" in info.value.hint and not (tmp_path / "out").exists()


def test_lock_then_verify_round_trip(tmp_path, demo, raw):
    first = prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    assert first.lock_written and not first.reused
    assert first.lock_path == tmp_path / "manifests" / "locks" / "Task999_SegBookDemo.lock"
    assert first.lock_path.stat().st_mode & 0o044  # readable by others: it is meant to be committed
    pinned = read_lock(first.lock_path)
    assert pinned.dataset_sha256 == first.dataset_sha256 and lock_sha256(pinned) == first.lock_sha256
    assert len(pinned.images) == 9 * 2

    again = prepare_dataset(demo, raw, tmp_path / "out")
    assert again.reused and not again.lock_written and "reused" in again.summary()
    assert again.dataset_sha256 == first.dataset_sha256 and again.split == first.split

    elsewhere = prepare_dataset(demo, raw, tmp_path / "out2")  # a second machine, same download
    assert not elsewhere.reused and elsewhere.dataset_sha256 == first.dataset_sha256
    assert elsewhere.case_hashes == first.case_hashes


def _flip_voxel(path):
    image = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] += 1
    changed = sitk.GetImageFromArray(array)
    changed.CopyInformation(image)
    write(changed, path)


def _shift(path, dx=1.5):
    image = sitk.ReadImage(str(path))
    image.SetOrigin(tuple(np.add(image.GetOrigin(), (dx, 0, 0))))
    write(image, path)


def test_mismatch_lists_exactly_which_cases_differ_and_how(tmp_path, demo, raw):
    prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    _flip_voxel(raw / "imagesTr" / "case_002_0000.nii.gz")
    _shift(raw / "imagesTr" / "case_004_0000.nii.gz")
    _shift(raw / "labelsTr" / "case_004.nii.gz")
    with pytest.raises(LockMismatch) as info:
        prepare_dataset(demo, raw, tmp_path / "fresh")
    assert [str(d) for d in info.value.differences] == [
        "case_002: voxels (0000)", "case_004: geometry (0000)", "case_004: geometry (label)"]
    assert info.value.exit_code == 1 and "case_002: voxels (0000)" in info.value.message
    assert not (tmp_path / "fresh" / "nnUNet_raw" / "Dataset999_SegBookDemo").exists()


def test_missing_and_extra_cases(tmp_path, demo, raw):
    prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    for sub, ending in (("images", "_0000.nii.gz"), ("labels", ".nii.gz")):
        (raw / f"{sub}Tr" / f"case_003{ending}").rename(raw / f"{sub}Tr" / f"case_103{ending}")
    with pytest.raises(LockMismatch) as info:
        prepare_dataset(demo, raw, tmp_path / "fresh")
    kinds = {(d.case, d.kind) for d in info.value.differences}
    assert {("case_003", "missing"), ("case_103", "extra")} <= kinds


def test_cli_mismatch_exits_1_and_prints_every_difference(tmp_path, demo, raw, capsys):
    prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    _flip_voxel(raw / "labelsTr" / "case_001.nii.gz")
    manifest = tmp_path / "manifests" / "datasets" / "Task999_SegBookDemo.yaml"
    code = run_guarded(cli, ["prepare", str(manifest), "--raw", str(raw), "--out", str(tmp_path / "o2"),
                             "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == ["differs: case_001: voxels (label)"]
    err = captured.err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("error: Task999_SegBookDemo: 1 differences in 1 cases")


def test_another_seed_is_a_split_difference(tmp_path, demo, raw):
    prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    with pytest.raises(LockMismatch, match=r"\(split\): split \(seed 7, lock has 12345\)"):
        prepare_dataset(demo, raw, tmp_path / "o2", seed=7)


def test_repinning_a_different_lock_needs_force(tmp_path, demo, raw):
    first = prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    _flip_voxel(raw / "imagesTr" / "case_000_0000.nii.gz")
    with pytest.raises(LockMismatch) as info:
        prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    assert "--force" in info.value.hint
    with pytest.raises(OutputBlocked, match="already holds a different prepared dataset"):
        prepare_dataset(demo, raw, tmp_path / "out", lock=True, lock_path=tmp_path / "new.lock")
    assert not (tmp_path / "new.lock").exists()
    second = prepare_dataset(demo, raw, tmp_path / "out", lock=True, force=True)
    assert second.lock_written and second.dataset_sha256 != first.dataset_sha256
    assert read_lock(first.lock_path).dataset_sha256 == second.dataset_sha256
    assert prepare_dataset(demo, raw, tmp_path / "out").reused


def test_a_hand_edited_prepared_dataset_is_not_overwritten_without_force(tmp_path, demo, raw):
    result = prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    victim = result.dataset_dir / "labelsTr" / f"{result.split.train[0]}.nii.gz"
    _flip_voxel(victim)
    with pytest.raises(OutputBlocked) as info:
        prepare_dataset(demo, raw, tmp_path / "out")
    assert "--force" in info.value.hint
    repaired = prepare_dataset(demo, raw, tmp_path / "out", force=True)
    assert not repaired.reused and prepare_dataset(demo, raw, tmp_path / "out").reused
    from segbook.core.hashing import image_content_hash

    assert image_content_hash(victim) == result.case_hashes[result.split.train[0]]["label"]


def test_lock_file_option_puts_the_lock_elsewhere(tmp_path, demo, raw):
    lock = tmp_path / "my-locks" / "demo.lock"
    result = prepare_dataset(demo, raw, tmp_path / "out", lock=True, lock_path=lock)
    assert result.lock_path == lock and lock.is_file()
    assert not demo.lock_path.exists()
    assert prepare_dataset(demo, raw, tmp_path / "out", lock_path=lock).reused


def test_lock_written_by_cli_records_the_command(tmp_path, raw, capsys):
    root = catalog_copy(tmp_path, "Task999_SegBookDemo")
    manifest = root / "datasets" / "Task999_SegBookDemo.yaml"
    code = run_guarded(cli, ["prepare", str(manifest), "--raw", str(raw), "--out", str(tmp_path / "out"),
                             "--lock", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "lock written" in out
    text = (root / "locks" / "Task999_SegBookDemo.lock").read_text()
    assert text.startswith("# segbook-lock/1") and "# command: segbook" in text


def test_recompressed_raw_reuses_the_identical_prepared_dataset(tmp_path, demo, raw):
    import gzip

    first = prepare_dataset(demo, raw, tmp_path / "out", lock=True)
    for path in sorted(raw.rglob("*.nii.gz")):
        path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    converted: list[str] = []
    second = prepare_dataset(demo, raw, tmp_path / "out", progress=converted.append)
    assert second.reused and second.dataset_sha256 == first.dataset_sha256 and len(converted) == 9
    third = prepare_dataset(demo, raw, tmp_path / "out", progress=converted.append)
    assert third.reused and third.case_hashes == first.case_hashes
    assert len(converted) == 9  # the third run recognised the files without converting them
