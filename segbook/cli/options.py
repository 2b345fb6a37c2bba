"""Options shared by several commands, defined once."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from segbook.core import crashlog
from segbook.core.protocol import TrainingOptions, allowed_types, flag_of, option_fields
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


def _click_option(f, **overrides):
    """The click flag of one TrainingOptions field, built from the field itself (type, range, default, help)."""
    meta, default = f.metadata, f.default
    kinds = allowed_types(f)
    if bool in kinds:
        decls, kind = [f"{flag_of(f.name)}/--no-{f.name.replace('_', '-')}"], None
    elif meta["choices"]:
        decls, kind = [flag_of(f.name)], click.Choice(meta["choices"])
    elif float in kinds:
        decls, kind = [flag_of(f.name)], click.FloatRange(min=meta["minimum"], max=meta["maximum"])
    else:
        decls, kind = [flag_of(f.name)], click.IntRange(meta["minimum"], meta["maximum"])
    settings = {"type": kind, "default": default, "show_default": default is not None, "help": meta["help"]}
    settings.update(overrides)
    if kind is None:
        settings.pop("type")
    return click.option(*decls, f.name, **settings)


def training_options(func):
    """One flag per TrainingOptions field; the command gets them as one value, `options`. A new field in
    TrainingOptions is a new flag of `finetune` and `grid plan` with nothing written here."""
    @functools.wraps(func)
    def with_options(*args, **kwargs):
        values = {f.name: kwargs.pop(f.name) for f in option_fields()}
        return func(*args, options=TrainingOptions(**values), **kwargs)

    for f in reversed(option_fields()):
        with_options = _click_option(f)(with_options)
    return with_options


def training_option(name: str, **overrides):
    """One TrainingOptions flag on its own (the demo's --seed and --device), with other help or default."""
    return _click_option(next(f for f in option_fields() if f.name == name), **overrides)


def force_option(func):
    return click.option("--force", is_flag=True, help="Replace a finished result instead of refusing.")(func)


def verbose_option(func):
    return click.option("-v", "--verbose", is_flag=True, help="Also echo nnU-Net's own output.")(func)
