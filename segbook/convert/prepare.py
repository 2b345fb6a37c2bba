"""`prepare`: raw download -> nnU-Net raw dataset, hashed, split, and checked against its lock.

    <out_root>/nnUNet_raw/Dataset{id:03d}_{Name}/
        imagesTr/ labelsTr/      training cases only (numTraining counts these)
        imagesTs/ labelsTs/      the held-out test cases
        dataset.json             nnU-Net v2
        splits_final.json        5 folds over the training cases (nnU-Net copies it at planning)
        split.json               Split.as_dict() + its sha256
        segbook_prepared.json    stamp: hashes, fingerprints, lock hash (makes reruns idempotent)

Conversion happens in a hidden temporary sibling renamed at the end: an interrupted or failed
prepare leaves no half dataset. No lock and no `lock=True`: refused before any work.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segbook import __version__
from segbook.catalog.content import ImageHashes, file_hashes
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
from segbook.convert.archive import is_archive, unpack
from segbook.convert.images import convert_case
from segbook.convert.layouts import Discovery, discover, visible
from segbook.core.errors import InputMissing, OutputBlocked
from segbook.core.fsio import atomic_directory, atomic_write_json, ensure_writable_dir
from segbook.core.hashing import sha256_json
from segbook.core.splits import DEFAULT_SEED, Split, make_split

CONVERTER_VERSION = 1  # bump when conversion output changes for the same input
STAMP = "segbook_prepared.json"
NNUNET_CHANNEL_NAMES = {"CTNormalization": "CT", "NoNormalization": "noNorm",
                        "RescaleTo01Normalization": "rescale_to_0_1"}
_NNUNET_RESERVED = {"ct", "nonorm", "zscore", "rescale_to_0_1", "rgb_to_0_1"}


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


def nnunet_channel_name(channel: dict) -> str:
    """dataset.json channel name that makes nnU-Net pick the manifest's normalisation."""
    norm = channel["normalization"]
    if norm in NNUNET_CHANNEL_NAMES:
        return NNUNET_CHANNEL_NAMES[norm]
    return "zscore" if channel["name"].casefold() in _NNUNET_RESERVED else channel["name"]


def dataset_json(manifest, split: Split) -> dict:
    return {
        "channel_names": {str(i): nnunet_channel_name(ch) for i, ch in enumerate(manifest.channels)},
        "labels": {name: value for value, name in sorted(manifest.labels.items())},
        "numTraining": len(split.train),
        "file_ending": ".nii.gz",
        "name": manifest.dataset_name,
        "description": f"{manifest.display_name} ({manifest.task_id}), prepared by segbook {__version__}",
        "reference": manifest.source.get("homepage") or "",
        "licence": manifest.source.get("licence", "unknown"),
        "segbook": {"task_id": manifest.task_id, "channels": list(manifest.channel_names),
                    "test_cases": len(split.test), "split_seed": split.seed, "split_sha256": split.sha256},
    }


def _recipe(manifest, discovery: Discovery, seed: int) -> str:
    """Hash of everything besides the raw files that decides the output."""
    return sha256_json({"converter": CONVERTER_VERSION, "channels": list(manifest.channels),
                        "labels": {str(k): v for k, v in manifest.labels.items()},
                        "spec": {str(k): v for k, v in discovery.spec.items() if k != "label_map"},
                        "label_map": {str(k): v for k, v in (discovery.spec.get("label_map") or {}).items()},
                        "orientation": manifest.prepare.get("orientation"),
                        "image_dtype": manifest.prepare.get("image_dtype"), "seed": seed})


def _files_fingerprint(paths, root: Path) -> str:
    rows = []
    for path in sorted(paths):
        stat = path.stat()
        rows.append([path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns])
    return sha256_json(rows)


def _output_fingerprint(folder: Path) -> str:
    return _files_fingerprint([p for p in folder.rglob("*") if p.is_file() and p.name != STAMP], folder)


def _resolve_raw(raw_dir: Path, out_root: Path, manifest, force: bool) -> Path:
    raw_dir = Path(raw_dir)
    if not raw_dir.exists():
        raise InputMissing(f"raw folder {raw_dir} does not exist",
                           hint="pass --raw with the unpacked download")
    if is_archive(raw_dir):
        return unpack(raw_dir, out_root / "downloads" / manifest.task_id, force=force)
    if not raw_dir.is_dir():
        raise InputMissing(f"--raw {raw_dir} is neither a folder nor a .tar/.tgz/.zip archive")
    if not visible(raw_dir):
        raise InputMissing(f"raw folder {raw_dir} is empty", hint="unpack the download into it first")
    return raw_dir


