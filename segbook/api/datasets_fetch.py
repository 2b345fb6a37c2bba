"""`segbook datasets fetch DATASET --out DIR`: download an open dataset, verified, into the folder prepare reads.

The work is segbook.convert.fetch's (imported when the command runs); the mirror comes in as a value
(the CLI reads --mirror / SEGBOOK_MIRROR), never from the environment here.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.catalog import load_catalog
from segbook.core.progress import Progress, no_progress
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.convert.fetch.dataset import Fetched


@dataclass(frozen=True)
class FetchRequest:
    dataset: str  # task id, nnU-Net id, display name or manifest path
    out: Path  # the raw folder to fill: what `segbook prepare --raw` is given next
    mirror: str | None = None  # replaces the scheme and host of every URL (air-gapped sites, tests)
    force: bool = False  # fetch again, and replace entries of the same name already in `out`


@dataclass(frozen=True)
class FetchOutcome:
    fetched: Fetched
    prepare_command: str  # the next command, ready to paste


def fetch_dataset(request: FetchRequest, settings: Settings, progress: Progress = no_progress) -> FetchOutcome:
    """Download, verify and unpack DATASET into `out`; a gated dataset is refused (exit 66) with what to do."""
    from segbook.convert.fetch.dataset import fetch_dataset as fetch  # noqa: PLC0415 - numpy on use

    manifest = load_catalog(settings.manifests_dir).get(request.dataset)
    fetched = fetch(manifest, Path(request.out), mirror=request.mirror, force=request.force, progress=progress)
    name = str(manifest.path) if manifest.kind == "user" and manifest.path else manifest.task_id
    return FetchOutcome(fetched, shlex.join(["segbook", "prepare", name, "--raw", str(request.out)]))
