"""`segbook datasets list|show|fetch|init|overlap`: browse the catalog, download an open dataset,
make a manifest for your own data, find cases two datasets share.

Options and rendering only; the work is segbook.api.datasets'. list/show import no torch or
nnunetv2.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from segbook.api import datasets as api
from segbook.api import datasets_fetch as fetch_api
from segbook.catalog.schema import ACCESS_KINDS, MODALITIES, TARGETS
from segbook.catalog.sizes import MEDIUM_MAX_CASES, SIZE_CLASSES, SMALL_MAX_CASES
from segbook.cli.options import cli_settings, out_option, progress_printer

COLUMNS = ("task_id", "nnunet_id", "display_name", "modality", "target", "cases", "size", "region",
           "access", "licence", "fetch", "prepare_from")
HEADERS = {"task_id": "task id", "nnunet_id": "id", "display_name": "name", "prepare_from": "prepare from"}
_SIZE_HELP = (f"small (< {SMALL_MAX_CASES + 1} cases), medium ({SMALL_MAX_CASES + 1}-{MEDIUM_MAX_CASES}) "
              f"or large (> {MEDIUM_MAX_CASES})")


def _row(m) -> dict:
    return {"task_id": m.task_id, "nnunet_id": m.nnunet_id, "display_name": m.display_name,
            "modality": m.modality, "target": m.target, "cases": m.n_cases if m.n_cases is not None else "",
            "size": m.size or "", "region": m.region, "access": m.access,
            "licence": m.source.get("licence", "unknown"), "fetch": m.source.get("fetch") or "no",
            "prepare_from": m.prepare_from}


def _table(rows: list[dict]) -> str:
    header = [HEADERS.get(c, c) for c in COLUMNS]
    cells = [header] + [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _choice(values) -> click.Choice:
    return click.Choice(list(values), case_sensitive=False)


@click.group()
def datasets():
    """List and show the 87 SegBook datasets (+ demo); make a manifest for your own data; overlap."""


@datasets.command("list")
@click.option("--modality", type=_choice(MODALITIES), help="Only this modality.")
@click.option("--target", type=_choice(TARGETS), help="Only this target category.")
@click.option("--size", type=_choice(SIZE_CLASSES), help=f"Only this size class: {_SIZE_HELP}.")
@click.option("--access", type=_choice(ACCESS_KINDS),
              help="Only this access kind (open, registration, dua: a signed data-use agreement, unknown).")
@click.option("--fetchable", is_flag=True, help="Only the datasets `segbook datasets fetch` downloads.")
@click.option("--format", "fmt", type=_choice(("table", "json", "csv")), default="table", show_default=True)
def list_datasets(modality, target, size, access, fetchable, fmt):
    """Every dataset in the catalog: its access rule and licence, whether `segbook datasets fetch`
    downloads it (and how), and the layout `segbook prepare` accepts for it."""
    found = api.list_datasets(cli_settings(), modality=modality, target=target, size=size, access=access,
                              fetchable=fetchable)
    rows = [_row(m) for m in found]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(_table(rows))
        click.echo(f"{len(rows)} datasets", err=True)


def _planned_lines(view, out_root: Path) -> list[str]:
    """How the plans already made under out_root differ (nnU-Net's own vs the paper's)."""
    if not view.planned:
        return [f"  planned under {out_root}: not yet (segbook finetune plans it; the paper's plan is the "
                f"default{'' if view.manifest.reference_plan else ' where the catalog has one'})"]
    return [f"  planned under {out_root}: {line}" for line in view.plan_differences()]


def _show_text(view, out_root: Path) -> str:
    m = view.manifest
    lines = [f"{m.task_id}  ({m.display_name}; nnU-Net {m.dataset_name})",
             f"  modality: {m.modality}    target: {m.target}    regions: {', '.join(m.regions)}",
             f"  cases: paper {m.cases.get('paper')}, train {m.cases.get('train')}, test "
             f"{m.cases.get('test')}  -> size {m.size}",
             "  channels: " + ", ".join(f"{i:04d} {c['name']} ({c['normalization']})"
                                        for i, c in enumerate(m.channels)),
             "  labels: " + ", ".join(f"{k} {v}" for k, v in m.labels.items())]
    if m.reference_plan:
        lines.append(f"  reference plan: patch {m.reference_plan['patch']}, spacing "
                     f"{[round(s, 4) for s in m.reference_plan['spacing']]} (z, y, x); "
                     "used by default (--plan paper), see docs/plans.md")
    else:
        lines.append("  reference plan: none (nnU-Net 2.8.1's own plan is used)")
    lines += _planned_lines(view, out_root)
    if m.paper_dice:
        lines.append("  paper Dice: " + ", ".join(f"{k} {v:.4f}" for k, v in m.paper_dice.items()))
    src = m.source
    lines.append(f"  source: {src.get('landing') or src.get('homepage') or 'unknown'}  licence: {src.get('licence')}  "
                 f"access: {src.get('access')}" + (f"  url: {src['url']}" if src.get("url") else ""))
    lines += [f"  {line}" for line in view.how_to_get()]
    lines.append(f"  prepare from: {m.prepare_from}")
    if m.path is not None:
        lines.append(f"  lock: {m.lock_path} ({'present' if view.lock_present else 'none yet: prepare with --lock'})")
    lines += [f"  correction: {c['what']} ({c['why']}; {c['source']})" for c in m.corrections]
    lines += [f"  note: {n}" for n in m.notes]
    return "\n".join(lines)


@datasets.command("show")
@click.argument("dataset")
@click.option("--format", "fmt", type=_choice(("text", "json")), default="text", show_default=True)
@out_option
def show_dataset(dataset, fmt, out_root):
    """One dataset by task id, nnU-Net id, display name or manifest path (any case).

    With an output root (--out) where the dataset was planned, also shows the plan the runs used
    and how the paper's plan differs from nnU-Net 2.8.1's own."""
    view = api.show_dataset(dataset, out_root, cli_settings())
    if fmt == "json":
        click.echo(json.dumps({**view.manifest.as_dict(), "planned": view.planned}, indent=2))
    else:
        click.echo(_show_text(view, out_root))


@datasets.command("fetch")
@click.argument("dataset")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to fill: the one `segbook prepare DATASET --raw` reads next (one folder per dataset).")
@click.option("--mirror", envvar="SEGBOOK_MIRROR", metavar="URL", default=None,
              help="Replace the scheme and host of every download URL with this one, keeping the path "
                   "(a local copy; default: $SEGBOOK_MIRROR). For Hugging Face it is the endpoint.")
@click.option("--force", is_flag=True, help="Fetch again, and replace entries of the same name in --out.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def fetch_dataset(dataset, out, mirror, force, quiet):
    """Download an open DATASET, verify every file, and unpack it into --out.

    \b
    Checksums (published by the host, or Zenodo's md5) are checked before anything is unpacked; a
    mismatch exits 65 and leaves nothing behind. A cut download continues where it stopped. A dataset
    behind a registration or a data-use agreement is refused (exit 66) with its landing page, the
    files to download there and the folder to put them in.

    \b
    Example:
      segbook datasets fetch Task009_Spleen --out ~/data/spleen
      segbook prepare Task009_Spleen --raw ~/data/spleen
    """
    request = fetch_api.FetchRequest(dataset, out, mirror=mirror, force=force)
    outcome = fetch_api.fetch_dataset(request, cli_settings(), progress_printer(quiet))
    fetched = outcome.fetched
    for note in fetched.notes:
        click.echo(f"note: {note}", err=True)
    for item in fetched.files:
        digest = next((f"{k} {item[k]}" for k in ("sha256", "md5") if item.get(k)), "")
        click.echo(f"{item['name']}\t{digest}\t{item.get('checksum', '')}")
    click.echo(f"{'already fetched' if fetched.reused else 'fetched'} {fetched.task_id} into {fetched.raw_dir} "
               f"({fetched.method}; {len(fetched.placed)} entries)")
    click.echo(f"next: {outcome.prepare_command}")


@datasets.command("init")
@click.argument("name")
@click.option("--raw", "raw", required=True, type=click.Path(path_type=Path),
              help="Your nnU-Net (v1/v2) or MSD-style task folder, or a DICOM tree (series + SEG or RTSTRUCT).")
@click.option("--target", required=True, type=_choice(TARGETS), help="Target category.")
@click.option("--id", "nnunet_id", type=click.IntRange(1, 999),
              help="nnU-Net dataset id (default: from a DatasetNNN_/TaskNNN_ folder name).")
@click.option("--modality", type=_choice(MODALITIES), help="Default: from the channel names (CT, PET).")
@click.option("--display-name", help="Name shown in tables (default: NAME).")
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Manifest file to write (default: ./TaskNNN_NAME.yaml); its lock goes next to it.")
@click.option("--force", is_flag=True, help="Replace an existing manifest file.")
@click.option("--label", "labels", multiple=True, metavar="N=NAME",
              help="DICOM trees: label value N is the SEG segment or RTSTRUCT ROI called NAME (repeat per label). "
                   "Without it, init lists the names it found and exits 2.")
def init_dataset(name, raw, target, nnunet_id, modality, display_name, out, force, labels):
    """Write a manifest for your own dataset NAME, read off its dataset.json and files, or off the
    headers of a DICOM tree (case ids from PatientID, with the study date where a patient has several)."""
    request = api.InitRequest(name, raw, target, nnunet_id=nnunet_id, modality=modality,
                              display_name=display_name, out=out, force=force, labels=tuple(labels))
    written = api.init_dataset(request, cli_settings())
    click.echo(f"wrote {written.path} ({written.task_id}, {written.n_cases} cases)")
    click.echo(f"next: segbook prepare {written.path} --raw {raw} --lock")


@datasets.command("overlap")
@click.argument("a")
@click.argument("b")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output root where prepared datasets (and their fingerprints) are looked up "
                   "(default: ./segbook-out or $SEGBOOK_OUT).")
@click.option("--format", "fmt", type=_choice(("text", "json")), default="text", show_default=True)
def overlap_datasets(a, b, out_root, fmt):
    """Cases datasets A and B share, and which side of each split they are on.

    A and B are each a catalog dataset (id or name; it must have been prepared: its lock is read),
    a lock file, a prepared dataset folder (OUT/nnUNet_raw/DatasetNNN_Name) or a raw folder of
    images (hashed as stored). Identical images are listed first, near-duplicates (the same scan
    re-saved: docs/leakage.md) apart. A pre-training set as A and a downstream dataset as B shows
    which of B's test cases the pre-trained model has seen.
    """
    outcome = api.overlap_datasets(a, b, cli_settings(), out_root=out_root,
                                   progress=progress_printer(quiet=fmt == "json", prefix=""))
    click.echo(json.dumps(outcome.as_dict(), indent=2) if fmt == "json" else outcome.text())
