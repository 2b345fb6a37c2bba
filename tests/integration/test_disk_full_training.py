"""A checkpoint write that fails for want of room ends the cell with 73, at once, naming the file.

It used to hang for good: the trainer raised, and the interpreter then waited at exit on nnU-Net's
augmentation workers (SIGTERM, what Slurm sends, changed nothing). The write is made to fail for
real with RLIMIT_FSIZE in the child (EFBIG, inherited by nnU-Net's trainer process); the limit is
far above the logs and far below STU-Net-S's checkpoint.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys

import pytest

from tests.helpers import TINY, clone_prepared_root

pytestmark = pytest.mark.integration

LIMIT = 8 * 2**20  # STU-Net-S's checkpoint (weights + optimizer) is about 120 MB


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill, as a batch system's limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_checkpoint_that_does_not_fit_is_73_not_a_hang(demo_out, tmp_path):
    root = clone_prepared_root(demo_out, tmp_path / "out")
    argv = [sys.executable, "-m", "segbook", "finetune", "Demo", "--model", "stunet-s", "--init", "scratch", *TINY,
            "--device", "cpu", "--out", str(root)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size)
    lines = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert result.returncode == 73, result.stderr[-3000:]
    assert lines[0].startswith("error: file too large") and lines[0].endswith(".pth"), lines
    assert lines[1].startswith("hint: free space") and "continues from the last complete checkpoint" in lines[1]
    run_dir = root / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch"
    last = json.loads((run_dir / "run_state.json").read_text())["invocations"][-1]
    assert (last["outcome"], last["exit_code"]) == ("failed", 73), last
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / "receipt.json").exists()
