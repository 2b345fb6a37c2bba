"""`segbook doctor`: versions, GPU, writable paths, network, weights, container — on one screen."""

from __future__ import annotations

import json
from pathlib import Path

import click

from segbook.api.doctor import doctor as run
from segbook.cli.options import cli_settings, out_option

_MARK = {"ok": "ok", "info": "--", "warn": "!!", "fail": "XX"}


@click.command()
@out_option
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with STU-Net checkpoints to check (default: $SEGBOOK_WEIGHTS_DIR).")
@click.option("--registry", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Weights registry (default: manifests/weights.yaml).")
@click.option("--require-gpu", is_flag=True, help="Fail when no CUDA GPU is usable.")
@click.option("--no-hash", "no_hash", is_flag=True, help="Do not hash the checkpoints (fast).")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def doctor(out_root, weights_dir, registry, require_gpu, no_hash, as_json):
    """Check this environment: versions, GPU and driver, writable paths, network, weights, container.

    Exit 0 when the kit can run here, 78 when something will fail (the rows marked XX).
    No network traffic is sent: reachability is read from the routing table and proxy settings.
    """
    outcome = run(cli_settings(), out_root=out_root, weights_dir=weights_dir, registry=registry,
                  require_gpu=require_gpu, hash_weights=not no_hash)
    if as_json:
        click.echo(json.dumps([row.__dict__ for row in outcome.rows], indent=2))
    else:
        for row in outcome.rows:
            click.echo(f"[{_MARK[row.status]}] {row.name:<12} {row.detail}")
            if row.hint and row.status != "ok":
                click.echo(f"     {'':<12} -> {row.hint}")
    outcome.raise_for_failure()
    if not as_json:
        click.echo("doctor: this environment can run the kit")
