"""nnU-Net child processes: progress lines, failures, and no orphans when interrupted."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from segbook.core.childreport import PROGRESS_PREFIX
from segbook.core.errors import SegbookError
from segbook.nnunet.process import format_progress, run_logged
from tests.helpers import process_alive

pytestmark = pytest.mark.unit

SPAWNS_WORKER = f"""
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(worker.pid))
print({PROGRESS_PREFIX!r} + '{{"epoch": 1, "epochs": 3, "train_loss": 0.5, "seconds": 2.0}}', flush=True)
time.sleep(120)
"""


class Stop(Exception):
    pass


def test_interrupted_child_takes_its_workers_along(tmp_path):
    pid_file = tmp_path / "worker.pid"
    seen = []

    def progress(line):
        seen.append(line)
        raise Stop  # what Ctrl-C or SIGTERM does in the middle of training

    with pytest.raises(Stop):
        run_logged([sys.executable, "-c", SPAWNS_WORKER, str(pid_file)], dict(os.environ), tmp_path / "log",
                   what="test", progress=progress)
    assert seen and seen[0].startswith("epoch 1/3  loss 0.5000")
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while process_alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not process_alive(worker)


def test_failure_names_the_log_and_last_line(tmp_path):
    script = "import sys; print('first'); print('RuntimeError: boom'); sys.exit(3)"
    with pytest.raises(SegbookError) as caught:
        run_logged([sys.executable, "-c", script], dict(os.environ), tmp_path / "log", what="nnU-Net training",
                   progress=lambda line: None)
    assert "exit 3" in caught.value.message and "RuntimeError: boom" in caught.value.message
    assert str(tmp_path / "log") in caught.value.hint
    assert "first" in (tmp_path / "log").read_text()


def test_progress_line_shows_time_left():
    record = json.loads('{"epoch": 2, "epochs": 10, "train_loss": 0.25, "val_loss": 0.5, "seconds": 30}')
    line = format_progress(record, time.monotonic())
    assert "epoch 2/10" in line and "~0:04:00 left" in line
