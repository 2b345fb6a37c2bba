"""`segbook finetune DATASET`: one dataset x one configuration, end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from segbook.api import FinetuneRequest
from segbook.api import finetune as run
from segbook.cli.options import (
    cli_settings,
    force_option,
    out_option,
    progress_printer,
    training_options,
    verbose_option,
)
from segbook.core.configurations import INITS, MODELS, parse_configuration
from segbook.core.errors import UsageProblem
from segbook.core.signals import install_stop_handlers


@click.command()
@click.argument("dataset")
@click.option("--model", type=click.Choice(MODELS, case_sensitive=False), default="stunet-b", show_default=True,
              help="Network: default nnU-Net or STU-Net S/B/L/H.")
@click.option("--init", "init", type=click.Choice(INITS), default="pretrained", show_default=True,
              help="Fine-tune from the TotalSegmentator weights, or train from scratch.")
@click.option("--weights", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Pre-trained checkpoint (.model v1 or .pth v2); default: the registry's file for the scale.")
@click.option("--trust-unpinned", is_flag=True,
              help="Accept weights whose hashes are not pinned in manifests/weights.yaml (recorded).")
@click.option("--raw", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the dataset as downloaded (prepared first; see `segbook prepare`).")
@click.option("--lock", is_flag=True, help="Write the dataset's lock if it has none yet (see `segbook prepare`).")
@click.option("--fold", type=click.Choice(["all", "0", "1", "2", "3", "4"]), default="all", show_default=True,
              help="Train on all training cases, or on one cross-validation fold.")
@training_options
@out_option
@force_option
@verbose_option
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="If another process is running this same cell into this --out: wait for it (then usually "
                   "'nothing to do'), or exit 73 at once.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def finetune(dataset, model, init, weights, trust_unpinned, raw, lock, fold, options, out_root, force, verbose,
             wait, quiet):
    """Run DATASET end to end: prepare, plan, train, predict the held-out test cases, evaluate,
    and write a receipt.

    DATASET is a SegBook task id or name (`segbook datasets list`), `Demo`, or the path of a
    dataset folder in nnU-Net raw layout. Results go to OUT/runs/<task>/<config>/. A finished
    run is not repeated (use --force). SIGTERM, SIGUSR1 (Slurm's preemption warning) or Ctrl-C
    make training finish its iteration, write a checkpoint and exit 75; the same command run
    again continues from there, and in deterministic mode ends with the same bits as a run that
    was never interrupted.

    \b
    Examples:
      segbook finetune Task009_Spleen --raw /data/Task09_Spleen --model stunet-b
      segbook finetune Demo --model stunet-s --init scratch --epochs 2 --iterations-per-epoch 5
    """
    install_stop_handlers()
    configuration = parse_configuration(model, init)
    if weights is not None and not configuration.needs_weights:
        raise UsageProblem("--weights only applies to --init pretrained")
    request = FinetuneRequest(
        dataset=dataset, configuration=configuration, out_root=out_root, raw=raw, weights=weights,
        trust_unpinned=trust_unpinned, fold=fold, force=force, lock=lock, verbose=verbose, wait=wait,
        settings=cli_settings(), command=["segbook", *sys.argv[1:]], **options.as_dict(),
    )
    result = run(request, progress_printer(quiet))
    summary = result.receipt["metrics"]["summary"]
    click.echo(f"{result.receipt_path}\tmean Dice {summary['mean_dice']:.4f}")
