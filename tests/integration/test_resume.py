"""An interrupted run exits 75 and continues from nnU-Net's latest checkpoint when rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import run_segbook

pytestmark = pytest.mark.integration


def _stop_when(args, marker: str) -> str:
    """Run segbook, SIGTERM it when `marker` appears on stderr; it must exit 75. Returns stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "segbook", *args], stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    seen = []
    deadline = time.monotonic() + 1200
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 75, "".join(seen) + rest
    assert "error:" in rest and "hint: run the same command again" in rest
    return "".join(seen) + rest


def test_sigterm_then_rerun_continues(demo_out):
    # fold 0 of the demo: its own run folder, and the shared preprocessed data is reused
    args = ["finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--fold", "0",
            "--epochs", "3", "--iterations-per-epoch", "2", "--out", str(demo_out)]
    _stop_when(args, "epoch 1/3")  # printed after nnU-Net saved checkpoint_latest
    run_dir = demo_out / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch_fold0"
    assert not (run_dir / "receipt.json").exists()
    assert list(run_dir.glob("nnUNet_results/*/*/fold_0/checkpoint_latest.pth"))

    # resumed, then interrupted again while predicting: the finished run still says it resumed
    resumed = _stop_when(args, "== predict")
    assert "continuing from checkpoint_latest.pth" in resumed
    again = run_segbook(*args)
    assert again.returncode == 0, again.stderr
    receipt = json.loads((run_dir / "receipt.json").read_text())
    assert receipt["configuration"]["resumed"] is True
    assert receipt["configuration"]["fold"] == "0"
    history = json.loads((run_dir / "run_state.json").read_text())["invocations"]
    assert [i["outcome"] for i in history] == ["interrupted", "interrupted", "done"]
    assert run_segbook("verify", str(run_dir / "receipt.json")).returncode == 0


def test_two_identical_runs_at_once_give_one_result(demo_out):
    """The second waits for the first's lock, then finds the run complete: both exit 0."""
    args = ["finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--fold", "1",
            "--epochs", "1", "--iterations-per-epoch", "2", "--out", str(demo_out)]
    procs = [subprocess.Popen([sys.executable, "-m", "segbook", *args], stderr=subprocess.PIPE, text=True,
                              env=os.environ.copy()) for _ in range(2)]
    outputs = [p.communicate(timeout=1200)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("already complete: nothing to do" in out for out in outputs) == 1, outputs
    run_dir = demo_out / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch_fold1"
    assert run_segbook("verify", str(run_dir / "receipt.json")).returncode == 0
    history = json.loads((run_dir / "run_state.json").read_text())["invocations"]
    assert [i["outcome"] for i in history] == ["done"]  # the waiting process did no work
