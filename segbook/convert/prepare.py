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
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segbook import __version__
from segbook.catalog.content import ImageHashes, file_hashes, image_hashes
from segbook.catalog.lock import (
    LockData,
    LockMismatch,
    compare_locks,
    lock_from_conversion,
    lock_sha256,
    read_lock,
    summarize,
    write_lock,
)
from segbook.convert import fingerprint as fp
from segbook.convert.archive import ArchiveLimits, is_archive, unpack
from segbook.convert.dataset_files import nnunet_channel_name, prepared_metadata  # noqa: F401 - re-exported
from segbook.convert.duplicates import groups_message, identical_groups, near_duplicates, near_message
from segbook.convert.images import convert_case
from segbook.convert.layouts import Discovery, discover, visible
from segbook.convert.prepared_stamp import files_fingerprint, load_stamp, prepared_intact, write_stamp
from segbook.core.errors import InputMissing, OutputBlocked
from segbook.core.fsio import atomic_directory, atomic_write_json, ensure_writable_dir
from segbook.core.hashing import sha256_json
from segbook.core.locks import describe_holder, exclusive, lock_path
from segbook.core.progress import CountProgress
from segbook.core.splits import DEFAULT_SEED, Split, make_split
from segbook.core.volumes import check_regular_file, read_volume

CONVERTER_VERSION = 1  # bump when conversion output changes for the same input
DOWNLOADS_DIR = "downloads"  # OUT/downloads/<task>: unpacked archives



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


def _recipe(manifest, discovery: Discovery, seed: int) -> str:
    """Hash of everything besides the raw files that decides the output."""
    return sha256_json({"converter": CONVERTER_VERSION, "channels": list(manifest.channels),
                        "labels": {str(k): v for k, v in manifest.labels.items()},
                        "spec": {str(k): v for k, v in discovery.spec.items() if k != "label_map"},
                        "label_map": {str(k): v for k, v in (discovery.spec.get("label_map") or {}).items()},
                        "orientation": manifest.prepare.get("orientation"),
                        "image_dtype": manifest.prepare.get("image_dtype"), "seed": seed})


def _resolve_raw(raw_dir: Path, out_root: Path, manifest, force: bool, limits: ArchiveLimits | None) -> Path:
    raw_dir = Path(raw_dir)
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


def _reuse(final: Path, manifest, stamp: dict, lock_path: Path, notes: list[str], progress) -> PreparedDataset:
    split = Split.from_dict(json.loads((final / "split.json").read_text(encoding="utf-8")))
    near = [tuple(p) for p in stamp.get("near_duplicates") or []]
    _announce(split.groups, near, progress)
    return PreparedDataset(final, manifest.dataset_name, manifest.task_id, split, stamp["case_hashes"],
                           stamp["dataset_sha256"], lock_path, stamp["lock_sha256"], stamp.get("layout", ""),
                           reused=True, notes=notes, near_duplicates=near)


def _announce(groups, near, progress) -> None:
    for message in (groups_message(groups), near_message(near)):
        if message and progress:
            progress(message)


@dataclass
class _Converted:
    hashes: dict[str, dict[str, ImageHashes]]
    fingerprints: dict[str, object]  # case -> fingerprint of its first image channel
    written: dict[str, dict[str, Path]]  # case -> {channel key: file}, all in imagesTr/labelsTr


def _convert_all(discovery: Discovery, manifest, tmp: Path, progress) -> _Converted:
    """Convert every case into imagesTr/labelsTr, hashing each written file once (and
    fingerprinting its first channel from the same decoded image); the split comes after."""
    hashes: dict[str, dict[str, ImageHashes]] = {}
    fingerprints, written_all = {}, {}
    for side in ("Tr", "Ts"):
        (tmp / f"images{side}").mkdir()
        (tmp / f"labels{side}").mkdir()
    counter = CountProgress(f"prepare {manifest.task_id}: cases converted", len(discovery.cases), progress)
    for case in discovery.cases:
        written = convert_case(case, manifest, discovery.spec, tmp / "imagesTr", tmp / "labelsTr")
        hashes[case.case_id] = {}
        for key, path in written.items():
            if key == "0000":
                image = read_volume(path)
                hashes[case.case_id][key] = image_hashes(image)
                fingerprints[case.case_id] = fp.image_fingerprint(image)
            else:
                hashes[case.case_id][key] = file_hashes(path)
        written_all[case.case_id] = written
        counter.step()
    return _Converted(hashes, fingerprints, written_all)


