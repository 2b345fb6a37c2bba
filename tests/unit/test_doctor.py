"""`segbook doctor` run for real on this machine: what it finds, and its exit code when something fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.core.hashing import sha256_file
from segbook.core.settings import load_settings
from segbook.doctor import FAIL, OK, run_checks

pytestmark = pytest.mark.unit


def rows_by_name(rows) -> dict:
    return {row.name: row for row in rows}


def pinned_registry(tmp_path: Path, good: bytes) -> Path:
    sample = tmp_path / "sample.model"
    sample.write_bytes(good)
    entry = {"scale": "S", "file": "small_ep4k.model", "url": "http://127.0.0.1:9/small_ep4k.model",
             "published_size": "1 kB", "size_bytes": len(good), "sha256": sha256_file(sample),
             "tensor_sha256": "0" * 64, "pinned_by": "test", "pinned_at": "2026-01-01T00:00:00+00:00"}
    path = tmp_path / "weights.yaml"
    path.write_text(yaml.safe_dump({"schema": "segbook-weights/1", "weights": [entry]}))
    return path


def test_doctor_cli_passes_here_and_reports_versions(tmp_path):
    """The real entry point, in a subprocess, with the machine's own environment."""
    proc = subprocess.run([sys.executable, "-m", "segbook", "doctor", "--json", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    for name in ("python", "segbook", "nnunetv2", "SimpleITK", "torch", "torchvision", "output", "tmp",
                 "manifests", "registry"):
        assert rows[name]["status"] == OK, rows[name]
    assert rows["nnunetv2"]["detail"] == "2.8.1"
    assert rows["python"]["detail"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert rows["network"]["detail"].startswith("default route: ")
    assert not (tmp_path / "out").exists()  # the doctor looks, it does not create


def test_unwritable_output_fails_with_78(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run_guarded(cli, ["doctor", "--out", str(blocker / "out"), "--no-hash"]) == 78
    captured = capsys.readouterr()
    assert "[XX] output" in captured.out
    assert "error: doctor: 1 problem(s): output" in captured.err


def test_weights_are_verified_against_their_pin(tmp_path, capsys):
    good = b"pretend checkpoint bytes" * 40
    registry = pinned_registry(tmp_path, good)
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "small_ep4k.model").write_bytes(good)
    rows = rows_by_name(run_checks(settings=load_settings(), out_root=tmp_path, weights_dir=folder, registry=registry))
    assert rows["weights S"].status == OK
    (folder / "small_ep4k.model").write_bytes(good[:-1] + b"X")
    rows = rows_by_name(run_checks(settings=load_settings(), out_root=tmp_path, weights_dir=folder, registry=registry))
    assert rows["weights S"].status == FAIL and "differs from the pinned" in rows["weights S"].detail
    assert run_guarded(cli, ["doctor", "--out", str(tmp_path), "--weights-dir", str(folder),
                             "--registry", str(registry)]) == 78
    assert "[XX] weights S" in capsys.readouterr().out


def test_gpu_requirement_matches_what_torch_sees(tmp_path):
    import torch  # noqa: PLC0415 - torch only in the tests that need it

    rows = rows_by_name(run_checks(settings=load_settings(), out_root=tmp_path, require_gpu=True, hash_weights=False))
    assert (rows["gpu"].status == OK) == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert rows["gpu"].status == FAIL


def test_broken_registry_is_a_failure(tmp_path):
    bad = tmp_path / "weights.yaml"
    bad.write_text("schema: nope\n")
    rows = rows_by_name(run_checks(settings=load_settings(), out_root=tmp_path, registry=bad))
    assert rows["weights"].status == FAIL
