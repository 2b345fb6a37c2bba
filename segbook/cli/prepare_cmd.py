"""`segbook prepare DATASET --raw DIR`: convert a download to nnU-Net layout and check its lock."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from segbook.cli.options import cli_settings, progress_printer
from segbook.core.errors import Differences, UsageProblem
from segbook.core.protocol import DEFAULT_SEED
from segbook.core.units import parse_size


@click.command()
@click.argument("dataset")
@click.option("--raw", "raw", required=True, type=click.Path(path_type=Path),
              help="The unpacked download (or its .tar/.tgz/.zip archive).")
@click.option("--out", "out", type=click.Path(path_type=Path),
              help="Output root (default: $SEGBOOK_OUT or ./segbook-out); data goes to OUT/nnUNet_raw/.")
@click.option("--lock", is_flag=True, help="Write the dataset's lock if it has none (pin this content).")
@click.option("--force", is_flag=True,
              help="Replace a different prepared dataset; with --lock, re-pin a lock that differs.")
@click.option("--seed", type=int, default=None, help="Split seed (default 12345, as every lock uses).")
@click.option("--layout", help="Force one of the manifest's layouts (nnunet, msd, case_folders, files).")
@click.option("--lock-file", type=click.Path(path_type=Path),
              help="Use this lock file instead of the manifest's (e.g. when manifests/ is read-only).")
@click.option("--max-unpacked-size", metavar="SIZE", default=None,
              help="Refuse an archive (--raw FILE) whose members add up to more than this, e.g. '500 GB' "
                   "(default 2 TB; it must also fit the disk).")
@click.option("--max-members", type=click.IntRange(1), default=None,
              help="Refuse an archive with more members than this (default 1,000,000).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--jobs", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Convert and hash N cases at a time in N processes (default: the cores this process may use, "
                   "i.e. its CPU affinity, which is what Slurm grants; one for downloads under 32 MiB). The prepared "
                   "dataset and lock are identical for any N.")
def prepare(dataset, raw, out, lock, force, seed, layout, lock_file, max_unpacked_size, max_members, fmt, quiet,
            jobs):
    """Convert DATASET's download into nnU-Net layout, hash every case, split, and compare with the lock.

    DATASET is a task id, nnU-Net id, display name, or the path of a manifest made by
    `segbook datasets init`. Exit 1 lists every case that differs from the lock.
    """
    from segbook.api.prepare import PrepareRequest  # noqa: PLC0415
    from segbook.api.prepare import prepare as run  # noqa: PLC0415 - numpy on use

    progress = None if quiet or fmt == "json" else progress_printer(prefix="")
    request = PrepareRequest(dataset=dataset, raw=raw, out_root=out, lock=lock, force=force,
                             seed=DEFAULT_SEED if seed is None else seed, layout=layout, lock_file=lock_file,
                             max_unpacked_bytes=_size(max_unpacked_size), max_members=max_members,
                             command=shlex.join(["segbook", *sys.argv[1:]]), jobs=jobs)
    try:
        result = run(request, cli_settings(), progress)
    except Differences as exc:  # the lock's: every case that differs, then the error
        for line in exc.details:
            click.echo(f"differs: {line}")
        raise
    if fmt == "json":
        click.echo(json.dumps({
            "task_id": result.task_id, "dataset_name": result.dataset_name,
            "dataset_dir": str(result.dataset_dir), "layout": result.layout,
            "train_cases": result.n_train, "test_cases": result.n_test,
            "dataset_sha256": result.dataset_sha256, "split_sha256": result.split.sha256,
            "lock_path": str(result.lock_path), "lock_sha256": result.lock_sha256,
            "lock_written": result.lock_written, "reused": result.reused, "notes": result.notes,
            "duplicate_groups": [list(g) for g in result.duplicate_groups],
            "near_duplicates": [list(p) for p in result.near_duplicates]}, indent=2))
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(result.summary())
    if result.lock_written:
        click.echo(f"lock written: {result.lock_path} (commit it so others can check against it)")


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_size(text)
    except ValueError:
        raise UsageProblem(f"--max-unpacked-size {text!r} is not a size",
                           hint="write it like '500 GB' or '20 MB'") from None