def _move_test_cases(converted: _Converted, split: Split, tmp: Path) -> None:
    for case in split.test:
        for path in converted.written[case].values():
            path.rename(tmp / path.parent.name.replace("Tr", "Ts") / path.name)


def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "prepare_dataset()"


def prepare_dataset(manifest, raw_dir, out_root, *, lock: bool = False, force: bool = False,
                    seed: int = DEFAULT_SEED, layout: str | None = None, lock_path: Path | None = None,
                    command: str | None = None, progress=None, lock_mode: str = "flock",
                    archive_limits: ArchiveLimits | None = None) -> PreparedDataset:
    """Convert `raw_dir` (folder or archive) for `manifest` and check it against its lock.

    lock=True writes the lock when there is none (or replaces it with force=True); force=True
    also replaces an existing prepared dataset whose content differs. `lock_mode` is the
    settings' (flock | file, see segbook.core.locks); `archive_limits` bound what an archive may
    unpack to (defaults: segbook.convert.archive.ArchiveLimits).
    """
    out_root = Path(out_root)
    lock_file = Path(lock_path) if lock_path else manifest.lock_path
    if read_lock(lock_file) is None and not lock:
        raise InputMissing(f"{manifest.task_id} has no lock yet ({lock_file})",
                           hint="check the data, then run again with --lock to pin it")
    if lock and (force or read_lock(lock_file) is None):
        _check_lock_writable(lock_file)
    ensure_writable_dir(out_root)
    name = manifest.dataset_name

    def announce(holder) -> None:
        if progress:
            progress(f"prepare: another prepare of {name} is in progress ({describe_holder(holder)}): "
                     "waiting for it")

    with exclusive(lock_path_for(out_root, name), what=f"prepare of {name}", mode=lock_mode, on_wait=announce):
        for leftover in remove_leftovers(out_root, manifest):
            if progress:
                progress(f"prepare: removed {leftover.name}, left by an interrupted prepare")
        return _prepare_locked(manifest, raw_dir, out_root, lock_file, lock=lock, force=force, seed=seed,
                               layout=layout, command=command, progress=progress, archive_limits=archive_limits)


def lock_path_for(out_root: Path, dataset_name: str) -> Path:
    """The lock one dataset's prepare holds (OUT/.locks/prepare-DatasetNNN_Name.lock)."""
    return lock_path(out_root, f"prepare-{dataset_name}")


def _prepare_locked(manifest, raw_dir, out_root: Path, lock_file: Path, *, lock: bool, force: bool, seed: int,
                    layout: str | None, command: str | None, progress, archive_limits) -> PreparedDataset:
    expected = read_lock(lock_file)  # again, under the lock: a prepare we waited for may have pinned it
    pin = lock and (expected is None or force)
    raw = _resolve_raw(raw_dir, out_root, manifest, force, archive_limits)
    discovery = discover(manifest, raw, layout)
    if not discovery.cases:
        raise InputMissing(f"no labelled cases found in {discovery.root}", hint="is the download complete?")
    _check_raw_files(discovery)
    case_ids = [c.case_id for c in discovery.cases]
    # the split the pinned content implies (its groups are in the lock): decides reuse before any work
    split = make_split(case_ids, seed, groups=_known_groups(expected, case_ids))
    final = out_root / "nnUNet_raw" / manifest.dataset_name
    ensure_writable_dir(final.parent)
    notes = list(discovery.notes)
    raw_print = files_fingerprint([f for c in discovery.cases for f in c.files], discovery.root)
    recipe = _recipe(manifest, discovery, seed)
    metadata = prepared_metadata(manifest, split)
    stamp = load_stamp(final) if final.is_dir() else None

    def intact() -> bool:
        return prepared_intact(final, stamp, set(split.test), metadata, progress)

    if (stamp and not pin and expected is not None and stamp.get("raw") == raw_print
            and stamp.get("recipe") == recipe and stamp.get("dataset_sha256") == expected.dataset_sha256
            and intact()):
        return _reuse(final, manifest, load_stamp(final), lock_file, notes, progress)

    reused, actual = False, None
    try:
        with atomic_directory(final, replace=True) as tmp:
            converted = _convert_all(discovery, manifest, tmp, progress)
            hashes = converted.hashes
            content = {case: {ch: h.content for ch, h in chans.items()} for case, chans in hashes.items()}
            split = make_split(case_ids, seed, groups=identical_groups(content))
            near = near_duplicates(converted.fingerprints, split.groups)
            _announce(split.groups, near, progress)
            _move_test_cases(converted, split, tmp)
            metadata = prepared_metadata(manifest, split)
            actual = lock_from_conversion(manifest.task_id, split, hashes)
            if expected is not None and not pin:
                _check_against_lock(expected, actual, lock_file, manifest, lock)
            for file_name, content in metadata.items():
                atomic_write_json(tmp / file_name, content)
            if stamp and stamp.get("dataset_sha256") == actual.dataset_sha256 and intact():
                raise _KeepExisting
            if final.exists() and not force:
                _refuse_replacing(final, stamp, actual)
            write_stamp(tmp, _stamp_body(manifest, discovery, actual, raw_print, recipe, converted, near))
    except _KeepExisting:
        reused = True
    if pin:
        write_lock(lock_file, actual, dataset_name=manifest.dataset_name,
                   tool=f"segbook {__version__}", command=command or _default_command())
    if reused:  # same content from other files (e.g. re-compressed or copied): remember them, and the lock
        kept = load_stamp(final) or stamp
        kept.update(raw=raw_print, recipe=recipe, lock_sha256=lock_sha256(actual),
                    **_leakage_fields(converted, near))
        write_stamp(final, {k: v for k, v in kept.items() if k not in ("format", "output")})
    hashes_out = {case: {ch: h.content for ch, h in chans.items()} for case, chans in hashes.items()}
    return PreparedDataset(final, manifest.dataset_name, manifest.task_id, split, hashes_out,
                           actual.dataset_sha256, lock_file, lock_sha256(actual), discovery.layout,
                           reused=reused, lock_written=pin, notes=notes, near_duplicates=near)