def _load_stamp(final: Path) -> dict | None:
    try:
        return json.loads((final / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _reuse(final: Path, manifest, stamp: dict, lock_path: Path, notes: list[str]) -> PreparedDataset:
    split = Split.from_dict(json.loads((final / "split.json").read_text(encoding="utf-8")))
    return PreparedDataset(final, manifest.dataset_name, manifest.task_id, split, stamp["case_hashes"],
                           stamp["dataset_sha256"], lock_path, stamp["lock_sha256"], stamp.get("layout", ""),
                           reused=True, notes=notes)


def _convert_all(discovery: Discovery, manifest, split: Split, tmp: Path, progress) -> dict:
    test = set(split.test)
    hashes: dict[str, dict[str, ImageHashes]] = {}
    folders = {s: (tmp / f"images{s}", tmp / f"labels{s}") for s in ("Tr", "Ts")}
    for pair in folders.values():
        for folder in pair:
            folder.mkdir()
    for number, case in enumerate(discovery.cases, 1):
        image_dir, label_dir = folders["Ts" if case.case_id in test else "Tr"]
        written = convert_case(case, manifest, discovery.spec, image_dir, label_dir)
        hashes[case.case_id] = {key: file_hashes(path) for key, path in written.items()}
        if progress:
            progress(f"[{number}/{len(discovery.cases)}] {case.case_id}")
    return hashes


def _default_command() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "prepare_dataset()"


def prepare_dataset(manifest, raw_dir, out_root, *, lock: bool = False, force: bool = False,
                    seed: int = DEFAULT_SEED, layout: str | None = None, lock_path: Path | None = None,
                    command: str | None = None, progress=None) -> PreparedDataset:
    """Convert `raw_dir` (folder or archive) for `manifest` and check it against its lock.

    lock=True writes the lock when there is none (or replaces it with force=True); force=True
    also replaces an existing prepared dataset whose content differs.
    """
    out_root = Path(out_root)
    lock_file = Path(lock_path) if lock_path else manifest.lock_path
    expected = read_lock(lock_file)
    if expected is None and not lock:
        raise InputMissing(f"{manifest.task_id} has no lock yet ({lock_file})",
                           hint="check the data, then run again with --lock to pin it")
    pin = lock and (expected is None or force)
    if pin:
        _check_lock_writable(lock_file)
    raw = _resolve_raw(raw_dir, out_root, manifest, force)
    discovery = discover(manifest, raw, layout)
    if not discovery.cases:
        raise InputMissing(f"no labelled cases found in {discovery.root}", hint="is the download complete?")
    split = make_split([c.case_id for c in discovery.cases], seed)
    final = out_root / "nnUNet_raw" / manifest.dataset_name
    ensure_writable_dir(final.parent)
    notes = list(discovery.notes)
    raw_print = _files_fingerprint([f for c in discovery.cases for f in c.files], discovery.root)
    recipe = _recipe(manifest, discovery, seed)
    stamp = _load_stamp(final) if final.is_dir() else None
    if (stamp and not pin and expected is not None and stamp.get("raw") == raw_print
            and stamp.get("recipe") == recipe and stamp.get("dataset_sha256") == expected.dataset_sha256
            and (final / "split.json").is_file() and final_intact(final, stamp)):
        return _reuse(final, manifest, stamp, lock_file, notes)

    reused, actual = False, None
    try:
        with atomic_directory(final, replace=True) as tmp:
            hashes = _convert_all(discovery, manifest, split, tmp, progress)
            actual = lock_from_conversion(manifest.task_id, split, hashes)
            if expected is not None and not pin:
                _check_against_lock(expected, actual, lock_file, manifest, lock)
            atomic_write_json(tmp / "dataset.json", dataset_json(manifest, split))
            atomic_write_json(tmp / "splits_final.json", split.nnunet_splits())
            atomic_write_json(tmp / "split.json", {**split.as_dict(), "sha256": split.sha256})
            if stamp and stamp.get("dataset_sha256") == actual.dataset_sha256 and final_intact(final, stamp):
                raise _KeepExisting
            if final.exists() and not force:
                raise OutputBlocked(f"{final} already holds a different prepared dataset",
                                    hint="pass --force to replace it, or choose another --out")
            _write_stamp(tmp, manifest, discovery, actual, raw_print, recipe)
    except _KeepExisting:
        reused = True
    if pin:
        write_lock(lock_file, actual, dataset_name=manifest.dataset_name,
                   tool=f"segbook {__version__}", command=command or _default_command())
    if reused:  # same content from other files (e.g. re-compressed): remember them, and the lock
        stamp.update(raw=raw_print, recipe=recipe, lock_sha256=lock_sha256(actual))
        atomic_write_json(final / STAMP, stamp)
    hashes_out = {case: {ch: h.content for ch, h in chans.items()} for case, chans in hashes.items()}
    return PreparedDataset(final, manifest.dataset_name, manifest.task_id, split, hashes_out,
                           actual.dataset_sha256, lock_file, lock_sha256(actual), discovery.layout,
                           reused=reused, lock_written=pin, notes=notes)


class _KeepExisting(Exception):
    """Raised inside the temporary folder's scope to discard it and keep an identical dataset."""


def final_intact(final: Path, stamp: dict) -> bool:
    return stamp.get("output") == _output_fingerprint(final)


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


def _write_stamp(tmp: Path, manifest, discovery: Discovery, actual: LockData, raw_print: str, recipe: str):
    hashes = {}
    for (case, ch), h in actual.images.items():
        hashes.setdefault(case, {})[ch] = h.content
    atomic_write_json(tmp / STAMP, {
        "format": "segbook-prepared/1", "task_id": manifest.task_id, "dataset_name": manifest.dataset_name,
        "layout": discovery.layout, "raw": raw_print, "recipe": recipe, "output": _output_fingerprint(tmp),
        "dataset_sha256": actual.dataset_sha256, "lock_sha256": lock_sha256(actual),
        "split_sha256": actual.split_sha256, "case_hashes": hashes, "segbook": __version__,
    })
