"""nnU-Net's own checkpoints (resume, predict) are read weights-only: a planted pickle never runs,
and a run never silently restarts from the pre-trained weights when its checkpoint is gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import TINY, clone_prepared_root, run_segbook

pytestmark = pytest.mark.integration

CELL = ["finetune", "Demo", "--model", "stunet-s", "--init", "scratch", *TINY]


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _copy_run(demo_out, demo_runs, tmp_path) -> tuple[Path, Path]:
    root = clone_prepared_root(demo_out, tmp_path / "out")
    run_dir = root / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch"
    shutil.copytree(demo_runs["scratch"], run_dir)
    (run_dir / "receipt.json").unlink()
    return root, run_dir


def _fold_dir(run_dir: Path) -> Path:
    return next(run_dir.glob("nnUNet_results/*/*/fold_all"))


def _two_line_error(stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.startswith(("error: ", "hint: "))]
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], stderr
    return lines


def _as_interrupted(run_dir: Path, epoch: int = 1) -> Path:
    """Make the copied run look interrupted: no final checkpoint, train_state names the latest."""
    fold = _fold_dir(run_dir)
    final = fold / "checkpoint_final.pth"
    latest = fold / "checkpoint_latest.pth"
    final.rename(latest)
    (run_dir / "train_state.json").write_text(json.dumps(
        {"checkpoint": "checkpoint_latest.pth", "epoch": epoch, "iteration": 0, "epochs": 1}))
    return latest


def test_planted_pickle_never_runs_on_predict(demo_out, demo_runs, tmp_path):
    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    marker = tmp_path / "PWNED-predict"
    torch.save({"network_weights": Payload(marker), "trainer_name": "SegbookSTUNetTrainer_S_scratch"},
               _fold_dir(run_dir) / "checkpoint_final.pth")
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 65, result.stderr
    error, _ = _two_line_error(result.stderr)
    assert "refusing to unpickle" in error and "checkpoint_final.pth" in error
    assert not marker.exists()


def test_planted_pickle_never_runs_on_resume(demo_out, demo_runs, tmp_path):
    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    latest = _as_interrupted(run_dir)
    marker = tmp_path / "PWNED-resume"
    torch.save({"network_weights": Payload(marker)}, latest)
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 65, result.stderr
    error, _ = _two_line_error(result.stderr)
    assert "refusing to unpickle" in error and "checkpoint_latest.pth" in error
    assert not marker.exists()


def test_truncated_checkpoint_is_refused_not_restarted(demo_out, demo_runs, tmp_path):
    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    latest = _as_interrupted(run_dir)
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 65, result.stderr
    error, _ = _two_line_error(result.stderr)
    assert "corrupt or truncated" in error


def test_missing_checkpoint_stops_the_run_instead_of_restarting_it(demo_out, demo_runs, tmp_path):
    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    _as_interrupted(run_dir).unlink()
    before = {p.name: p.stat().st_mtime_ns for p in _fold_dir(run_dir).iterdir()}
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 66, result.stderr
    error, hint = _two_line_error(result.stderr)
    assert "checkpoint_latest.pth is gone" in error and "--force" in hint
    # nothing was trained again: the fold folder is exactly as it was
    assert {p.name: p.stat().st_mtime_ns for p in _fold_dir(run_dir).iterdir()} == before


def test_a_bit_flipped_checkpoint_is_refused_not_resumed(demo_out, demo_runs, tmp_path):
    """torch loads a zip whose tensor bytes changed without a word; the checkpoint's seal does not."""
    from tests.unit.test_checkpoint_seal import flip_a_tensor_bit  # noqa: PLC0415

    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    latest = _as_interrupted(run_dir)
    flip_a_tensor_bit(latest)
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 65, result.stderr
    error, hint = _two_line_error(result.stderr)
    assert "checkpoint_latest.pth is damaged" in error and "--force" in hint
    assert not (run_dir / "receipt.json").exists()


def test_a_checkpoint_missing_an_entry_is_65_not_a_crash(demo_out, demo_runs, tmp_path):
    """Even re-sealed by hand (so only the missing entry is wrong), it is refused in two lines."""
    from segbook.models.checkpoint import read_training_checkpoint  # noqa: PLC0415
    from segbook.models.checkpoint_integrity import INTEGRITY_KEY, sealed  # noqa: PLC0415

    root, run_dir = _copy_run(demo_out, demo_runs, tmp_path)
    latest = _as_interrupted(run_dir)
    checkpoint = {k: v for k, v in read_training_checkpoint(latest).items() if k not in ("init_args", INTEGRITY_KEY)}
    edited = latest.with_name("edited.pth")  # never write over the file the tensors are mapped from
    torch.save(sealed(checkpoint), edited)
    edited.replace(latest)
    result = run_segbook(*CELL, "--out", str(root))
    assert result.returncode == 65, result.stderr
    error, hint = _two_line_error(result.stderr)
    assert "cannot be resumed from" in error and "init_args" in error and "--force" in hint
