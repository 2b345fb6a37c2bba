"""Duplicates and leakage (issue 9, item 4): grouped splits, near-duplicate fingerprints, overlap."""

from __future__ import annotations

import json
import math
import random
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from segbook.catalog.lock import LockMismatch, parse_lock, read_lock
from segbook.convert.fingerprint import NEAR_DUPLICATE_THRESHOLD, image_fingerprint, similar_pairs
from segbook.convert.prepare import PrepareOptions, prepare_dataset
from segbook.core.errors import InvalidInput
from segbook.core.splits import _grouped_split, duplicates_block, make_split
from tests.helpers.fakes import REPO, catalog_copy, load_copy, nnunet_tree, write

pytestmark = pytest.mark.unit


# -- the split ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [7, 8, 10, 11, 23, 100])
@pytest.mark.parametrize("seed", [12345, 7])
def test_grouped_rule_without_groups_is_the_ungrouped_split(n, seed):
    cases = [f"c{i:03d}" for i in range(n)]
    plain = make_split(cases, seed)
    assert _grouped_split(cases, seed, math.ceil(0.2 * n), ()) == plain
    assert make_split(cases, seed, groups=()) == plain and "groups" not in plain.as_dict()


def test_the_demo_lock_is_unchanged_and_has_no_groups():
    lock = read_lock(REPO / "manifests" / "locks" / "Task999_SegBookDemo.lock")
    assert lock.groups == ()
    cases = sorted(lock.cases)
    assert make_split(cases, lock.seed).sha256 == lock.split_sha256


@pytest.mark.parametrize("seed", range(20))
def test_groups_never_straddle_a_split(seed):
    rng = random.Random(seed)
    cases = [f"c{i:03d}" for i in range(rng.randint(12, 60))]
    pool = cases[:]
    rng.shuffle(pool)
    groups = [pool[i:i + rng.randint(2, 4)] for i in range(0, rng.randint(2, 10), 4)]
    split = make_split(cases, seed, groups=groups)
    where = {c: "test" for c in split.test} | {c: f"fold{i}" for i, f in enumerate(split.folds) for c in f}
    assert sorted(where) == sorted(cases)
    for group in groups:
        assert len({where[c] for c in group}) == 1, group
    assert 1 <= len(split.test) <= math.ceil(0.2 * len(cases)) and all(split.folds)
    assert split.as_dict()["groups"] == [list(g) for g in split.groups]
    assert duplicates_block(split) == {"groups": [list(g) for g in split.groups]}


def test_too_few_distinct_cases_is_refused():
    cases = [f"c{i}" for i in range(8)]
    with pytest.raises(InvalidInput, match="groups that must stay together"):
        make_split(cases, groups=[cases[:4]])


# -- prepare with planted twins -------------------------------------------------------------------
def _plant_twin(raw, source: str, copy: str) -> None:
    shutil.copy(raw / "imagesTr" / f"{source}_0000.nii.gz", raw / "imagesTr" / f"{copy}_0000.nii.gz")
    shutil.copy(raw / "labelsTr" / f"{source}.nii.gz", raw / "labelsTr" / f"{copy}.nii.gz")


def test_identical_twins_stay_on_one_side_and_are_locked(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 12)
    for source, copy in (("case_001", "case_007"), ("case_002", "case_004"), ("case_002", "case_009")):
        _plant_twin(raw, source, copy)
    messages: list[str] = []
    prepared = prepare_dataset(demo, raw, tmp_path / "out", PrepareOptions(lock=True), progress=messages.append)
    groups = (("case_001", "case_007"), ("case_002", "case_004", "case_009"))
    assert prepared.duplicate_groups == groups
    split = prepared.split
    for group in groups:
        sides = {"test" if c in split.test else next(i for i, f in enumerate(split.folds) if c in f) for c in group}
        assert len(sides) == 1
    assert any(m.startswith("prepare: 2 groups of cases (identical images, or one patient's; 5 cases) "
                            "kept together: "
                            "case_001 = case_007; case_002 = case_004 = case_009") for m in messages)
    text = prepared.lock_path.read_text()
    assert "duplicates case_001 case_007\n" in text and "duplicates case_002 case_004 case_009\n" in text
    assert parse_lock(text, "x").groups == groups
    # the test files are where the split says; a second prepare matches its own lock and reuses
    ds = prepared.dataset_dir
    assert sorted(p.name for p in (ds / "labelsTs").iterdir()) == [f"{c}.nii.gz" for c in split.test]
    again = prepare_dataset(demo, raw, tmp_path / "out", progress=messages.append)
    assert again.reused and again.split == split and again.duplicate_groups == groups


