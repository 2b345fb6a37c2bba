"""`segbook export RUN... --out MODEL.zip`: a trained cell as an nnU-Net model zip, with proof."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.api.export import ExportRequest
from segbook.api.export import export as run
from segbook.cli.options import cli_settings, force_option, progress_printer
from segbook.core.errors import Differences


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN...")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (refused if it exists, unless --force).")
@force_option
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def export(runs, out, force, quiet):
    """Export a trained cell as an nnU-Net model zip, with its receipts and SHA256SUMS.

    RUN is a run folder; several RUNs are the folds of one cell. Each must verify (as `segbook
    verify` checks it; exit 1 otherwise). The zip has nnU-Net's layout
    (<Dataset>/<trainer>__<plans>__<configuration>/{dataset.json, plans.json, fold_*/checkpoint_final.pth}),
    each fold's receipt, MODEL_CARD.md (dataset, training, held-out metrics, the data's licence and
    access) and SHA256SUMS over every file. It installs into plain nnU-Net
    (nnUNetv2_install_pretrained_model_from_zip) and `segbook predict MODEL.zip ...` checks it first.

    \b
    Example:
      segbook export segbook-out/runs/Task009_Spleen/stunet-b_ft --out spleen-stunet-b.zip
    """
    try:
        outcome = run(ExportRequest(tuple(runs), out, force=force), cli_settings(), progress_printer(quiet))
    except Differences as exc:  # the run's: every difference, then the two-line error
        for line in exc.details:
            click.echo(f"differs: {line}")
        raise
    for warning in outcome.warnings:
        click.echo(f"WARNING: {warning}", err=True)
    click.echo(f"{outcome.archive}\t{len(outcome.members)} files")
