"""`segbook evaluate PRED_DIR REF_DIR`: Dice, NSD, HD95 per case and class, as a CSV."""

from __future__ import annotations

import math
from pathlib import Path

import click

from segbook.api.evaluate import EvaluateRequest
from segbook.api.evaluate import evaluate as run
from segbook.cli.options import cli_settings
from segbook.core.errors import UsageProblem
from segbook.core.layout import CASE_FILE_ENDING


def parse_tolerances(values: tuple[str, ...]) -> float | dict[int, float] | None:
    """`1.0` for every class, or `LABEL=MM` items (the others keep the default); None: the default."""
    if not values:
        return None
    per_label: dict[int, float] = {}
    default = None
    try:
        for item in values:
            if "=" in item:
                label, mm = item.split("=", 1)
                per_label[int(label)] = float(mm)
            else:
                default = float(item)
    except ValueError:
        raise UsageProblem(f"bad --nsd-tolerance {item!r}", hint="use MM or LABEL=MM, e.g. 2=1.5") from None
    if default is not None and not per_label:
        return default
    if default is not None:
        raise UsageProblem("mix of MM and LABEL=MM in --nsd-tolerance", hint="give one form")
    return per_label


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def print_summary(summary: dict) -> None:
    click.echo(f"{'label':>6}  {'name':<28} {'dice':>7} {'nsd':>7} {'hd95 mm':>9}")
    for label, entry in summary["per_class"].items():
        click.echo(f"{label:>6}  {entry['name'][:28]:<28} {_fmt(entry['dice']):>7} {_fmt(entry['nsd']):>7} "
                   f"{_fmt(entry['hd95'], 2):>9}")
    click.echo(f"{'mean':>6}  {'(foreground classes)':<28} {_fmt(summary['mean_dice']):>7} "
               f"{_fmt(summary['mean_nsd']):>7} {_fmt(summary['mean_hd95'], 2):>9}")
    click.echo(f"{summary['n_cases']} case(s)")


@click.command("evaluate")
@click.argument("pred_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("ref_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--labels", "labels_json", type=click.Path(path_type=Path, dir_okay=False),
              help="nnU-Net dataset.json with the label set (default: REF_DIR/dataset.json or its parent).")
@click.option("--dataset", help="Take the label set from this catalog dataset (e.g. Task009_Spleen).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Per-case x class CSV to write (default: PRED_DIR/metrics.csv).")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write summary + per-case metrics as JSON (the receipt's metrics block).")
@click.option("--nsd-tolerance", multiple=True, metavar="MM|LABEL=MM",
              help="NSD tolerance in mm (default 1.0); repeat LABEL=MM for per-class values.")
@click.option("--file-ending", default=CASE_FILE_ENDING, show_default=True)
@click.option("--case", "cases", multiple=True, help="Evaluate only these case ids (repeatable).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Cases evaluated in parallel processes.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
def evaluate(pred_dir, ref_dir, labels_json, dataset, out, json_out, nsd_tolerance, file_ending, cases,
             workers, force):
    """Dice, NSD (area-weighted, Nikolov et al.) and HD95 of PRED_DIR against REF_DIR.

    Both folders hold one label map per case (nnU-Net layout: CASE.nii.gz) on the same grid.
    Writes a CSV with one row per case and class, and prints the per-class means.
    """
    outcome = run(EvaluateRequest(
        pred_dir, ref_dir, labels_json=labels_json, dataset=dataset, out=out, json_out=json_out,
        nsd_tolerance_mm=parse_tolerances(nsd_tolerance), file_ending=file_ending, cases=cases, workers=workers,
        force=force), cli_settings())
    click.echo(f"labels from {outcome.label_source}")
    print_summary(outcome.result.summary)
    click.echo(f"wrote {outcome.csv}" + (f" and {outcome.json}" if outcome.json else ""))