def test_a_download_whose_duplicates_differ_from_the_lock_is_a_difference(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 12)
    prepare_dataset(demo, raw, tmp_path / "out", PrepareOptions(lock=True))
    _plant_twin(raw, "case_001", "case_007")
    with pytest.raises(LockMismatch) as caught:
        prepare_dataset(demo, raw, tmp_path / "out2")
    assert any(d.kind == "duplicates" for d in caught.value.differences)


def test_without_duplicates_the_lock_has_no_duplicates_line(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    prepared = prepare_dataset(demo, nnunet_tree(tmp_path / "raw", 11), tmp_path / "out", PrepareOptions(lock=True))
    assert prepared.split == make_split([f"case_{i:03d}" for i in range(11)], 12345)
    assert "duplicates" not in prepared.lock_path.read_text() and prepared.duplicate_groups == ()


# -- near-duplicates --------------------------------------------------------------------------------
def phantom(seed: int, shape=(32, 64, 64)) -> np.ndarray:
    """A CT-like volume: air, a body of random size and place, blobs of random contrast, noise."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:shape[0], :shape[1], :shape[2]]
    cy, cx = rng.uniform(0.44, 0.56, 2) * shape[1]
    ry, rx = rng.uniform(0.3, 0.44, 2) * shape[1]
    body = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    array = np.where(body, 40.0, -1000.0)
    for _ in range(6):
        c = rng.uniform([0.1, 0.2, 0.2], [0.9, 0.8, 0.8]) * shape
        r = rng.uniform(0.04, 0.15) * shape[1]
        blob = ((zz - c[0]) / r * 2) ** 2 + ((yy - c[1]) / r) ** 2 + ((xx - c[2]) / r) ** 2 < 1
        array[blob & body] = rng.uniform(-100, 300)
    return (array + rng.normal(0, 20, shape)).astype(np.int16)


def as_image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    return image


def test_re_saved_scans_are_near_duplicates_and_different_scans_are_not():
    base = phantom(3)
    variants = {"float32": base.astype(np.float32), "rescaled": base.astype(np.float32) * 0.5 + 100,
                "uint16": (base.astype(np.int32) + 2048).astype(np.uint16),
                "cropped": base[1:-1, 3:-2, 2:], "cropped_rescaled": base[2:, :-3, 3:] * 2.0 - 50}
    reference = {"base": image_fingerprint(as_image(base))}
    for name, array in variants.items():
        ((_, _, similarity),) = similar_pairs(reference, {name: image_fingerprint(as_image(array))}, threshold=-2)
        assert similarity >= NEAR_DUPLICATE_THRESHOLD, (name, similarity)
    others = {f"p{k}": image_fingerprint(as_image(phantom(k))) for k in range(20)}
    assert similar_pairs(others) == []  # negative control: 20 different scans, no pair flagged


def _smooth_tree(root, n: int):
    raw = nnunet_tree(root, n)
    rng = np.random.default_rng(0)
    for i in range(n):
        array = phantom(50 + i, shape=(16, 40, 40))
        write(as_image(array), raw / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        write(as_image(rng.integers(0, 3, array.shape).astype(np.uint8)), raw / "labelsTr" / f"case_{i:03d}.nii.gz")
    return raw


def test_prepare_warns_about_near_duplicate_pairs_without_blocking(tmp_path):
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = _smooth_tree(tmp_path / "raw", 10)
    rescaled = phantom(52, shape=(16, 40, 40)).astype(np.float32) * 0.25 + 7  # case_002 re-saved
    write(as_image(rescaled), raw / "imagesTr" / "case_008_0000.nii.gz")
    messages: list[str] = []
    prepared = prepare_dataset(demo, raw, tmp_path / "out", PrepareOptions(lock=True), progress=messages.append)
    assert [p[:2] for p in prepared.near_duplicates] == [("case_002", "case_008")]
    assert any("1 pair of near-duplicate cases" in m and "case_002 ~ case_008" in m for m in messages)
    assert prepared.duplicate_groups == ()  # near, not identical: the split is the ungrouped one
    assert prepared.split == make_split([f"case_{i:03d}" for i in range(10)], 12345)


# -- datasets overlap -------------------------------------------------------------------------------
@pytest.fixture()
def two_prepared(tmp_path, monkeypatch):
    """Pre-training set P (Task998-like copy of the demo manifest) and downstream D sharing cases."""
    root = catalog_copy(tmp_path, "Task999_SegBookDemo")
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(root))
    monkeypatch.setenv("SEGBOOK_OUT", str(tmp_path / "out"))
    demo = load_copy(tmp_path, "Task999_SegBookDemo")
    downstream = _smooth_tree(tmp_path / "down", 10)
    prepared = prepare_dataset(demo, downstream, tmp_path / "out", PrepareOptions(lock=True))
    test_case = prepared.split.test[0]
    pre = tmp_path / "pretrain"
    (pre / "images").mkdir(parents=True)
    shutil.copy(downstream / "imagesTr" / f"{test_case}_0000.nii.gz", pre / "images" / "scan_a.nii.gz")
    near = sitk.GetArrayFromImage(sitk.ReadImage(str(downstream / "imagesTr" / "case_003_0000.nii.gz")))
    write(as_image(near.astype(np.float32) * 3 + 1), pre / "images" / "scan_b.nii.gz")
    write(as_image(phantom(999, shape=(16, 40, 40))), pre / "images" / "scan_c.nii.gz")
    return prepared, pre, test_case


def test_overlap_lists_the_shared_test_case_with_its_side(two_prepared, cli_runner):
    prepared, pre, test_case = two_prepared
    result = cli_runner("datasets", "overlap", pre, "demo")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "identical images: 1 shared case pairs" in out
    row = next(line for line in out.splitlines() if "images/scan_a.nii.gz" in line)
    assert test_case in row and row.split()[-1] == "test"
    assert "1 of Task999_SegBookDemo's held-out test cases are in pretrain" in out
    near = next(line for line in out.splitlines() if "images/scan_b.nii.gz" in line and "case_003" in line)
    assert "near-duplicates" in out and near
    assert "scan_c" not in out


def test_overlap_reads_lock_files_and_prepared_folders_as_json(two_prepared, cli_runner):
    prepared, pre, test_case = two_prepared
    result = cli_runner("datasets", "overlap", prepared.lock_path, prepared.dataset_dir, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["identical"]) == 10 and data["near_duplicates"] == []
    assert {(r["a"], r["a_side"]) for r in data["identical"] if r["a_side"] == "test"} == \
        {(c, "test") for c in prepared.split.test}
    assert data["a"]["fingerprints"] and data["b"]["fingerprints"]


def test_overlap_on_a_dataset_never_prepared_is_66_with_two_lines(tmp_path, monkeypatch, cli_runner):
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(catalog_copy(tmp_path, "Task999_SegBookDemo", "Task009_Spleen")))
    result = cli_runner("datasets", "overlap", "Task009_Spleen", "demo")
    assert result.exit_code == 66
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: Task009_Spleen was never prepared")
    assert lines[1] == "hint: run `segbook prepare Task009_Spleen --raw DIR --lock` first"
    missing = cli_runner("datasets", "overlap", tmp_path / "nowhere.lock", "demo")
    assert missing.exit_code == 66
