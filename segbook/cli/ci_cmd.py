"""`segbook ci init`: write the CI reproduction check a paper's repository carries (GitHub Actions).

Options and output only; the validation, the template and the writing are segbook.api.ci's (the
workflow itself is described there and in docs/ci.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from segbook.api import ci as api


@click.group("ci")
def ci():
    """CI reproduction checks for your repository (GitHub Actions)."""


@ci.command("init")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="Your repository's root folder.")
@click.option("--path", "relative", type=click.Path(path_type=Path), default=str(api.DEFAULT_PATH),
              show_default=True, help="Where to write the workflow, relative to --repo.")
@click.option("--image", help="The SegBook image pinned by digest, NAME@sha256:DIGEST (pulled by the workflow).")
@click.option("--kit-repository", help="Or build the image from this GitHub repository of the kit (OWNER/NAME) ...")
@click.option("--kit-revision", help="... at this full commit SHA.")
@click.option("--receipts", default=api.DEFAULT_RECEIPTS, show_default=True,
              help="Folder of committed run folders that `segbook verify` re-checks ('' to skip).")
@click.option("--reference", default=api.DEFAULT_REFERENCE, show_default=True,
              help="Where the tiny cell's reference receipt is committed.")
@click.option("--force", is_flag=True, help="Replace an existing workflow file.")
def init(repo, relative, image, kit_repository, kit_revision, receipts, reference, force):
    """Write a GitHub Actions workflow that verifies your committed receipts and re-runs a tiny
    deterministic cell in the pinned image, failing on any hash that differs."""
    written = api.init(api.CiInitRequest(repo, relative, image=image, kit_repository=kit_repository,
                                         kit_revision=kit_revision, receipts=receipts, reference=reference,
                                         force=force))
    click.echo(f"wrote {written.path}")
    click.echo("next: commit it; run the workflow once, download its artifact segbook-tiny-cell and commit "
               f"the receipt.json in it at {written.reference} (the reference for later runs)")
