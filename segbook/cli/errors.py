"""Turn exceptions into the documented exit codes and the two-line `error:`/`hint:` message.

An OSError from a full, read-only or over-quota disk is 73 wherever it comes from; permission
denied is 73 on the output root the command declared (segbook.core.crashlog), 73 for a refused
write anywhere else, and 66 for an input the kit may not read. Anything else is a bug: exit 70,
traceback to a crash log (an InternalFailure, 70 on purpose, leaves one too).
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import traceback
from pathlib import Path

import click

from segbook import __version__
from segbook.core import crashlog
from segbook.core.errors import (
    DISK_ERRNOS,
    ExitCode,
    InputMissing,
    InternalFailure,
    Interrupted,
    OutputBlocked,
    SegbookError,
    disk_full_error,
)

PERMISSION_ERRNOS = (errno.EACCES, errno.EPERM)


def os_error_as_segbook_error(exc: OSError) -> SegbookError | None:
    """The documented error an OSError stands for, or None (then it is a bug)."""
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in DISK_ERRNOS:
        return disk_full_error(exc, hint="free some space (or quota), or choose another --out on a writable disk")
    if exc.errno in PERMISSION_ERRNOS:
        if exc.filename is None or crashlog.is_output_path(exc.filename):
            return OutputBlocked(f"permission denied{where}",
                                 hint="fix the folder's permissions, or choose another --out")
        if _refused_write(exc):
            return OutputBlocked(f"permission denied: writing {exc.filename} was refused",
                                 hint="fix the permissions of its folder, or write somewhere this user may")
        return InputMissing(f"permission denied reading {exc.filename}", hint="check the file's permissions")
    return None


def _refused_write(exc: OSError) -> bool:
    """Was the denied operation a write? An OSError does not say, so look at the path: one that
    can be opened for reading was not denied a read, and a missing one in a folder that exists
    was being created (reading a missing file is ENOENT, not EACCES)."""
    if exc.filename2 is not None:  # rename, replace, link: two names, a change to a folder
        return True
    path = os.path.abspath(os.fsdecode(exc.filename))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return os.path.isdir(os.path.dirname(path))
    except OSError:
        return False  # a folder above it is closed to us: not even a look, so a read
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return False  # never open a FIFO or a device to find out
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def _log_traceback() -> Path | None:
    """Write the traceback to a new crash log (segbook.core.crashlog); its path if written."""
    text = (f"segbook {__version__}, pid {os.getpid()}\ncommand: {' '.join(sys.argv)}\n\n"
            + traceback.format_exc())
    return crashlog.write_crash_log(text)


def _raise_interrupted(signum, frame):
    raise Interrupted(f"stopped by signal {signal.Signals(signum).name}")


def run_guarded(group: click.Group, argv: list[str]) -> int:
    """Run the click group; map every outcome to an exit code. Never raises."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        group.main(args=argv, prog_name="segbook", standalone_mode=False)
        return ExitCode.OK
    except SegbookError as exc:
        return _report(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except click.Abort:
        click.echo("error: aborted", err=True)
        click.echo("hint: run the same command again to continue", err=True)
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        click.echo("hint: run the same command again to continue from the last checkpoint", err=True)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so, keep the traceback
        mapped = os_error_as_segbook_error(exc) if isinstance(exc, OSError) else None
        if mapped is not None:
            return _report(mapped)
        click.echo(f"error: internal error: {type(exc).__name__}: {_single_line(exc)[:300]}", err=True)
        click.echo(f"hint: this is a bug in segbook; {_where_logged(_log_traceback())}", err=True)
        return ExitCode.INTERNAL


def _single_line(text) -> str:
    """Messages may quote multi-line library errors; the contract is exactly two lines."""
    return " ".join(str(text).split())


def _where_logged(log: Path | None) -> str:
    return f"the traceback is in {log}" if log else "the traceback could not be saved (no writable log folder)"


def _report(exc: SegbookError) -> int:
    hint = exc.hint
    if isinstance(exc, InternalFailure):  # 70 on purpose is still a 70: it leaves a crash log
        hint = f"{hint}; {_where_logged(_log_traceback())}"
    click.echo(f"error: {_single_line(exc.message)}", err=True)
    click.echo(f"hint: {_single_line(hint)}", err=True)
    return int(exc.exit_code)


def entry_point() -> None:
    from segbook.cli.main import cli  # noqa: PLC0415 - main imports this module

    sys.exit(run_guarded(cli, sys.argv[1:]))
