"""Turn exceptions into the documented exit codes and the two-line `error:`/`hint:` message."""

from __future__ import annotations

import signal
import sys
import tempfile
import traceback
from pathlib import Path

import click

from segbook.core.errors import ExitCode, Interrupted, SegbookError


def _log_traceback() -> Path:
    log = Path(tempfile.gettempdir()) / "segbook-crash.log"
    try:
        with open(log, "a", encoding="utf-8") as handle:
            traceback.print_exc(file=handle)
    except OSError:
        pass
    return log


def _raise_interrupted(signum, frame):
    raise Interrupted(f"stopped by signal {signal.Signals(signum).name}")


def run_guarded(group: click.Group, argv: list[str]) -> int:
    """Run the click group; map every outcome to an exit code. Never raises."""
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        group.main(args=argv, prog_name="segbook", standalone_mode=False)
        return ExitCode.OK
    except SegbookError as exc:
        click.echo(f"error: {exc.message}", err=True)
        click.echo(f"hint: {exc.hint}", err=True)
        return int(exc.exit_code)
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
        log = _log_traceback()
        click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(f"hint: this is a bug in segbook; the traceback is in {log}", err=True)
        return ExitCode.INTERNAL


def entry_point() -> None:
    from segbook.cli.main import cli

    sys.exit(run_guarded(cli, sys.argv[1:]))
