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


def test_sigterm_then_rerun_continues(demo_out):
    # fold 0 of the demo: its own run folder, and the shared preprocessed data is reused
    args = ["finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--fold", "0",
            "--epochs", "3", "--iterations-per-epoch", "2", "--out", str(demo_out)]
    proc = subprocess.Popen([sys.executable, "-m", "segbook", *args], stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    seen = []
    deadline = time.monotonic() + 1200
    for line in proc.stderr:
        seen.append(line)
        if "epoch 1/3" in line:  # printed after nnU-Net saved checkpoint_latest
            proc.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(seen)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 75, "".join(seen) + rest
    assert "error:" in rest and "hint: run the same command again" in rest
    run_dir = demo_out / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch_fold0"
    assert not (run_dir / "receipt.json").exists()
    assert list(run_dir.glob("nnUNet_results/*/*/fold_0/checkpoint_latest.pth"))

    again = run_segbook(*args)
    assert again.returncode == 0, again.stderr
    assert "continuing from checkpoint_latest.pth" in again.stderr
    receipt = json.loads((run_dir / "receipt.json").read_text())
    assert receipt["configuration"]["resumed"] is True
    assert receipt["configuration"]["fold"] == "0"
