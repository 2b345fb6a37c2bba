"""Run one nnU-Net command as a child process: full output to a log, progress to the user."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from segbook.core.errors import EnvironmentProblem, Interrupted, SegbookError

PROGRESS_PREFIX = "SEGBOOK-PROGRESS "  # keep equal to trainer_mixin.PROGRESS_PREFIX
ProgressSink = Callable[[str], None]


def nnunet_executable(name: str) -> str:
    """nnU-Net's console script, next to this interpreter first (a venv need not be on PATH)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise EnvironmentProblem(f"{name} not found", hint="install nnunetv2==2.8.1 into this environment")
    return found


def format_progress(record: dict, started: float) -> str:
    done, total = record["epoch"], record["epochs"]
    per_epoch = record.get("seconds") or 0.0
    left = max(0, total - done) * per_epoch
    parts = [f"epoch {done}/{total}"]
    if record.get("train_loss") is not None:
        parts.append(f"loss {record['train_loss']:.4f}")
    if record.get("val_loss") is not None:
        parts.append(f"val {record['val_loss']:.4f}")
    if record.get("pseudo_dice") is not None:
        parts.append(f"pseudo-Dice {record['pseudo_dice']:.3f}")
    parts.append(f"{per_epoch:.1f} s/epoch, ~{_clock(left)} left ({_clock(time.monotonic() - started)} so far)")
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def run_logged(argv: list[str], env: dict, log_path: Path, *, what: str,
               progress: ProgressSink, verbose: bool = False) -> None:
    """Run argv; append its output to log_path; raise a SegbookError if it fails."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=15)
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(argv)}\n")
        log.flush()
        # own process group: on interruption the augmentation workers go too (killed with their
        # parent alone they would be orphaned and spin forever)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1, start_new_session=True)
        try:
            for line in proc.stdout:
                log.write(line)
                tail.append(line.rstrip())
                if line.startswith(PROGRESS_PREFIX):
                    progress(format_progress(json.loads(line[len(PROGRESS_PREFIX):]), started))
                elif verbose:
                    progress(line.rstrip())
            code = proc.wait()
        except BaseException:
            _stop_group(proc)
            raise
        finally:
            _reap_group(proc.pid)
    if code in (-15, -2, 130, 143):
        raise Interrupted(f"{what} was interrupted")
    if code != 0:
        raise NnunetFailed(what, code, log_path, list(tail))


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the child's whole group, give it time to exit, then SIGKILL what is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _reap_group(pgid: int) -> None:
    """Anything the child left running in its group (stray workers) is stopped."""
    if _signal_group(pgid, signal.SIGTERM):
        time.sleep(1)
        _signal_group(pgid, signal.SIGKILL)


class NnunetFailed(SegbookError):
    """nnU-Net itself failed: say where the whole log is and show its last line."""

    def __init__(self, what: str, code: int, log_path: Path, tail: list[str]):
        last = next((t for t in reversed(tail) if t.strip()), "no output")
        super().__init__(f"{what} failed (exit {code}): {last[:300]}",
                         hint=f"the full nnU-Net output is in {log_path}")
