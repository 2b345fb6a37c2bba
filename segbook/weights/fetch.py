"""Download a checkpoint (the shared downloader, segbook.core.download), verify, and only then move it into place.

The partial download lives next to the target as `.<file>.part`, so an interrupted fetch continues
where it stopped and the final rename is atomic (same folder, same file system). A file that fails
its pin is deleted; a complete but unpinned one is kept as .part until the user decides to trust it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from segbook.core.download import download as shared_download
from segbook.core.errors import InvalidInput, OutputBlocked
from segbook.core.progress import Progress
from segbook.weights.checks import MISMATCH, UNPINNED, FileCheck, check_file, refusal
from segbook.weights.registry import WeightsEntry, plain_file_name

# read at call time, so tests (and a caller on a slow link) can change them
STALL_S = 60.0  # no byte for this long: the download stalled (the socket timeout)
DEADLINE_S = 6 * 3600.0  # one download, headers to last byte: 11.7 GB (STU-Net-H) needs about 0.6 MB/s


@dataclass(frozen=True)
class FetchResult:
    path: Path
    check: FileCheck
    downloaded_bytes: int  # 0 when the file was already there or the .part was complete
    resumed_from: int  # bytes already in the .part when this fetch started
    skipped: bool  # the final file was already present and verified


def part_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.part")


def download(url: str, part: Path, progress: Progress, max_bytes: int | None = None, *,
             deadline_s: float | None = None, stall_s: float | None = None) -> tuple[int, int]:
    """segbook.core.download.download with this module's limits as defaults (read at call time)."""
    return shared_download(url, part, progress, max_bytes, deadline_s=DEADLINE_S if deadline_s is None else deadline_s,
                           stall_s=STALL_S if stall_s is None else stall_s)


def fetch_entry(entry: WeightsEntry, dest_dir: Path, *, trust_unpinned: bool = False, force: bool = False,
                url: str | None = None, progress: Progress = lambda message: None,
                max_bytes: int | None = None, deadline_s: float | None = None,
                stall_s: float | None = None) -> FetchResult:
    """Download `entry` into `dest_dir`/`entry.file` (see the module docstring for the states).
    `max_bytes` defaults to the entry's own limit (WeightsEntry.max_download_bytes); `deadline_s`
    and `stall_s` bound the download's time (see download)."""
    dest_dir = Path(dest_dir)
    target = dest_dir / plain_file_name(entry.file, f"weights entry {entry.scale}")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputBlocked(f"cannot create {dest_dir} ({exc.strerror})",
                            hint="choose another --dest") from exc
    if not os.access(dest_dir, os.W_OK):
        raise OutputBlocked(f"{dest_dir} is not writable",
                            hint="choose another --dest or fix its permissions")
    if target.exists():
        existing = check_file(entry, target)
        if existing.ok or (existing.status == UNPINNED and trust_unpinned):
            progress(f"{target} is already there ({existing.status})")
            return FetchResult(target, existing, 0, 0, skipped=True)
        if not force:
            raise OutputBlocked(f"{target} exists and is {existing.status}",
                                hint="pass --force to replace it with a fresh download")
    part = part_path(target)
    resumed_from, new = download(url or entry.url, part, progress,
                                 entry.max_download_bytes if max_bytes is None else max_bytes,
                                 deadline_s=deadline_s, stall_s=stall_s)
    try:
        check = check_file(entry, part)
    except InvalidInput:  # the bytes are no loadable checkpoint: a rerun must start from scratch
        part.unlink(missing_ok=True)
        raise
    if check.status == MISMATCH or (check.status == UNPINNED and check.problem):
        part.unlink(missing_ok=True)  # damaged or wrong: a rerun must start from scratch
        raise refusal(check)
    if check.status == UNPINNED and not trust_unpinned:
        raise refusal(check)  # complete and plausible: kept as .part, so a trusted rerun needs no download
    os.replace(part, target)
    return FetchResult(target, _moved(check, target), new, resumed_from, skipped=False)


def _moved(check: FileCheck, target: Path) -> FileCheck:
    from dataclasses import replace  # noqa: PLC0415

    return replace(check, path=target)
