"""`prepare`: raw download -> nnU-Net raw dataset, hashed, split, and checked against its lock.

    <out_root>/nnUNet_raw/Dataset{id:03d}_{Name}/
        imagesTr/ labelsTr/      training cases only (numTraining counts these)
        imagesTs/ labelsTs/      the held-out test cases
        dataset.json             nnU-Net v2
        splits_final.json        5 folds over the training cases (nnU-Net copies it at planning)
        split.json               Split.as_dict() + its sha256
        segbook_prepared.json    stamp: hashes, fingerprints, lock hash (makes reruns idempotent)

Conversion happens in a hidden temporary sibling renamed at the end: an interrupted or failed
prepare leaves no half dataset, and the next prepare removes such leftovers. One prepare per
dataset at a time (segbook.core.locks, OUT/.locks/prepare-<dataset>.lock): a second one waits,
then reuses the first's result. Reuse is decided by content (prepared_stamp), never by paths or
modification times. No lock and no `lock=True`: refused before any work.

This module runs the steps in order; what they decide is in segbook.convert.prepare_decisions,
what they do in segbook.convert.conversion.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from segbook import __version__
from segbook.catalog.lock import LockData, lock_sha256, read_lock, write_lock
from segbook.convert import prepare_decisions
from segbook.convert.archive import ArchiveLimits, is_archive, unpack
from segbook.convert.conversion import Converted, announce, convert_into, leakage_fields, recipe, stamp_body
from segbook.convert.dataset_files import nnunet_channel_name, prepared_metadata  # noqa: F401 - re-exported
from segbook.convert.layouts import Discovery, discover, visible
from segbook.convert.prepared_stamp import (
    files_fingerprint,
    load_stamp,
    prepared_intact,
    refresh_fingerprint,
    write_stamp,
)
from segbook.core.cores import usable_cores
from segbook.core.errors import InputMissing, OutputBlocked
from segbook.core.fsio import ensure_writable_dir, install_directory, staging_directory
from segbook.core.locks import describe_holder, exclusive, lock_path
from segbook.core.splits import DEFAULT_SEED, Split, make_split
from segbook.core.stamps import REFUSE, REUSE
from segbook.core.volumes import check_regular_file

if TYPE_CHECKING:
    from segbook.catalog.manifest import DatasetManifest

DOWNLOADS_DIR = "downloads"  # OUT/downloads/<task>: unpacked archives
CACHE_DIR = ".cache"  # OUT/.cache: what is slow to find again (DICOM header indexes)


@dataclass(frozen=True)
class PrepareOptions:
    """How to prepare (the dataset, its download and the output root are the arguments)."""

    lock: bool = False  # write the lock when there is none (with force: replace one that differs)
    force: bool = False  # also replace a prepared dataset whose content differs
    seed: int = DEFAULT_SEED
    layout: str | None = None  # force one of the manifest's layouts
    lock_file: Path | None = None  # instead of the manifest's lock
    command: str | None = None  # recorded in a lock written now (default: this process's argv)
    lock_mode: str = "flock"  # the settings' (flock | file, see segbook.core.locks)
    archive_limits: ArchiveLimits | None = None  # what an archive may unpack to (default: ArchiveLimits())
    jobs: int | None = None  # cases converted at a time (default: the cores this process may use)


@dataclass
class PreparedDataset:
    dataset_dir: Path
    dataset_name: str  # e.g. Dataset009_Spleen
    task_id: str
    split: Split
    case_hashes: dict[str, dict[str, str]]  # case -> {"0000": content hash, ..., "label": ...}
    dataset_sha256: str
    lock_path: Path
    lock_sha256: str
    layout: str = ""
    reused: bool = False  # an identical prepared dataset was already there
    lock_written: bool = False
    notes: list[str] = field(default_factory=list)
    near_duplicates: list[tuple[str, str, float]] = field(default_factory=list)  # warnings, not blocking

    @property
    def duplicate_groups(self) -> tuple[tuple[str, ...], ...]:
        return self.split.groups

    @property
    def n_train(self) -> int:
        return len(self.split.train)

    @property
    def n_test(self) -> int:
        return len(self.split.test)

    def summary(self) -> str:
        state = "reused (already prepared, identical)" if self.reused else "prepared"
        lock = "lock written" if self.lock_written else "matches its lock"
        return (f"{self.task_id}: {state} in {self.dataset_dir} ({self.n_train} training, {self.n_test} test "
                f"cases; {lock}; dataset sha256 {self.dataset_sha256[:16]}...)")


@dataclass
class _Inputs:
    """What one prepare works from, gathered (and checked) before anything is decided."""

    manifest: DatasetManifest
    discovery: Discovery
    lock_file: Path
    expected: LockData | None  # the pinned lock, if any
    pinning: bool  # a lock is written from this conversion
    final: Path  # OUT/nnUNet_raw/DatasetNNN_Name
    raw_print: str
    recipe_sha: str
    stamp: dict | None  # the prepared folder's stamp, if any

    def intact(self, split: Split, progress) -> Callable[[], bool]:
        """The content check of the prepared folder, for the split it must have (asked lazily)."""
        def check() -> bool:
            return self.stamp is not None and prepared_intact(
                self.final, self.stamp, set(split.test), prepared_metadata(self.manifest, split), progress)
        return check


def prepare_dataset(manifest, raw_dir, out_root, options: PrepareOptions | None = None, *,
                    progress=None) -> PreparedDataset:
    """Convert `raw_dir` (folder or archive) for `manifest` and check it against its lock
    (see PrepareOptions for the choices)."""
    options = options or PrepareOptions()
    out_root = Path(out_root)
    lock_file = Path(options.lock_file) if options.lock_file else manifest.lock_path
    if read_lock(lock_file) is None and not options.lock:
        raise InputMissing(f"{manifest.task_id} has no lock yet ({lock_file})",
                           hint="check the data, then run again with --lock to pin it")
    if options.lock and (options.force or read_lock(lock_file) is None):
        _check_lock_writable(lock_file)
    ensure_writable_dir(out_root)
    name = manifest.dataset_name

    def waiting(holder) -> None:
        if progress:
            progress(f"prepare: another prepare of {name} is in progress ({describe_holder(holder)}): "
                     "waiting for it")

    with exclusive(lock_path_for(out_root, name), what=f"prepare of {name}", mode=options.lock_mode,
                   on_wait=waiting):
        for leftover in remove_leftovers(out_root, manifest):
            if progress:
                progress(f"prepare: removed {leftover.name}, left by an interrupted prepare")
        inputs = _gather(manifest, Path(raw_dir), out_root, lock_file, options)
        return _prepare_locked(inputs, options, progress)


def lock_path_for(out_root: Path, dataset_name: str) -> Path:
    """The lock one dataset's prepare holds (OUT/.locks/prepare-DatasetNNN_Name.lock)."""
    return lock_path(out_root, f"prepare-{dataset_name}")


