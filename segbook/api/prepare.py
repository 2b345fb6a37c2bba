"""`segbook prepare`: one dataset's download -> nnU-Net raw layout, hashed, split, checked against its lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core import crashlog
from segbook.core.protocol import DEFAULT_SEED
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.convert.prepare import PreparedDataset


@dataclass(frozen=True)
class PrepareRequest:
    dataset: str  # task id, nnU-Net id, display name, or the path of a manifest (`datasets init`)
    raw: Path  # the unpacked download, or its .tar/.tgz/.zip archive
    out_root: Path | None = None  # default: the settings' output root
    lock: bool = False  # pin the content when the dataset has no lock yet
    force: bool = False  # replace a different prepared dataset; with lock, re-pin
    seed: int = DEFAULT_SEED
    layout: str | None = None  # force one of the manifest's layouts
    lock_file: Path | None = None  # instead of the manifest's lock
    max_unpacked_bytes: int | None = None  # archive limits (default: segbook.convert.archive.ArchiveLimits)
    max_members: int | None = None
    command: str | None = None  # the command line recorded in a lock written now
    jobs: int | None = None  # cases converted at a time (default: the cores this process may use)


def prepare(request: PrepareRequest, settings: Settings,
            progress: Callable[[str], None] | None = None) -> PreparedDataset:
    """Prepare `request.dataset` under the output root; raises LockMismatch (exit 1) listing every
    case that differs from the lock."""
    from segbook.catalog import load_catalog  # noqa: PLC0415 - PyYAML on use
    from segbook.convert.archive import ArchiveLimits  # noqa: PLC0415 - numpy on use
    from segbook.convert.prepare import PrepareOptions, prepare_dataset  # noqa: PLC0415 - numpy on use

    manifest = load_catalog(settings.manifests_dir).get(request.dataset)
    out_root = request.out_root or settings.out_root
    crashlog.use_output_root(out_root)
    limits = ArchiveLimits()
    if request.max_unpacked_bytes is not None:
        limits = replace(limits, max_total_bytes=request.max_unpacked_bytes)
    if request.max_members is not None:
        limits = replace(limits, max_members=request.max_members)
    options = PrepareOptions(lock=request.lock, force=request.force, seed=request.seed, layout=request.layout,
                             lock_file=request.lock_file, command=request.command, lock_mode=settings.lock_mode,
                             archive_limits=limits, jobs=request.jobs)
    return prepare_dataset(manifest, request.raw, out_root, options, progress=progress)
