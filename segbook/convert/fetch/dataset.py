"""Fetch one dataset into the folder `segbook prepare --raw` reads: download, verify, then unpack.

Order, so that nothing unverified is ever unpacked: list the files (the manifest's, or Zenodo's
records API), check the free space where sizes are known, download each into RAW/.segbook-fetch/
(resumable .part files), check every size and published checksum, and only then unpack the
archives into RAW. A file that fails its checksum is deleted (exit 65); a folder the fetch made
and left empty is removed. RAW/.segbook-fetched.json, written last, says what was fetched: a
second fetch of the same files is a no-op.

A dataset without a fetch method (behind a registration or a data-use agreement, or with no file
list the kit can verify) is refused with the landing page, the files to get there and the folder
to put them in: the kit never works around a gate.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from segbook.catalog.access import ACCESS_WORDS, fetch_method, what_to_download, where_to_start
from segbook.convert.archive import ARCHIVE_SUFFIXES
from segbook.convert.fetch import hub, idc, zenodo
from segbook.convert.fetch.place import place
from segbook.convert.fetch.remote import RemoteFile, https_files, verify
from segbook.convert.layouts import visible
from segbook.core.download import check_room, download, human
from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.core.progress import Progress, no_progress
from segbook.core.stamps import read_stamp, write_stamp
from segbook.core.timefmt import now_iso

# read at call time, so tests (and a caller on a slow link) can change them
STALL_S = 60.0  # no byte for this long: the download stalled (the socket timeout)
DEADLINE_S = 48 * 3600.0  # one file, headers to last byte: the largest (tens of GB) at about 0.5 MB/s
WORK = ".segbook-fetch"  # hidden: prepare does not look inside
STAMP = ".segbook-fetched.json"


@dataclass(frozen=True)
class Fetched:
    task_id: str
    raw_dir: Path
    method: str
    files: list[dict] = field(default_factory=list)  # per file: name, url, size, checksum (published or seen)
    placed: list[str] = field(default_factory=list)  # top-level entries written into raw_dir
    reused: bool = False  # raw_dir already held exactly this fetch
    notes: list[str] = field(default_factory=list)


def refusal(manifest, raw_dir: Path) -> InputMissing:
    """Exit 66: what to download by hand, where, and where to put it."""
    access = manifest.source.get("access", "unknown")
    hub_repo = (manifest.source.get("huggingface") or {}).get("repo")
    if access == "open" and hub_repo:
        reason = f"its Hugging Face copy {hub_repo} has no pinned revision in the kit's sources"
    elif access == "open":
        reason = "no file list the kit can download and verify is known for it"
    else:
        reason = f"it {ACCESS_WORDS.get(access, access)}; the kit never works around that"
    task = manifest.task_id
    return InputMissing(f"{task} cannot be fetched by the kit: {reason}",
                        hint=f"get it at {where_to_start(manifest)}: download {what_to_download(manifest)}; unpack "
                             f"it into {raw_dir}, then `segbook prepare {task} --raw {raw_dir}`")


def _remote_files(method: str, source: dict, mirror: str | None, landing: str) -> list[RemoteFile]:
    if method == "https":
        return https_files(source, mirror)
    if method == "zenodo":
        return [f for spec in source["zenodo"] for f in zenodo.record_files(
            spec, mirror, landing=landing, deadline_s=DEADLINE_S, stall_s=STALL_S)]
    return []  # huggingface and idc list their files themselves


def _pin(method: str, source: dict, files: list[RemoteFile]) -> object:
    if method in ("huggingface", "idc"):
        return source[method]
    return [[f.name, f.size, f.algorithm, f.digest] for f in files]


def _claim(raw_dir: Path, stamp: dict | None, task: str, force: bool) -> bool:
    """Make sure raw_dir may receive this fetch; True when this call creates it."""
    if raw_dir.exists() and not raw_dir.is_dir():
        raise OutputBlocked(f"--out {raw_dir} is a file", hint="choose a folder for --out")
    if not raw_dir.exists():
        raw_dir.mkdir(parents=True)
        return True
    if force:
        return False
    if stamp is not None and (stamp.get("made_from") or {}).get("task_id") != task:
        raise OutputBlocked(f"{raw_dir} holds another fetch ({(stamp.get('made_from') or {}).get('task_id')})",
                            hint="choose another --out (one folder per dataset), or pass --force")
    if stamp is None and visible(raw_dir):
        raise OutputBlocked(f"{raw_dir} already holds files the kit did not fetch",
                            hint="choose an empty or new --out, or pass --force to add to it")
    return False


def _tidy(raw_dir: Path, created: bool) -> None:
    """After a refused file: drop an empty work folder, and the raw folder if this call made it and it is empty."""
    work = raw_dir / WORK
    if work.is_dir() and not any(work.iterdir()):
        work.rmdir()
    if created and raw_dir.is_dir() and not any(raw_dir.iterdir()):
        raw_dir.rmdir()


def _have(work: Path, f: RemoteFile) -> int:
    for path in (work / f.name, work / f".{f.name}.part"):
        if path.is_file():
            return path.stat().st_size
    return 0


def _check_space(files: list[RemoteFile], work: Path, notes: list[str]) -> None:
    known = [(f, f.size) for f in files if f.size is not None]
    if len(known) < len(files):
        notes.append(f"{len(files) - len(known)} file(s) of unknown size: their room is checked when the server "
                     "declares it")
    rest = sum(max(size - _have(work, f), 0) for f, size in known)
    unpacked = sum(size for f, size in known if f.name.lower().endswith(ARCHIVE_SUFFIXES))  # at least the archive
    check_room(work, rest + unpacked, f"fetching {len(known)} file(s) of {human(sum(size for _, size in known))} "
                                      "and unpacking the archives")


def _fetch_file(f: RemoteFile, work: Path, progress: Progress) -> dict:
    final = work / f.name
    if final.is_file():  # verified by an earlier run that stopped before unpacking: check again, cheaply safe
        try:
            return verify(final, f)
        except InvalidInput:
            progress(f"fetch: {f.name} no longer verifies; downloading it again")
    part = work / f".{f.name}.part"
    download(f.url, part, progress, f.size, deadline_s=DEADLINE_S, stall_s=STALL_S)
    seen = verify(part, f)
    os.replace(part, final)
    return seen


def _fetch_files(files: list[RemoteFile], raw_dir: Path, force: bool, progress: Progress,
                 notes: list[str]) -> tuple[list[dict], list[str]]:
    work = raw_dir / WORK
    work.mkdir(exist_ok=True)
    _check_space(files, work, notes)
    progress(f"fetch: {len(files)} file(s) into {raw_dir}")
    records = [f.as_record(_fetch_file(f, work, progress)) for f in files]  # every checksum before any unpack
    placed = place([f.name for f in files], work, raw_dir, force=force, progress=progress)
    shutil.rmtree(work)
    return records, placed


def fetch_dataset(manifest, raw_dir: Path, *, mirror: str | None = None, force: bool = False,
                  progress: Progress = no_progress) -> Fetched:
    """Download `manifest`'s data into `raw_dir` (see the module docstring); `mirror` replaces every URL's
    scheme and host (for IDC it does not apply: idc-index reads IDC's own buckets)."""
    method = fetch_method(manifest)
    raw_dir = Path(raw_dir)
    if method is None:
        raise refusal(manifest, raw_dir)
    source, landing, task = manifest.source, where_to_start(manifest), manifest.task_id
    files = _remote_files(method, source, mirror, landing)
    wanted = {"task_id": task, "method": method, "pin": _pin(method, source, files)}
    stamp = read_stamp(raw_dir / STAMP)
    if stamp is not None and stamp.get("made_from") == wanted and not force:
        progress(f"fetch: {raw_dir} already holds this download ({stamp.get('fetched')})")
        return Fetched(task, raw_dir, method, stamp.get("files") or [], stamp.get("placed") or [], reused=True)
    created = _claim(raw_dir, stamp, task, force)
    (raw_dir / STAMP).unlink(missing_ok=True)  # an earlier stamp must not describe what this fetch changes
    notes: list[str] = []
    records: list[dict] = []
    placed: list[str] = []
    try:
        if method == "huggingface":
            hub.fetch_repo(source, raw_dir, mirror=mirror, landing=landing, progress=progress)
        elif method == "idc":
            if mirror:
                notes.append("--mirror does not apply to IDC: idc-index reads IDC's public buckets")
            idc.fetch_collections(source["idc"], raw_dir, progress=progress)
            if not any(spec.get("kind") == "dicom" for spec in manifest.prepare.get("layouts", [])):
                notes.append(f"IDC sends DICOM; {task}'s manifest has no DICOM layout yet, so prepare will not read "
                             "this folder until one is added (see docs/datasets.md)")
        else:
            records, placed = _fetch_files(files, raw_dir, force, progress, notes)
    except (InvalidInput, InputMissing):
        _tidy(raw_dir, created)
        raise
    if method in ("huggingface", "idc"):  # the libraries lay the folder out themselves
        placed = [p.name for p in visible(raw_dir)]
    write_stamp(raw_dir / STAMP, wanted, files=records, placed=placed, fetched=now_iso())
    return Fetched(task, raw_dir, method, records, placed, notes=notes)
