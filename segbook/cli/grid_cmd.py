"""`segbook grid plan|submit|status|resubmit|cancel|report`: the whole benchmark on a cluster.

Options and output only, over segbook.api.grid; nothing here (or there) imports torch or nnunetv2.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from segbook.api import grid as api
from segbook.api.report import DEFAULT_RULE, DEFAULT_TOLERANCE_POINTS, RULES
from segbook.cli.options import cli_settings, progress_printer, training_options
from segbook.core.errors import UsageProblem

GRID_ARG = click.argument("grid_dir", metavar="GRID", type=click.Path(path_type=Path))


@click.group()
def grid():
    """The whole benchmark on a cluster: one Slurm array task per cell, one cell = one `segbook finetune`.

    \b
    segbook grid plan --datasets all --configs paper --data data.yaml --out /scratch/segbook-out
    segbook grid submit grid/ --backend slurm --profile site.yaml --runtime apptainer --image segbook.sif
    segbook grid status grid/
    segbook grid resubmit grid/ --failed
    segbook grid cancel grid/
    segbook grid report grid/

    A cell is a dataset x configuration x fold; its results live where `segbook finetune` puts them
    (OUT/runs/<task>/<config>[_fold<k>]/). Preempted or time-limited tasks checkpoint, exit 75 and
    requeue themselves; finished cells exit at once. See docs/hpc.md.
    """


def _parse_weights(values) -> tuple[tuple[str, Path], ...]:
    """`SCALE=FILE` items -> (scale, file) pairs (the api checks the scales)."""
    found = []
    for value in values:
        scale, sep, path = value.partition("=")
        if not sep or not path:
            raise UsageProblem(f"--weights {value!r} is not SCALE=FILE",
                               hint="e.g. --weights B=/models/base_ep4k.model")
        found.append((scale, Path(path)))
    return tuple(found)


@grid.command("plan")
@click.option("--datasets", multiple=True, default=["all"], show_default=True, metavar="LIST",
              help="Names/ids, `all` (the 87), filters modality=CT, target=lesion, size=small, region=Abdomen.")
@click.option("--configs", multiple=True, default=["paper"], show_default=True, metavar="LIST",
              help="`paper` (the seven), `all`, or names: nnunet,stunet-b_scratch,stunet-b_ft,...")
@click.option("--folds", multiple=True, default=["all"], show_default=True, metavar="LIST",
              help="`all` (train on all training cases: the SegBook protocol), 0-4, or a list like 0,2.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML data map: one `dataset: /raw/folder` line per dataset (the demo needs none).")
@click.option("--grid", "grid_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("grid"),
              show_default=True, help="Grid folder to write (the grid file, the estimate, later submissions).")
@click.option("--out", "out_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output root every cell writes to, on a filesystem all nodes share (default: $SEGBOOK_OUT "
                   "or ./segbook-out).")
@click.option("--weights", "weights", multiple=True, metavar="SCALE=FILE",
              help="Pre-trained checkpoint of one STU-Net scale for the fine-tuned cells (repeatable).")
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the registry's checkpoint files (default: $SEGBOOK_WEIGHTS_DIR).")
@click.option("--trust-unpinned", is_flag=True, help="Accept checkpoints not pinned in manifests/weights.yaml.")
@training_options
@click.option("--force", is_flag=True, help="Replace an existing grid file (runs and submissions are kept).")
def plan(datasets, configs, folds, data_file, grid_dir, out_root, weights, weights_dir, trust_unpinned, options,
         force):
    """Choose the cells, check every one of them, write GRID/grid.tsv and estimate the cost.

    The training options are `segbook finetune`'s, with its defaults; every cell gets them
    unchanged. Every problem (unknown name, missing raw folder or lock, missing or unpinned weights,
    duplicate cells) is reported at once, before anything is written: exit 2, 65 or 66.

    \b
    Examples:
      segbook grid plan --datasets all --configs paper --data data.yaml --out /scratch/segbook-out \\
          --weights-dir /models/stunet
      segbook grid plan --datasets modality=CT,size=small --configs nnunet,stunet-b_ft --folds 0-4 ...
      segbook grid plan --datasets Demo --configs stunet-s_scratch,nnunet --epochs 2 --grid demo-grid
    """
    settings = cli_settings()
    outcome = api.plan(api.PlanRequest(
        grid_dir=grid_dir, out_root=out_root, datasets=datasets, configs=configs, folds=folds, data_file=data_file,
        weights=_parse_weights(weights), weights_dir=weights_dir, trust_unpinned=trust_unpinned, force=force,
        **options.as_dict()), settings)
    g = outcome.grid
    click.echo(f"grid: {len(g.entries)} cells ({outcome.n_datasets} dataset(s) x {outcome.n_configs} "
               f"configuration(s) x {outcome.n_folds} fold setting(s)) -> {g.folder / 'grid.tsv'} "
               f"(sha256 {g.sha256[:12]})")
    click.echo(f"output root: {g.out_root}")
    for line in outcome.cost_lines:
        click.echo(line)
    click.echo(f"next: segbook grid submit {g.folder} --backend slurm --profile site.yaml  (--dry-run to look first)")


def _submit_options(func):
    func = click.option("--dry-run", is_flag=True, help="Print the scripts, sbatch lines and commands; submit "
                        "nothing, write nothing.")(func)
    func = click.option("--docker-host", envvar="DOCKER_HOST", default=None, metavar="URL",
                        help="Docker API to read podman/docker image labels from (default: $DOCKER_HOST; "
                             "Podman: `podman system service --time=0 unix:///PATH.sock`).")(func)
    func = click.option("--allow-image-mismatch", is_flag=True, help="Use an image whose labels say another kit "
                        "version or lock (recorded in every receipt as SEGBOOK_IMAGE_MISMATCH=1).")(func)
    func = click.option("--image", default=None, help="SIF file (apptainer) or image reference (podman/docker).")(func)
    func = click.option("--runtime", type=click.Choice(["native", "apptainer", "podman", "docker"]), default=None,
                        help="How each cell runs: this environment (native, default) or the kit's image.")(func)
    func = click.option("--profile", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Site profile YAML (partition, account, GPU syntax, ...; docs/examples/"
                             "site-profile.yaml).")(func)
    func = click.option("--backend", type=click.Choice(list(api.BACKENDS)), default="slurm", show_default=True,
                        help="The scheduler that runs the cells (segbook.grid.backend; docs/hpc.md).")(func)
    return func


def _run_submit(grid_dir, backend, profile, runtime, image, allow_image_mismatch, docker_host, dry_run,
                only_failed):
    request = api.SubmitRequest(grid_dir, backend=backend, profile=profile, runtime=runtime, image=image,
                                allow_image_mismatch=allow_image_mismatch, docker_host=docker_host, dry_run=dry_run)
    outcome = (api.resubmit if only_failed else api.submit)(request, cli_settings(), progress_printer())
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    left = ", ".join(f"{n} {state}" for state, n in sorted(outcome.left_out.items()))
    if not outcome.arrays:
        click.echo(f"nothing to submit ({left or 'no cells'})")
        return
    if dry_run:
        click.echo(outcome.text)
        click.echo(f"(dry run: nothing written or submitted; left out: {left or 'none'})")
        return
    for array in outcome.arrays:
        click.echo(f"{array.resource_class}: job {outcome.job_ids[array.resource_class]}, "
                   f"{len(array.entries)} task(s), {outcome.folder / array.script_name}")
    if left:
        click.echo(f"not submitted: {left}")
    click.echo(f"watch: segbook grid status {grid_dir}")


@grid.command("submit")
@GRID_ARG
@_submit_options
def submit(grid_dir, backend, profile, runtime, image, allow_image_mismatch, docker_host, dry_run):
    """Write one sbatch job-array script per resource class (nnU-Net/S/B, L, H) and submit them.

    Cells already done, queued or running are left out, so submitting again is safe. No
    `sbatch` on PATH: exit 78 (use --dry-run to see what would be submitted).

    \b
    Examples:
      segbook grid submit grid/ --profile site.yaml --dry-run
      segbook grid submit grid/ --profile site.yaml --runtime apptainer --image /shared/segbook.sif
    """
    _run_submit(grid_dir, backend, profile, runtime, image, allow_image_mismatch, docker_host, dry_run, False)


@grid.command("resubmit")
@GRID_ARG
@click.option("--failed", "only_failed", is_flag=True, required=True,
              help="Submit the failed cells and the interrupted ones nothing will continue (required).")
@_submit_options
def resubmit(grid_dir, only_failed, backend, profile, runtime, image, allow_image_mismatch, docker_host, dry_run):
    """Submit only what failed (and what was interrupted with nothing queued to continue it).

    Runtime, image and profile default to the last submission's. Interrupted cells continue
    from their checkpoint; failed ones start their failed stage again.

    \b
    Examples:
      segbook grid resubmit grid/ --failed --dry-run
      segbook grid resubmit grid/ --failed --profile site-bigger-gpus.yaml
    """
    if not only_failed:
        raise UsageProblem("resubmit needs --failed", hint="segbook grid resubmit GRID --failed")
    _run_submit(grid_dir, backend, profile, runtime, image, allow_image_mismatch, docker_host, dry_run, True)


@grid.command("cancel")
@GRID_ARG
@click.option("--dry-run", is_flag=True, help="Say which jobs would be cancelled; cancel nothing.")
def cancel(grid_dir, dry_run):
    """Cancel every waiting or running task of the grid's submissions (Slurm: scancel).

    Run folders are kept: a running cell gets TERM, checkpoints and stops (exit 75), and
    continues from there when `grid resubmit GRID --failed` sends it again. Nothing queued:
    nothing to do (exit 0). The scheduler not answering: exit 78.

    \b
    Examples:
      segbook grid cancel grid/ --dry-run
      segbook grid cancel grid/
    """
    outcome = api.cancel(grid_dir, cli_settings(), dry_run=dry_run)
    if not outcome.jobs:
        click.echo("nothing to cancel: no task of this grid is waiting or running")
        return
    verb = "would cancel" if dry_run else "cancelled"
    click.echo(f"{verb} {outcome.tasks} task(s) of job(s) {', '.join(outcome.jobs)}")
    if not dry_run:
        click.echo(f"continue later: segbook grid resubmit {grid_dir} --failed")


@grid.command("status")
@GRID_ARG
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(grid_dir, fmt):
    """Every cell: pending, queued, running, preempted (requeued k times), done (mean Dice) or failed
    (error line and log), from the run folders plus squeue/sacct when Slurm answers. One summary
    line on top.

    \b
    Examples:
      segbook grid status grid/
      segbook grid status grid/ --format json | jq '.cells[] | select(.state == "failed")'
    """
    outcome = api.status(grid_dir, cli_settings())
    if fmt == "json":
        click.echo(json.dumps({"grid": str(outcome.grid.folder), "sha256": outcome.grid.sha256,
                               "summary": outcome.summary, "cells": [s.as_dict() for s in outcome.cells]}, indent=1))
        return
    click.echo(outcome.summary)
    for s in outcome.cells:
        if s.state == "done":
            what = f"mean Dice {s.mean_dice:.4f}" if s.mean_dice is not None else "done"
        elif s.state == "failed":
            what = f"{s.error} (log: {s.log})"
        elif s.state == "broken":
            what = f"{s.error} (`segbook finetune … --force` runs it again)"
        else:
            what = s.detail
        requeued = f" (requeued {s.restarts}x)" if s.restarts else ""
        job = f" [{s.job}]" if s.job else ""
        click.echo(f"{s.cell:<48} {s.state + requeued:<22}{job} {what}".rstrip())


@grid.command("report")
@GRID_ARG
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write (default: GRID/report).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=DEFAULT_TOLERANCE_POINTS, show_default=True,
              help="|ours - paper| in DSC points that counts as reproduced.")
@click.option("--accept", "rule", type=click.Choice(sorted(RULES)), default=DEFAULT_RULE, show_default=True,
              help="What counts as reproduced: the paper's value in our bootstrap interval, within the "
                   "tolerance, or either (the same rule as `segbook report`).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Re-check every done cell's receipt (hashes, metrics); an unverified cell never reproduces.")
@click.option("--force", is_flag=True, help="Replace an existing report folder.")
def report(grid_dir, out_dir, tolerance, rule, verify, force):
    """The reproduction ledger: our Dice next to the paper's for every cell (status where not
    done), as CSV, Markdown, a heat map PNG and an HTML page, with the paper's groupings and the
    mean fine-tuning gains recomputed from the done cells.

    \b
    Examples:
      segbook grid report grid/                 # GRID/report/ledger.html, .csv, .md, .png
      segbook grid report grid/ --tolerance 1 --out ledger-strict --force
    """
    written = api.report(grid_dir, cli_settings(), tolerance=tolerance, out_dir=out_dir, force=force, rule=rule,
                         verify=verify, progress=lambda message: click.echo(message, err=True))
    h = written.headline
    click.echo(f"{h['cells']} cells, {h['done']} done, {h['reproduce']} reproduce the paper ({h['rule']}), "
               f"{h['unverified']} unverified")
    click.echo(f"wrote {written.target}/ledger.html ({len(written.files)} files)")
