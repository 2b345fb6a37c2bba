"""Options shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.core import crashlog
from segbook.core.settings import load_settings


def progress_printer(quiet: bool = False):
    """Progress goes to stderr (stdout stays for results), prefixed so logs are greppable."""

    def emit(message: str) -> None:
        if not quiet:
            click.echo(f"[segbook] {message}", err=True)

    return emit


def declare_out_root(ctx, param, value):
    """Click callback: tell the error layer where this command writes (crash logs, error codes)."""
    crashlog.use_output_root(value)
    return value


def out_option(func):
    return click.option(
        "--out", "out_root", type=click.Path(file_okay=False, path_type=Path),
        default=lambda: str(load_settings().out_root), show_default="./segbook-out or $SEGBOOK_OUT",
        callback=declare_out_root,
        help="Output root: nnU-Net's raw/preprocessed folders and runs/<dataset>/<config>/ live here.",
    )(func)


def schedule_options(func):
    func = click.option("--iterations-per-epoch", type=click.IntRange(1), default=250, show_default=True,
                        help="Training iterations per epoch (SegBook protocol: 250).")(func)
    func = click.option("--epochs", type=click.IntRange(1), default=1000, show_default=True,
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
    func = click.option("--seed", type=int, default=12345, show_default=True,
                        help="The one seed every RNG is derived from (recorded in the receipt).")(func)
    return func


def device_option(func):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
                        show_default=True, help="Where to train and predict.")(func)


def force_option(func):
    return click.option("--force", is_flag=True, help="Replace a finished result instead of refusing.")(func)


def verbose_option(func):
    return click.option("-v", "--verbose", is_flag=True, help="Also echo nnU-Net's own output.")(func)
