"""`segbook evaluate PRED_DIR REF_DIR`: Dice, NSD, HD95 per case and class, as a CSV."""

from __future__ import annotations

import math
from pathlib import Path

import click

from segbook.core.errors import OutputBlocked, UsageProblem
from segbook.core.fsio import atomic_write_json


def _find_dataset_json(ref_dir: Path) -> Path | None:
    for candidate in (ref_dir / "dataset.json", ref_dir.parent / "dataset.json"):
        if candidate.is_file():
            return candidate
    return None


def resolve_labels(labels_json: Path | None, dataset: str | None,
                   ref_dir: Path) -> tuple[dict[int, str], str]:
    from segbook.evaluate.labels import labels_from_catalog, labels_from_dataset_json  # noqa: PLC0415 - numpy on use

    if labels_json and dataset:
        raise UsageProblem("give either --labels or --dataset, not both")
    if dataset:
        return labels_from_catalog(dataset), f"dataset {dataset}"
    path = labels_json or _find_dataset_json(ref_dir)
    if path is None:
        raise UsageProblem(f"no label set: no dataset.json in {ref_dir} or its parent",
                           hint="pass --labels PATH/dataset.json or --dataset NAME")
    return labels_from_dataset_json(path), str(path)


def parse_tolerances(values: tuple[str, ...]) -> float | dict[int, float]:
    """`1.0` for every class, or `LABEL=MM` items (the others keep the default)."""
    if not values:
        from segbook.evaluate.labels import DEFAULT_NSD_TOLERANCE_MM  # noqa: PLC0415 - numpy on use

        return DEFAULT_NSD_TOLERANCE_MM
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
@click.option("--file-ending", default=".nii.gz", show_default=True)
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
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415 - numpy on use

    out = out or pred_dir / "metrics.csv"
    for target in (out, json_out):
        if target is not None and target.exists() and not force:
            raise OutputBlocked(f"{target} already exists", hint="pass --force to replace it")
    labels, source = resolve_labels(labels_json, dataset, ref_dir)
    tolerances = parse_tolerances(nsd_tolerance)
    result = evaluate_folder(pred_dir, ref_dir, labels, nsd_tolerance_mm=tolerances,
                             cases=list(cases) or None, file_ending=file_ending, workers=workers)
    try:
        result.to_csv(out)
        if json_out is not None:
            atomic_write_json(json_out, result.to_dict())
    except OSError as exc:
        raise OutputBlocked(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    click.echo(f"labels from {source}")
    print_summary(result.summary)
    click.echo(f"wrote {out}" + (f" and {json_out}" if json_out else ""))

