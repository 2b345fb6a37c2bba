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
    stamp = "Dataset009_Spleen/segbook_prepared.json"  # records the raw folder's fingerprint only
    assert {k: v for k, v in prepared_one.items() if k != stamp} == {k: v for k, v in prepared_two.items() if k != stamp}


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
