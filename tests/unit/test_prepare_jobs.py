"""`prepare --jobs N`: the same prepared dataset and lock, bit for bit, for any N; errors as with one job."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import SimpleITK as sitk

from segbook.core.cores import usable_cores
from tests.helpers.fakes import catalog_copy, nnunet_tree

pytestmark = pytest.mark.unit

TASK = "Task009_Spleen"


def _tree_digest(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _pinned(lock) -> bytes:
    """The lock without its provenance comments (when, by whom, which command line)."""
    return b"".join(line for line in lock.read_bytes().splitlines(keepends=True)
                    if not line.startswith((b"# created:", b"# by:", b"# command:")))


def _prepare(cli_runner, tmp_path, raw, name: str, jobs: int):
    manifests = catalog_copy(tmp_path / name, TASK)
    result = cli_runner("prepare", manifests / "datasets" / f"{TASK}.yaml", "--raw", raw, "--out",
                        tmp_path / name / "out", "--lock", "--jobs", str(jobs), "--format", "json",
                        "--lock-file", tmp_path / name / "spleen.lock")
    return result, tmp_path / name


def test_any_number_of_jobs_gives_identical_bytes(tmp_path, cli_runner):
    raw = nnunet_tree(tmp_path / "Dataset009_Spleen", 9, values=(0, 1))
    one, where_one = _prepare(cli_runner, tmp_path, raw, "one", 1)
    two, where_two = _prepare(cli_runner, tmp_path, raw, "two", 2)
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["dataset_sha256"] == b["dataset_sha256"] and a["lock_sha256"] == b["lock_sha256"]
    assert _pinned(where_one / "spleen.lock") == _pinned(where_two / "spleen.lock")
    prepared_one = _tree_digest(where_one / "out" / "nnUNet_raw")
    prepared_two = _tree_digest(where_two / "out" / "nnUNet_raw")
    stamp = "Dataset009_Spleen/segbook_prepared.json"  # differs in the output folder's fingerprint (mtimes) only
    assert prepared_one.keys() == prepared_two.keys()
    assert [k for k in prepared_one if prepared_one[k] != prepared_two[k]] in ([], [stamp])
    stamps = [json.loads((where / "out" / "nnUNet_raw" / stamp).read_text()) for where in (where_one, where_two)]
    for body in stamps:
        body.pop("output")
    assert stamps[0] == stamps[1]


def test_a_bad_case_fails_the_same_way_with_two_jobs(tmp_path, cli_runner):
    raw = nnunet_tree(tmp_path / "Dataset009_Spleen", 9, values=(0, 1))
    bad = raw / "labelsTr" / "case_004.nii.gz"
    image = sitk.ReadImage(str(bad))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = 7  # not a declared label
    out = sitk.GetImageFromArray(array)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(bad))
    one, _ = _prepare(cli_runner, tmp_path, raw, "one", 1)
    two, where = _prepare(cli_runner, tmp_path, raw, "two", 2)
    assert one.exit_code == two.exit_code == 65
    assert one.stderr == two.stderr and len(two.stderr.strip().splitlines()) == 2 and "case_004" in two.stderr
    raw_root = where / "out" / "nnUNet_raw"
    assert not raw_root.exists() or not [p for p in raw_root.iterdir() if not p.name.startswith(".")]


def test_the_default_is_the_cpu_affinity(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5})
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cores() == 6


def test_small_downloads_default_to_one_process(tmp_path):
    from segbook.convert.layouts import Discovery, RawCase  # noqa: PLC0415
    from segbook.convert.prepare import _jobs  # noqa: PLC0415

    small = tmp_path / "a.nii.gz"
    small.write_bytes(np.zeros(100, dtype=np.uint8).tobytes())
    found = Discovery("x", {}, tmp_path, (RawCase("a", (small,), small),))
    assert _jobs(None, found) == 1 and _jobs(4, found) == 4


def test_cases_of_one_group_stay_together_with_identical_ones_merged(tmp_path):
    import dataclasses  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    from segbook.convert.conversion import convert_into, merged_groups  # noqa: PLC0415
    from segbook.convert.layouts import discover  # noqa: PLC0415
    from tests.helpers.fakes import load_copy  # noqa: PLC0415

    raw = nnunet_tree(tmp_path / "Dataset009_Spleen", 12, values=(0, 1))
    images = raw / "imagesTr"
    shutil.copy(images / "case_003_0000.nii.gz", images / "case_005_0000.nii.gz")  # 005 is 003's scan again
    manifest = load_copy(tmp_path, TASK)
    found = discover(manifest, raw)
    patients = {"case_000": "p1", "case_001": "p1", "case_002": "p1", "case_003": "p2", "case_004": "p2"}
    found = dataclasses.replace(found, cases=tuple(dataclasses.replace(c, group=patients.get(c.case_id))
                                                   for c in found.cases))
    staging = tmp_path / "staging"
    staging.mkdir()
    split = convert_into(staging, found, manifest, 12345, None).split
    expected = (("case_000", "case_001", "case_002"), ("case_003", "case_004", "case_005"))
    assert split.groups == expected
    for group in expected:
        sides = {"test" if c in split.test else next(i for i, f in enumerate(split.folds) if c in f) for c in group}
        assert len(sides) == 1, (group, split)
    assert merged_groups([("a", "b"), ("c", "d")], [("b", "c")], [("e", "f")]) == (("a", "b", "c", "d"), ("e", "f"))


def test_errors_cross_a_process_boundary_unchanged():
    import pickle  # noqa: PLC0415

    from segbook.core.errors import Differences, InvalidInput  # noqa: PLC0415

    error = pickle.loads(pickle.dumps(InvalidInput("case x: bad", hint="look at x")))
    assert (type(error), error.message, error.hint, str(error)) == (InvalidInput, "case x: bad", "look at x",
                                                                    "case x: bad")
    differs = pickle.loads(pickle.dumps(Differences("differs", hint="h", details=("a", "b"))))
    assert (differs.message, differs.hint, differs.details) == ("differs", "h", ("a", "b"))
