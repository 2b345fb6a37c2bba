"""`segbook report`: receipts -> paper-style tables, plots and one HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from segbook.api.report import DEFAULT_RULE, DEFAULT_TOLERANCE_POINTS, RULES, ReportRequest
from segbook.api.report import report as run
from segbook.cli.options import cli_settings
from segbook.core.errors import UsageProblem


def parse_size_cuts(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        small_max, medium_max = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageProblem(f"bad --size-cuts {text!r}", hint="give SMALL_MAX,MEDIUM_MAX, e.g. 99,399") from None
    if not 0 <= small_max < medium_max:
        raise UsageProblem(f"bad --size-cuts {text!r}: need 0 <= SMALL_MAX < MEDIUM_MAX")
    return small_max, medium_max


@click.command("report")
@click.argument("receipts", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out-root", type=click.Path(path_type=Path, file_okay=False),
              help="Kit output root whose runs/*/*/receipt.json are collected (default: SEGBOOK_OUT "
                   "or ./segbook-out).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Report folder to write (default: OUT_ROOT/report, or OUT_ROOT/paper-report with --paper).")
@click.option("--paper", is_flag=True, help="Build the tables from the paper's per-dataset values alone.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=DEFAULT_TOLERANCE_POINTS, show_default=True,
              help="|ours - paper| in DSC points that counts as reproduced.")
@click.option("--accept", "rule", type=click.Choice(sorted(RULES)), default=DEFAULT_RULE, show_default=True,
              help="Acceptance rule: the paper's value inside our 95 % bootstrap interval, within the "
                   "tolerance, or either.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Re-check every receipt's hashes against its run folder (segbook verify); a receipt that "
                   "fails is marked UNVERIFIED and never counts as reproduced.")
@click.option("--size-cuts", metavar="SMALL_MAX,MEDIUM_MAX",
              help="Dataset size classes by case count (default: the catalog's 99,399).")
@click.option("--force", is_flag=True, help="Replace an existing report folder.")
def report(receipts, out_root, out_dir, paper, tolerance, rule, verify, size_cuts, force):
    """Collect receipts into tables next to the paper's values, grouped as the paper groups them.

    RECEIPTS: extra receipt.json files or folders (searched recursively), on top of the
    receipts under OUT_ROOT/runs/. Writes CSV and Markdown tables, PNG plots and a
    self-contained report.html into the report folder, all at once. The page leads with the
    answer: cells run, cells that reproduce by the --accept rule, the paper's headline gains
    beside ours.
    """
    result = run(ReportRequest(receipts=receipts, out_root=out_root, out_dir=out_dir, paper=paper, tolerance=tolerance,
                               rule=rule, verify=verify, size_cuts=parse_size_cuts(size_cuts), force=force),
                 cli_settings(), progress=lambda m: click.echo(m, err=True))
    outcome = result.outcome
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    h = outcome.headline
    if paper:
        click.echo(f"paper, {h['datasets']} datasets: mean fine-tuning gain over scratch "
                   f"B {h['gain_B']:+.2f}, L {h['gain_L']:+.2f}, H {h['gain_H']:+.2f} DSC points")
    else:
        click.echo(f"{outcome.n_receipts} receipt(s), {h['runs']} run(s) on {h['datasets']} dataset(s); "
                   f"{h['within']} within ±{tolerance:g} DSC points of the paper")
        click.echo(f"reproduce ({rule}): {h['reproduce']} of {h['with_paper']} cell(s) with a paper value "
                   f"[in CI {h['interval']}, tolerance only {h['tolerance']}, neither {h['neither']}]"
                   + (f"; {h['unverified']} receipt(s) UNVERIFIED" if h["unverified"] else "")
                   + ("" if verify else "; receipts not verified (--no-verify)"))
    click.echo(f"wrote {result.target}/report.html ({len(outcome.files)} files)")
