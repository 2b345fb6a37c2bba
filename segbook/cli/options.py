"""Options shared by several commands, defined once."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from segbook.core import crashlog
from segbook.core.protocol import DEFAULT_SEED, PROTOCOL_EPOCHS, PROTOCOL_ITERATIONS, SEED_MAX, SEED_MIN
from segbook.core.settings import Settings, load_settings


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams (tests, pipes)
        return False


class _ProgressPrinter:
    """Progress lines on stderr (stdout stays for results). On a terminal it can also redraw one
    transient line in place (segbook.core.progress uses that for counts)."""

    def __init__(self, prefix: str):
        self.prefix, self.pending = prefix, False
        if _is_terminal(sys.stderr):
            self.transient = self._transient

    def __call__(self, message: str) -> None:
        if self.pending:
            click.echo("\r\033[K", nl=False, err=True)
            self.pending = False
        click.echo(f"{self.prefix}{message}", err=True)

    def _transient(self, message: str) -> None:
        click.echo(f"\r\033[K{self.prefix}{message}", nl=False, err=True)
        self.pending = True


def progress_printer(quiet: bool = False, prefix: str = "[segbook] "):
    """Progress goes to stderr, prefixed so logs are greppable; None-like silence when quiet."""
    if quiet:
        return lambda message: None
    return _ProgressPrinter(prefix)


def cli_settings() -> Settings:
    """The settings of this invocation: read from the environment once (the first time a command
    asks), kept on the root click context, and passed down from there to every api function."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # outside a command (a library caller): nothing to share
        return load_settings()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = load_settings()
    return root.obj


def declare_out_root(ctx, param, value):
    """Click callback: tell the error layer where this command writes (crash logs, error codes)."""
    crashlog.use_output_root(value)
    return value


def out_option(func):
    return click.option(
        "--out", "out_root", type=click.Path(file_okay=False, path_type=Path),
        default=lambda: str(cli_settings().out_root), show_default="./segbook-out or $SEGBOOK_OUT",
        callback=declare_out_root,
        help="Output root: nnU-Net's raw/preprocessed folders and runs/<dataset>/<config>/ live here.",
    )(func)


def schedule_options(func):
    func = click.option("--iterations-per-epoch", type=click.IntRange(1), default=PROTOCOL_ITERATIONS,
                        show_default=True,
                        help="Training iterations per epoch (SegBook protocol: 250).")(func)
    func = click.option("--epochs", type=click.IntRange(1), default=PROTOCOL_EPOCHS, show_default=True,
                        help="Training epochs (SegBook protocol: 1000).")(func)
    return func


def determinism_options(func):
    func = click.option("--data-workers", type=click.IntRange(0), default=None,
                        help="Augmentation worker processes (default: 2 in deterministic mode, "
                             "else cores-1 up to 4). Part of what makes a run reproducible.")(func)
    func = click.option("--threads", type=click.IntRange(1), default=None,
                        help="Compute threads (default: 2 in deterministic mode, torch's default otherwise).")(func)
    func = click.option("--deterministic/--no-deterministic", default=True, show_default=True,
                        help="Seed every RNG, deterministic kernels, fixed threads and batch order: two "
                             "runs give bit-identical weights and predictions on the same device class.")(func)
    func = seed_option("The one seed every RNG is derived from (recorded in the receipt).")(func)
    return func


def seed_option(help_text: str):
    """--seed, bounded to what every RNG takes: a bigger one would fail every cell after prepare."""
    return click.option("--seed", type=click.IntRange(SEED_MIN, SEED_MAX), default=DEFAULT_SEED, show_default=True,
                        help=f"{help_text} {SEED_MIN} to {SEED_MAX}.")


def device_option(func):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                        show_default=True, help="Where to train and predict.")(func)


def force_option(func):
    return click.option("--force", is_flag=True, help="Replace a finished result instead of refusing.")(func)


def verbose_option(func):
    return click.option("-v", "--verbose", is_flag=True, help="Also echo nnU-Net's own output.")(func)
