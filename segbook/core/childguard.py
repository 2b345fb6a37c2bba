"""A tiny supervisor between the kit and each nnU-Net process: nothing outlives the kit.

    segbook (kit) ──► python -m segbook.core.childguard --parent PID --tmp-base DIR -- ARGV...
                         └──► ARGV (nnU-Net), in its own process group with its workers

Why a separate process: when the kit is killed outright (SIGKILL, OOM killer), it can clean up
nothing. The guard asks the kernel for a signal when its parent dies (PR_SET_PDEATHSIG) and then
kills nnU-Net's whole process group, workers included, and removes the temporary folder the
group used (multiprocessing's ``pymp-*`` folders land there). On the way down it also forwards
the kit's stop signals (SIGTERM, SIGUSR1, SIGINT) to nnU-Net's main process only, so a trainer
can finish its iteration and checkpoint while its augmentation workers keep serving it.

The guard imports nothing heavy (no torch): it starts in a few tens of milliseconds.
Exit status: the child's, or 128 + N when the child died of signal N.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from segbook.core.pids import pid_alive

PR_SET_PDEATHSIG = 1
PARENT_DIED = signal.SIGHUP  # what the kernel sends the guard when the kit dies
FORWARDED = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
TMP_PREFIX = "segbook-guard-"  # <TMPDIR>/segbook-guard-<guard pid>-<random>: reclaimable by pid
REAP_GRACE_S = 1.0  # after the child ends: its stray workers get this long to exit on SIGTERM
HARD_STOP_GRACE_S = 10.0  # how long the kit waits for a guard told to kill its group


def ask_for_parent_death_signal(signum: int) -> bool:
    """Linux only; elsewhere the guard still forwards signals and cleans up on normal exit."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, *, grace_s: float) -> None:
    """SIGTERM the group, give it grace_s to go, then SIGKILL whatever is left."""
    try:
        os.killpg(pgid, signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(argv: list[str], parent: int, tmp_base: Path) -> int:
    tmp_base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=tmp_base))
    child: subprocess.Popen | None = None
    pending: list[int] = []  # a stop signal that came before the child existed

    def on_parent_death(signum, frame):
        if child is not None:
            kill_group(child.pid, grace_s=0)
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(128 + signum)

    def forward(signum, frame):
        if child is None:
            pending.append(signum)
        elif child.poll() is None:
            os.kill(child.pid, signum)  # the main process only: its workers keep serving it

    signal.signal(PARENT_DIED, on_parent_death)
    ask_for_parent_death_signal(PARENT_DIED)
    if os.getppid() != parent:  # the kit died before the request above took effect
        on_parent_death(PARENT_DIED, None)
    for signum in FORWARDED:
        signal.signal(signum, forward)
    env = {**os.environ, "TMPDIR": str(tmp)}
    try:
        child = subprocess.Popen(argv, env=env, process_group=0)
        for early in pending:
            os.kill(child.pid, early)
        code = child.wait()
    finally:
        if child is not None:
            kill_group(child.pid, grace_s=REAP_GRACE_S)  # stray workers, whatever the outcome
        shutil.rmtree(tmp, ignore_errors=True)
    return exit_status(code)


def reclaim_orphaned_tmp(base: Path) -> None:
    """Remove guard folders left by guards that were themselves killed outright (same host)."""
    try:
        entries = list(base.glob(f"{TMP_PREFIX}*"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(TMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segbook.core.childguard", description=__doc__.splitlines()[0])
    parser.add_argument("--parent", type=int, required=True, help="pid of the kit process that started this guard")
    parser.add_argument("--tmp-base", type=Path, required=True,
                        help="folder in which the guard makes the child's TMPDIR (removed at the end)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the command to run")
    ns = parser.parse_args(args)
    argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    if not argv:
        parser.error("no command given")
    return run(argv, ns.parent, ns.tmp_base)


if __name__ == "__main__":
    sys.exit(main())