def remove_leftovers(out_root: Path, manifest) -> list[Path]:
    """Temporary folders and files of an interrupted prepare (SIGKILL, power loss) of this dataset.
    Called with the prepare lock held, so no live process is writing them."""
    final = out_root / "nnUNet_raw" / manifest.dataset_name
    downloads = out_root / DOWNLOADS_DIR
    patterns = [(final.parent, f".{final.name}.*.partial"), (final.parent, f".{final.name}.old"),
                (final, ".*.tmp"), (downloads, f".{manifest.task_id}.*.partial"),
                (downloads, f".{manifest.task_id}.old")]
    removed = []
    for folder, pattern in patterns:
        if not folder.is_dir():
            continue
        for leftover in folder.glob(pattern):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def _gather(manifest, raw_dir: Path, out_root: Path, lock_file: Path, options: PrepareOptions) -> _Inputs:
    expected = read_lock(lock_file)  # again, under the lock: a prepare we waited for may have pinned it
    raw = _resolve_raw(raw_dir, out_root, manifest, options.force, options.archive_limits)
    discovery = discover(manifest, raw, options.layout, cache_dir=out_root / CACHE_DIR)
    if not discovery.cases:
        raise InputMissing(f"no labelled cases found in {discovery.root}", hint="is the download complete?")
    _check_raw_files(discovery)
    final = out_root / "nnUNet_raw" / manifest.dataset_name
    ensure_writable_dir(final.parent)
    return _Inputs(manifest, discovery, lock_file, expected,
                   pinning=options.lock and (expected is None or options.force), final=final,
                   raw_print=files_fingerprint([f for c in discovery.cases for f in c.files], discovery.root),
                   recipe_sha=recipe(manifest, discovery, options.seed),
                   stamp=load_stamp(final) if final.is_dir() else None)


