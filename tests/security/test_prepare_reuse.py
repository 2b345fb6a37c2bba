"""prepare: one at a time per dataset, reused by content, cleaned after a kill."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import SimpleITK as sitk

from segbook.core.locks import exclusive, lock_path
from tests.helpers import run_segbook
from tests.security.builders import DEMO_DATASET, assert_two_lines, demo_manifest, prepare_args, raw_tree

pytestmark = [pytest.mark.unit, pytest.mark.security]

SEGBOOK = [sys.executable, "-m", "segbook"]
PARTIALS = f".{DEMO_DATASET}.*.partial"


def _json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _prepare_json(manifest, raw, out, **kwargs):
    return run_segbook(*prepare_args(manifest, raw, out, "--format", "json"), timeout=600, **kwargs)


def test_two_identical_prepares_at_once_both_succeed(tmp_path):
    raw = raw_tree(tmp_path / "raw", 12, (24, 48, 48))
    manifest, out = demo_manifest(tmp_path), tmp_path / "out"
    args = [*SEGBOOK, *prepare_args(manifest, raw, out, "--format", "json")]
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [child.communicate(timeout=600) for child in children]
    for child, (stdout, stderr) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, stderr
    results = [json.loads(stdout) for stdout, _ in outcomes]
    assert sorted(r["reused"] for r in results) == [False, True]
    assert results[0]["dataset_sha256"] == results[1]["dataset_sha256"]
    assert [p.name for p in (out / "nnUNet_raw").iterdir()] == [DEMO_DATASET]


def test_a_second_prepare_waits_for_the_lock(tmp_path):
    """The kit's lock (segbook.core.locks) is what orders them: held here, prepare waits for it."""
    raw = raw_tree(tmp_path / "raw")
    manifest, out = demo_manifest(tmp_path), tmp_path / "out"
    held, release = threading.Event(), threading.Event()

    def hold():
        with exclusive(lock_path(out, f"prepare-{DEMO_DATASET}"), what="test"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(30)
    child = subprocess.Popen([*SEGBOOK, "prepare", str(manifest), "--raw", str(raw), "--out", str(out), "--lock"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    waiting = child.poll() is None and not (out / "nnUNet_raw" / DEMO_DATASET).exists()
    release.set()
    holder.join()
    _, stderr = child.communicate(timeout=300)
    assert waiting and child.returncode == 0, stderr
    assert "another prepare of Dataset999_SegBookDemo is in progress" in stderr


def test_an_output_root_copied_elsewhere_is_reused(tmp_path):
    raw = raw_tree(tmp_path / "raw")
    manifest = demo_manifest(tmp_path)
    first = _json(_prepare_json(manifest, raw, tmp_path / "out"))
    time.sleep(0.05)  # cp -r gives every file a new mtime
    subprocess.run(["cp", "-r", str(tmp_path / "out"), str(tmp_path / "moved")], check=True)
    moved = _json(_prepare_json(manifest, raw, tmp_path / "moved"))
    assert moved["reused"] and moved["dataset_sha256"] == first["dataset_sha256"]
    subprocess.run(["cp", "-r", str(raw), str(tmp_path / "raw-moved")], check=True)  # the download moved too
    again = _json(_prepare_json(manifest, tmp_path / "raw-moved", tmp_path / "moved"))
    assert again["reused"] and again["dataset_sha256"] == first["dataset_sha256"]


def test_a_prepared_dataset_changed_in_place_is_not_reused(tmp_path):
    """Content decides both ways: a touched-up prepared label is not taken for the pinned one."""

    raw = raw_tree(tmp_path / "raw")
    manifest, out = demo_manifest(tmp_path), tmp_path / "out"
    _json(_prepare_json(manifest, raw, out))
    label = next((out / "nnUNet_raw" / DEMO_DATASET / "labelsTr").iterdir())
    image = sitk.ReadImage(str(label))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = (array[0, 0, 0] + 1) % 3
    edited = sitk.GetImageFromArray(array)
    edited.CopyInformation(image)
    sitk.WriteImage(edited, str(label), True)
    assert_two_lines(run_segbook(*prepare_args(manifest, raw, out), timeout=300), 73, "changed since")


def test_leftovers_of_a_killed_prepare_are_removed(tmp_path):
    raw = raw_tree(tmp_path / "raw", 40, (32, 64, 64))
    manifest, out = demo_manifest(tmp_path), tmp_path / "out"
    child = subprocess.Popen([*SEGBOOK, *prepare_args(manifest, raw, out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "nnUNet_raw").glob(f"{PARTIALS}/imagesTr/*.nii.gz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert list((out / "nnUNet_raw").glob(PARTIALS)), "the prepare was not caught half-way"
    result = _prepare_json(manifest, raw, out)
    assert _json(result)["dataset_dir"].endswith(DEMO_DATASET)
    assert [p.name for p in (out / "nnUNet_raw").iterdir()] == [DEMO_DATASET]
    shutil.rmtree(out)
