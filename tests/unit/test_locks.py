"""One lock mechanism for runs, prepares and plans: exclusive, named holder, dies with its holder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from segbook.core.errors import ExitCode
from segbook.core.locks import Holder, LockBusy, exclusive, held_by, lock_path

pytestmark = pytest.mark.unit

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from segbook.core.locks import exclusive
    with exclusive(Path(sys.argv[1]), what="test run", mode=sys.argv[2]):
        print("held", flush=True)
        time.sleep(60)
""")


def _holder_process(path, mode):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("mode", ["flock", "file"])
def test_second_holder_is_refused_naming_the_first(tmp_path, mode):
    path = lock_path(tmp_path, "run-Task999-stunet-s_ft")
    proc = _holder_process(path, mode)
    try:
        holder = held_by(path, mode=mode)
        assert holder is not None and holder.pid == proc.pid
        with pytest.raises(LockBusy) as caught:
            with exclusive(path, what="run of this cell", wait=False, mode=mode):
                pass
        assert caught.value.exit_code == ExitCode.OUTPUT_BLOCKED
        assert f"pid {proc.pid}" in caught.value.message and "another run of this cell" in caught.value.message
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("mode", ["flock", "file"])
def test_lock_of_a_killed_holder_is_free(tmp_path, mode):
    path = lock_path(tmp_path, "prepare-Dataset999_X")
    proc = _holder_process(path, mode)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert held_by(path, mode=mode) is None
    with exclusive(path, what="prepare", wait=False, mode=mode) as me:
        assert me.pid == os.getpid()


def test_waiting_caller_gets_the_lock_when_it_is_released(tmp_path):
    path = lock_path(tmp_path, "plan-Dataset999_X")
    proc = _holder_process(path, "flock")
    waited = []
    started = time.monotonic()

    def release_soon(holder):
        waited.append(holder)
        proc.terminate()

    with exclusive(path, what="plan", on_wait=release_soon):
        pass
    proc.wait()
    assert waited and waited[0].pid == proc.pid
    assert time.monotonic() - started < 30


def test_stale_file_lock_from_another_host_is_taken_over(tmp_path):
    path = lock_path(tmp_path, "run-x")
    path.parent.mkdir(parents=True)
    path.write_text(Holder("elsewhere", 4242, "2026-01-01T00:00:00+00:00", "run").as_json(heartbeat=0))
    old = time.time() - 3600
    os.utime(path, (old, old))
    with pytest.raises(LockBusy):  # fresh enough under a long staleness rule
        with exclusive(path, what="run", wait=False, mode="file", stale_after_s=7200):
            pass
    with exclusive(path, what="run", wait=False, mode="file", stale_after_s=600):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()
