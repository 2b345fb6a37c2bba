"""`segbook verify RECEIPT`: offline re-check of what a run claims."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.cli.options import progress_printer
from segbook.core.errors import Differences


@click.command()
@click.argument("receipt", type=click.Path(path_type=Path))
@click.option("--against", "others", multiple=True, type=click.Path(path_type=Path),
              help="Another run's receipt that must agree on every hash (split, plans, weights, "
                   "predictions). Repeatable.")
@click.option("--expected", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON with expected metrics ({\"mean_dice\": x, \"per_class\": {...}}).")
@click.option("--tolerance", type=float, default=1e-6, show_default=True,
              help="Absolute tolerance for --expected metrics.")
@click.option("--no-files", is_flag=True, help="Skip re-hashing the files (compare receipts only).")
def verify(receipt, others, expected, tolerance, no_files):
    """Re-check RECEIPT (a receipt.json or its run folder): recompute the hashes of the split,
    plans, final weights and every prediction from the files on disk; optionally compare with
    other receipts and with expected metrics. Exit 0 if everything agrees, 1 if anything differs.
    """
    from segbook.verify import check_expected, check_files, compare_receipts  # noqa: PLC0415

    sections = []
    if not no_files:
        sections.append(("files", check_files(receipt, progress_printer())))
    for other in others:
        sections.append((f"against {other}", compare_receipts(receipt, other)))
    if expected is not None:
        sections.append((f"expected {expected}", check_expected(receipt, expected, tolerance)))
    differences = 0
    for title, findings in sections:
        bad = [f for f in findings if not f.ok]
        differences += len(bad)
        click.echo(f"{title}: {len(findings) - len(bad)}/{len(findings)} agree")
        for finding in bad:
            click.echo(f"  DIFFERS {finding.describe()}")
    if differences:
        raise Differences(f"{differences} difference(s) found in {receipt}",
                          hint="the lines marked DIFFERS above say which hash or value differs")
    click.echo("verify: OK")
