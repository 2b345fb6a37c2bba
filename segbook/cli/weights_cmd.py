"""`segbook weights list|fetch|pin|verify`: the pre-trained STU-Net checkpoints."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.api import weights as api
from segbook.cli.options import cli_settings, progress_printer
from segbook.core.errors import UsageProblem
from segbook.core.units import parse_size

SCALE_CHOICE = click.Choice(["S", "B", "L", "H", "s", "b", "l", "h", "small", "base", "large", "huge"])


def registry_option(func):
    return click.option("--registry", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Weights registry file (default: manifests/weights.yaml of the kit).")(func)


def _dir_option(help_text: str):
    return click.option("--dir", "--dest", "weights_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help=help_text + " Default: $SEGBOOK_WEIGHTS_DIR.")


def _max_bytes(max_size: str | None) -> int | None:
    try:
        return None if max_size is None else parse_size(max_size)
    except ValueError:
        raise UsageProblem(f"--max-size {max_size!r} is not a size", hint="write it like '5 GB'") from None


@click.group()
def weights():
    """List, fetch, pin and verify the pre-trained STU-Net checkpoints.

    \b
    The registry (manifests/weights.yaml) names each official checkpoint, its URL and its
    published size. No official checksums exist: pin the first copy you trust with
    `segbook weights pin FILE`; from then on every use checks its file sha256 and tensor hash,
    and an unpinned or different file is refused (exit 65) unless --trust-unpinned is given.
    """


@weights.command("list")
@registry_option
@_dir_option("Folder to look for the checkpoint files in.")
def list_weights(registry, weights_dir):
    """The registry's checkpoints: size, pin, and whether the file is in the weights folder."""
    listing = api.list_weights(cli_settings(), registry=registry, weights_dir=weights_dir)
    click.echo(f"registry: {listing.registry.path}")
    click.echo(f"{'scale':<6}{'file':<20}{'size':>10}  {'pinned':<22}{'present':<8}url")
    for entry in listing.registry.entries:
        pin = f"yes {entry.sha256[:12]}" if entry.pinned else "no"
        present = "-" if listing.folder is None else ("yes" if listing.present[entry.file] else "no")
        click.echo(f"{entry.scale:<6}{entry.file:<20}{entry.published_size:>10}  {pin:<22}{present:<8}"
                   f"{entry.url}")
    if listing.folder is not None:
        click.echo(f"weights folder: {listing.folder}")


@weights.command()
@click.argument("scales", nargs=-1, type=SCALE_CHOICE, required=True)
@registry_option
@_dir_option("Folder to download into.")
@click.option("--url", default=None, help="Download from this URL instead of the registry's (a mirror).")
@click.option("--trust-unpinned", is_flag=True,
              help="Move an unpinned download into place (pin it afterwards with `segbook weights pin`).")
@click.option("--force", is_flag=True, help="Replace a file that is already there but does not verify.")
@click.option("--max-size", metavar="SIZE", default=None,
              help="Refuse a download larger than this, e.g. '5 GB' (default: the registered size, or the "
                   "published size + 10 % before pinning).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def fetch(scales, registry, weights_dir, url, trust_unpinned, force, max_size, quiet):
    """Download checkpoints (resumable), verify them, then move them into place.

    \b
    Example:
      segbook weights fetch S B --dest ~/stunet-weights
    """

    def show(result) -> None:
        click.echo(f"{result.path}\t{'verified' if result.check.ok else 'UNPINNED (trusted)'}\t"
                   f"sha256 {result.check.file_sha256}")
        if not result.check.ok:
            click.echo(f"hint: pin it with `segbook weights pin {result.path}`", err=True)

    request = api.FetchRequest(scales, registry=registry, weights_dir=weights_dir, url=url,
                               trust_unpinned=trust_unpinned, force=force, max_bytes=_max_bytes(max_size))
    api.fetch(request, cli_settings(), progress_printer(quiet), on_fetched=show)


@weights.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scale", type=SCALE_CHOICE, default=None,
              help="Which checkpoint FILE is (default: by its name).")
@registry_option
@click.option("--force", is_flag=True, help="Replace an existing pin that has other hashes.")
def pin(file, scale, registry, force):
    """Record FILE's sha256 and tensor hash (and who/when) in the registry.

    Pin only a copy whose origin you checked: every later use is compared with it.
    """
    pinned = api.pin(file, cli_settings(), scale=scale, registry=registry, force=force)
    entry = pinned.result.entry
    verb = "pinned" if pinned.result.changed else "already pinned"
    click.echo(f"{verb} STU-Net-{entry.scale} in {pinned.registry}\n"
               f"  sha256        {entry.sha256}\n  tensor_sha256 {entry.tensor_sha256}\n"
               f"  size_bytes    {entry.size_bytes}\n  by            {entry.pinned_by} "
               f"at {entry.pinned_at}")


@weights.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--scale", type=SCALE_CHOICE, default=None, help="Which checkpoint FILE is (one FILE only).")
@registry_option
@_dir_option("Folder whose registered checkpoints are checked when no FILES are given.")
@click.option("--quick", is_flag=True, help="Size and file sha256 only (skip reading the tensors).")
def verify(files, scale, registry, weights_dir, quick):
    """Check checkpoints against their pins. Exit 0 all verified, 1 a file differs,
    65 a file is not pinned, 66 nothing to check."""
    outcome = api.verify(cli_settings(), files, scale=scale, registry=registry, weights_dir=weights_dir, quick=quick)
    for check in outcome.checks:
        detail = f"  ({check.problem})" if check.problem else ""
        click.echo(f"{check.status:<9} STU-Net-{check.entry.scale}  {check.path}{detail}")
    outcome.raise_for_failure()
