"""`segbook verify RECEIPT`: offline re-check of what a run claims."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.api.verify import DEFAULT_TOLERANCE, VerifyRequest
from segbook.api.verify import verify as run
from segbook.cli.options import cli_settings, progress_printer


@click.command()
@click.argument("receipt", type=click.Path(path_type=Path))
@click.option("--against", "others", multiple=True, type=click.Path(path_type=Path),
              help="Another run's receipt that must agree on every hash (split, plans, weights, "
                   "predictions). Repeatable.")
@click.option("--expected", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON with expected metrics ({\"mean_dice\": x, \"per_class\": {...}}).")
@click.option("--tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True,
              help="Absolute tolerance for --expected metrics.")
@click.option("--no-files", is_flag=True,
              help="Skip re-checking the files and re-deriving the metrics (compare receipts only).")
def verify(receipt, others, expected, tolerance, no_files):
    """Re-check a receipt offline: its hashes, the reference labels and the metrics.

    RECEIPT is a receipt.json or its run folder. Recompute the hashes of the split,
    plans, final weights and every prediction from the files on disk, check the held-out
    reference labels (OUT/nnUNet_raw/<dataset>/labelsTs) against their pinned hashes, and
    re-derive the metrics from predictions and references; optionally compare with other
    receipts and with expected metrics. Exit 0 if everything agrees, 1 if anything differs
    (a missing or damaged file included), 65 for a malformed receipt or one whose paths leave
    its run folder.
    """
    outcome = run(VerifyRequest(receipt, against=others, expected=expected, tolerance=tolerance,
                                files=not no_files), cli_settings(), progress_printer())
    for section in outcome.sections:
        bad = section.differing
        click.echo(f"{section.title}: {len(section.findings) - len(bad)}/{len(section.findings)} agree")
        for finding in bad:
            click.echo(f"  DIFFERS {finding.describe()}")
    outcome.raise_for_differences()
    click.echo("verify: OK")