def _prepare_locked(inputs: _Inputs, options: PrepareOptions, progress) -> PreparedDataset:
    case_ids = [c.case_id for c in inputs.discovery.cases]
    # the split the pinned content implies (its groups are in the lock): enough to decide reuse
    pinned_split = make_split(case_ids, options.seed, groups=prepare_decisions.pinned_groups(inputs.expected, case_ids))
    first = prepare_decisions.before_converting(
        inputs.stamp, raw_print=inputs.raw_print, recipe_sha=inputs.recipe_sha,
        pinned_sha256=inputs.expected.dataset_sha256 if inputs.expected else None, pinning=inputs.pinning,
        final=inputs.final, intact=inputs.intact(pinned_split, progress))
    if first.action == REUSE:
        return _reused(inputs, progress)

    staging = staging_directory(inputs.final)
    try:
        converted = convert_into(staging, inputs.discovery, inputs.manifest, options.seed, progress,
                                 jobs=_jobs(options.jobs, inputs.discovery))
        if inputs.expected is not None and not inputs.pinning:
            prepare_decisions.check_against_lock(inputs.expected, converted.actual, inputs.lock_file,
                                                 inputs.manifest, options.lock)
        second = prepare_decisions.after_converting(
            inputs.stamp, dataset_sha256=converted.actual.dataset_sha256, final=inputs.final, force=options.force,
            intact=inputs.intact(converted.split, progress))
        if second.action == REFUSE:
            raise prepare_decisions.refusal(inputs.final, second)
        if second.action != REUSE:
            write_stamp(staging, stamp_body(inputs.manifest, inputs.discovery, converted, inputs.raw_print,
                                            inputs.recipe_sha))
            install_directory(staging, inputs.final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when installed
    return _record(inputs, options, converted, kept=second.action == REUSE)


def _reused(inputs: _Inputs, progress) -> PreparedDataset:
    """Nothing converted: the prepared folder is what this download and lock make. Found so by its
    content after a copy or a touch, its stamp gets the folder's new fingerprint here (the decision
    only read)."""
    assert inputs.stamp is not None  # REUSE needs a stamp
    stamp = refresh_fingerprint(inputs.final, inputs.stamp)
    split = Split.from_dict(json.loads((inputs.final / "split.json").read_text(encoding="utf-8")))
    near = [tuple(p) for p in stamp.get("near_duplicates") or []]
    announce(split.groups, near, progress)
    m = inputs.manifest
    return PreparedDataset(inputs.final, m.dataset_name, m.task_id, split, stamp["case_hashes"],
                           stamp["dataset_sha256"], inputs.lock_file, stamp["lock_sha256"], stamp.get("layout", ""),
                           reused=True, notes=list(inputs.discovery.notes), near_duplicates=near)


def _record(inputs: _Inputs, options: PrepareOptions, converted: Converted, *, kept: bool) -> PreparedDataset:
    """After a conversion: pin the lock if asked; a kept folder (same content from other files,
    e.g. re-compressed or copied) remembers the new download and the lock in its stamp."""
    m, actual = inputs.manifest, converted.actual
    if inputs.pinning:
        write_lock(inputs.lock_file, actual, dataset_name=m.dataset_name, tool=f"segbook {__version__}",
                   command=options.command or _default_command())
    if kept:  # written with the folder's current fingerprint too (the decision only read)
        assert inputs.stamp is not None  # REUSE needs a stamp
        stamp = {**inputs.stamp, "raw": inputs.raw_print, "recipe": inputs.recipe_sha,
                 "lock_sha256": lock_sha256(actual), **leakage_fields(converted)}
        write_stamp(inputs.final, {k: v for k, v in stamp.items() if k not in ("format", "output")})
    return PreparedDataset(inputs.final, m.dataset_name, m.task_id, converted.split, converted.case_hashes,
                           actual.dataset_sha256, inputs.lock_file, lock_sha256(actual), inputs.discovery.layout,
                           reused=kept, lock_written=inputs.pinning, notes=list(inputs.discovery.notes),
                           near_duplicates=converted.near)


def _resolve_raw(raw_dir: Path, out_root: Path, manifest, force: bool, limits: ArchiveLimits | None) -> Path:
    if not raw_dir.exists():
        raise InputMissing(f"raw folder {raw_dir} does not exist",
                           hint="pass --raw with the unpacked download")
    if is_archive(raw_dir):
        return unpack(raw_dir, out_root / DOWNLOADS_DIR / manifest.task_id, force=force, limits=limits)
    if not raw_dir.is_dir():
        raise InputMissing(f"--raw {raw_dir} is neither a folder nor a .tar/.tgz/.zip archive")
    if not visible(raw_dir):
        raise InputMissing(f"raw folder {raw_dir} is empty", hint="unpack the download into it first")
    return raw_dir


def _check_raw_files(discovery: Discovery) -> None:
    """Every file a case names is a regular file: a dangling link is missing (66), a FIFO or a
    device is refused (65) before anything opens it (opening a FIFO blocks for ever)."""
    for case in discovery.cases:
        for path in case.files:
            check_regular_file(path, f"case {case.case_id}: {path}")


PARALLEL_FROM_BYTES = 32 << 20  # by default, worker processes only for downloads worth their start-up (~1 s)


def _jobs(asked: int | None, discovery: Discovery) -> int:
    """--jobs N as given; by default the usable cores, for a download big enough to gain from them."""
    if asked is not None:
        return asked
    size = sum(path.stat().st_size for case in discovery.cases for path in case.files)
    return usable_cores() if size >= PARALLEL_FROM_BYTES else 1


def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "prepare_dataset()"


def _check_lock_writable(lock_file: Path) -> None:
    try:
        ensure_writable_dir(lock_file.parent)
    except OutputBlocked as exc:
        raise OutputBlocked(f"cannot write the lock {lock_file}: its folder is not writable",
                            hint="pass --lock-file PATH (e.g. under --out) to keep it elsewhere") from exc
