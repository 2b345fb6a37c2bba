"""`segbook predict MODEL... INPUT OUTPUT`: apply a trained cell to new scans."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from segbook.api.predict import PredictRequest
from segbook.api.predict import predict as run
from segbook.cli.options import cli_settings, force_option, progress_printer, training_option, verbose_option
from segbook.core.errors import Differences, UsageProblem


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="MODEL... INPUT OUTPUT")
@click.option("--tta/--no-tta", default=True, show_default=True,
              help="nnU-Net's mirroring test-time augmentation (its default: 8 mirrored passes per window in 3D; "
                   "--no-tta makes one).")
@training_option("device")
@click.option("--folds", default=None, metavar="LIST",
              help="Ensemble only these folds of MODEL, comma-separated (e.g. 0,1,2 or all); default: every fold "
                   "given.")
@click.option("--output-format", type=click.Choice(["nifti", "dicom-seg"]), default="nifti", show_default=True,
              help="dicom-seg (DICOM input): also a DICOM-SEG per series, referencing it, for viewers and PACS.")
@click.option("--trust-unverified", is_flag=True,
              help="Use a model whose receipt does not verify (recorded in predict_receipt.json).")
@force_option
@verbose_option
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def predict(paths, tta, device, folds, output_format, trust_unverified, force, verbose, quiet):
    """Apply a trained cell to new scans: predictions in each input's geometry, with a receipt.

    MODEL is a run folder (OUT/runs/<task>/<config>, or its receipt.json) or a zip from `segbook
    export`; several MODELs are the folds of one cell, ensembled as nnU-Net does (softmax averaged).
    Each is verified first (its receipt must verify, as `segbook verify` checks it, or the zip match its
    SHA256SUMS, and the weights must be the ones the receipt records): otherwise exit 1. INPUT is an
    image file or a folder of images: nnU-Net's naming (<case>_0000.nii.gz, one file per channel) or one
    file per case; a folder of DICOM series gives one case per series (read by its headers; the case is
    its SeriesInstanceUID; --output-format dicom-seg adds a DICOM-SEG). OUTPUT gets <case>.nii.gz and
    predict_receipt.json (model and input hashes, output hashes, options, versions). A rerun
    skips the cases already made whose inputs and outputs are unchanged.

    \b
    Examples:
      segbook predict segbook-out/runs/Task009_Spleen/stunet-b_ft scans/ predictions/
      segbook predict runs/T/nnunet_0 runs/T/nnunet_1 runs/T/nnunet_2 scan.nii.gz out/ --no-tta
    """
    if len(paths) < 3:
        raise UsageProblem("give at least one MODEL, then INPUT and OUTPUT", hint="see segbook predict --help")
    *models, source, output = paths
    chosen = tuple(f.strip() for f in folds.split(",") if f.strip()) if folds is not None else ()
    if folds is not None and not chosen:
        raise UsageProblem("--folds needs at least one fold", hint="e.g. --folds 0,1,2 (or leave it out: every fold)")
    try:
        outcome = run(PredictRequest(tuple(models), source, output, tta=tta, device=device, output_format=output_format,
                                     trust_unverified=trust_unverified, force=force, verbose=verbose,
                                     command=["segbook", *sys.argv[1:]], folds=chosen),
                      cli_settings(), progress_printer(quiet))
    except Differences as exc:  # the model's: every difference, then the two-line error
        for line in exc.details:
            click.echo(f"differs: {line}")
        raise
    click.echo(f"{outcome.receipt_path}\t{len(outcome.predicted)} predicted, {len(outcome.skipped)} skipped")
