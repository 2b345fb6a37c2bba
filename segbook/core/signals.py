"""How the kit stops: SIGTERM, SIGUSR1 (Slurm's warning before preemption or the time limit) and
SIGINT (Ctrl-C) all mean "stop, keep what can be kept, exit 75".

While a child (a childguard and its nnU-Net process) is running, the signal is forwarded to it
and the kit waits: a trainer then finishes its iteration, writes a checkpoint and exits 75, and
the kit reports Interrupted once the child is gone. With no child running, the signal raises
Interrupted at once. A second Ctrl-C while waiting stops the child hard (no checkpoint).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from segbook.core.errors import Interrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
HARD_STOP = signal.SIGHUP  # the childguard treats it like the kit's death: kill the group now

_target: int | None = None
_received: list[int] = []


def install_stop_handlers() -> None:
    """Called once by the CLI before a command that runs children."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop)


def _on_stop(signum: int, frame) -> None:
    _received.append(signum)
    if _target is None:
        raise Interrupted(f"stopped by signal {signal.Signals(signum).name}")
    repeated_ctrl_c = signum == signal.SIGINT and _received.count(signal.SIGINT) > 1
    forwarded = HARD_STOP if repeated_ctrl_c else (signal.SIGTERM if signum == signal.SIGINT else signum)
    try:
        os.kill(_target, forwarded)
    except ProcessLookupError:
        pass


def stop_requested() -> str | None:
    """Name of the first stop signal received so far, or None."""
    return signal.Signals(_received[0]).name if _received else None


@contextmanager
def forwarding_to(pid: int) -> Iterator[None]:
    """Forward stop signals to `pid` (a childguard) instead of raising, for the body's duration."""
    global _target
    previous, _target = _target, pid
    try:
        yield
    finally:
        _target = previous
