"""Children die with the kit, however it ends; stop signals reach the child's main process only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from segbook.core.childguard import TMP_PREFIX, reclaim_orphaned_tmp
from tests.helpers import process_alive

pytestmark = pytest.mark.unit

# nnU-Net's shape: a main process with multiprocessing workers (which make pymp-* folders in TMPDIR)
CHILD = textwrap.dedent("""
    import multiprocessing, multiprocessing.util, os, signal, sys, time
    def work():
        time.sleep(600)
    if __name__ == "__main__":
        multiprocessing.util.get_temp_dir()  # the pymp-* folder nnU-Net's pools leave behind
        ctx = multiprocessing.get_context("spawn")
        worker = ctx.Process(target=work, daemon=True)
        worker.start()
        stopped = []
        signal.signal(signal.SIGUSR1, lambda s, f: stopped.append(s))
        open(sys.argv[1], "w").write(f"{os.getpid()} {worker.pid}")
        print("SEGBOOK-PROGRESS " + '{"epoch": 1, "epochs": 2, "seconds": 1.0}', flush=True)
        while not stopped:
            time.sleep(0.05)
        print("child: checkpoint written", flush=True)
        sys.exit(75)
""")

KIT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from segbook.core.signals import install_stop_handlers
    from segbook.core.errors import SegbookError
    from segbook.nnunet.process import run_logged
    install_stop_handlers()
    try:
        run_logged([sys.executable, "-c", sys.argv[1], sys.argv[2]], dict(__import__("os").environ),
                   Path(sys.argv[3]), what="training", progress=lambda line: print("progress", line, flush=True))
    except SegbookError as exc:
        print("kit:", exc.exit_code, exc.message, flush=True)
        sys.exit(int(exc.exit_code))
""")


def _start_kit(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pids = tmp_path / "pids"
    kit = subprocess.Popen([sys.executable, "-c", KIT, CHILD, str(pids), str(tmp_path / "log")],
                           stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp)})
    assert kit.stdout.readline().startswith("progress epoch 1/2")
    return kit, [int(p) for p in pids.read_text().split()]


def test_sigkill_of_the_kit_leaves_no_process_and_no_temporary_folder(tmp_path):
    kit, (child, worker) = _start_kit(tmp_path)
    assert list((tmp_path / "tmp").glob("segbook-guard-*/pymp-*"))  # the worker's folder is there
    kit.send_signal(signal.SIGKILL)
    kit.wait()
    deadline = time.monotonic() + 2.0
    while (process_alive(child) or process_alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child) and not process_alive(worker)
    deadline = time.monotonic() + 2.0
    while list((tmp_path / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list((tmp_path / "tmp").iterdir())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT])
def test_stop_signal_lets_the_child_checkpoint_then_the_kit_exits_75(tmp_path, signum):
    kit, (child, worker) = _start_kit(tmp_path)
    kit.send_signal(signum)
    rest = kit.stdout.read()
    assert kit.wait(timeout=30) == 75, rest
    assert "kit: 75" in rest and "interrupted" in rest
    assert "child: checkpoint written" in (tmp_path / "log").read_text()
    assert not process_alive(child) and not process_alive(worker)
    assert not list((tmp_path / "tmp").iterdir())


def test_orphaned_guard_folders_are_reclaimed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{TMP_PREFIX}{dead.pid}-abc"
    mine = tmp_path / f"{TMP_PREFIX}{os.getpid()}-def"
    (stale / "pymp-x").mkdir(parents=True)
    mine.mkdir()
    reclaim_orphaned_tmp(tmp_path)
    assert not stale.exists() and mine.exists()