def _refuse_replacing(final: Path, stamp: dict | None, actual: LockData) -> None:
    if stamp and stamp.get("dataset_sha256") == actual.dataset_sha256:
        raise OutputBlocked(f"{final} was changed since it was prepared: its files no longer match its stamp",
                            hint="pass --force to replace it with a fresh conversion")
    raise OutputBlocked(f"{final} already holds a different prepared dataset",
                        hint="pass --force to replace it, or choose another --out")


class _KeepExisting(Exception):
    """Raised inside the temporary folder's scope to discard it and keep an identical dataset."""


def _check_against_lock(expected: LockData, actual: LockData, lock_file: Path, manifest, lock: bool):
    diffs = compare_locks(expected, actual)
    if diffs:
        hint = ("pass --force with --lock to re-pin the dataset" if lock else
                "your download differs from the pinned one; `segbook prepare ... --lock --force` re-pins")
        cases = len({d.case for d in diffs})
        raise LockMismatch(f"{manifest.task_id}: {len(diffs)} differences in {cases} cases from the lock "
                           f"{lock_file.name}: {summarize(diffs)}", diffs, hint=hint)


def _check_lock_writable(lock_file: Path) -> None:
    try:
        ensure_writable_dir(lock_file.parent)
    except OutputBlocked as exc:
        raise OutputBlocked(f"cannot write the lock {lock_file}: its folder is not writable",
                            hint="pass --lock-file PATH (e.g. under --out) to keep it elsewhere") from exc


def _known_groups(expected: LockData | None, case_ids: list[str]) -> tuple[tuple[str, ...], ...]:
    """The lock's groups of identical cases, restricted to the cases found (a changed download is
    caught by the lock comparison after conversion, with the groups the data itself has)."""
    if expected is None:
        return ()
    present = set(case_ids)
    kept = (tuple(c for c in g if c in present) for g in expected.groups)
    return tuple(g for g in kept if len(g) > 1)


def _leakage_fields(converted: _Converted, near) -> dict:
    """Stamp fields for `segbook datasets overlap`: fingerprints and the near-duplicate warnings."""
    return {"fingerprint_version": fp.FINGERPRINT_VERSION,
            "fingerprints": {case: fp.encode(f) for case, f in sorted(converted.fingerprints.items())},
            "near_duplicates": [list(p) for p in near]}


def _stamp_body(manifest, discovery: Discovery, actual: LockData, raw_print: str, recipe: str,
                converted: _Converted, near) -> dict:
    hashes = {}
    for (case, ch), h in actual.images.items():
        hashes.setdefault(case, {})[ch] = h.content
    return {"task_id": manifest.task_id, "dataset_name": manifest.dataset_name, "layout": discovery.layout,
            "raw": raw_print, "recipe": recipe, "dataset_sha256": actual.dataset_sha256,
            "lock_sha256": lock_sha256(actual), "split_sha256": actual.split_sha256, "case_hashes": hashes,
            "segbook": __version__, **_leakage_fields(converted, near)}
