"""Run one nnU-Net command as a child process: full output to a log, progress to the user.

Every child runs under segbook.core.childguard, which forwards the kit's stop signals to it,
kills its whole process group (augmentation and preprocessing workers included) when it ends or
when the kit dies in any way, and gives it a private TMPDIR that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from segbook.core import childreport, signals
from segbook.core.childguard import HARD_STOP_GRACE_S, reclaim_orphaned_tmp
from segbook.core.errors import EnvironmentProblem, ExitCode, Interrupted, SegbookError, error_for_exit_code

ProgressSink = Callable[[str], None]
# exit statuses that mean "stopped by a signal" (128 + SIGINT/SIGUSR1/SIGTERM/SIGHUP/SIGKILL)
_SIGNAL_STATUSES = {128 + s for s in (signal.SIGINT, signal.SIGUSR1, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)}


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
    if "case" in record:  # a predicted case (segbook.nnunet.predict_cases)
        done, total = record["done"], record["total"]
        elapsed = time.monotonic() - started
        left = elapsed / max(1, done) * max(0, total - done)
        return (f"predicted {record['case']} ({done}/{total}, {record['seconds']:.1f} s; ~{_clock(left)} left, "
                f"{_clock(elapsed)} so far)")
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


def guarded_argv(argv: list[str], tmp_base: Path) -> list[str]:
    return [sys.executable, "-m", "segbook.core.childguard", "--parent", str(os.getpid()),
            "--tmp-base", str(tmp_base), "--", *argv]


def run_logged(argv: list[str], env: dict, log_path: Path, *, what: str,
               progress: ProgressSink, verbose: bool = False, on_progress=None) -> None:
    """Run argv under a childguard; append its output to log_path; raise a SegbookError if it fails.
    `on_progress(record)`, when given, sees each progress record as it arrives (after it is shown)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=15)
    reported: dict | None = None
    started = time.monotonic()
    tmp_base = Path(tempfile.gettempdir())
    reclaim_orphaned_tmp(tmp_base)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(guarded_argv(argv, tmp_base), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        try:
            with signals.forwarding_to(proc.pid):
                assert proc.stdout is not None  # stdout=PIPE above
                for line in proc.stdout:
                    log.write(line)
                    tail.append(line.rstrip())
                    parsed = childreport.parse(line)
                    if parsed and parsed[0] == "progress":
                        progress(format_progress(parsed[1], started))
                        if on_progress is not None:
                            on_progress(parsed[1])
                    elif parsed and parsed[0] == "error":
                        reported = parsed[1]
                    elif verbose:
                        progress(line.rstrip())
                code = proc.wait()
        except BaseException:
            _stop_hard(proc)
            raise
    if reported is not None and code == reported.get("code"):
        raise error_for_exit_code(code, str(reported.get("message")), reported.get("hint"))
    if code == ExitCode.INTERRUPTED or code in _SIGNAL_STATUSES or (code != 0 and signals.stop_requested()):
        stopped_by = signals.stop_requested()
        raise Interrupted(f"{what} was interrupted" + (f" ({stopped_by})" if stopped_by else ""))
    if code != 0:
        raise NnunetFailed(what, code, log_path, list(tail))


def _stop_hard(proc: subprocess.Popen) -> None:
    """The kit itself is leaving by an exception: the guard kills its group and exits."""
    try:
        os.kill(proc.pid, signals.HARD_STOP)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=HARD_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class NnunetFailed(SegbookError):
    """nnU-Net itself failed: say where the whole log is and show its last line."""

    def __init__(self, what: str, code: int, log_path: Path, tail: list[str]):
        last = next((t for t in reversed(tail) if t.strip()), "no output")
        super().__init__(f"{what} failed (exit {code}): {last[:300]}",
                         hint=f"the full nnU-Net output is in {log_path}")
