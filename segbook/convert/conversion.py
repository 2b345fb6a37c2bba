"""Prepare's doing: convert every case into a staging folder, hash it, split it, lay it out.

Nothing here decides whether to convert or whether the result replaces what is there
(segbook.convert.prepare_decisions does); nothing here writes outside the staging folder.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import SimpleITK as sitk

from segbook import __version__
from segbook.catalog.content import ImageHashes, file_hashes, image_hashes
from segbook.catalog.lock import LockData, lock_from_conversion, lock_sha256
from segbook.convert import fingerprint as fp
from segbook.convert.dataset_files import prepared_metadata
from segbook.convert.duplicates import groups_message, identical_groups, near_duplicates, near_message
from segbook.convert.images import convert_case
from segbook.convert.layouts import Discovery
from segbook.core.fsio import atomic_write_json
from segbook.core.hashing import sha256_json
from segbook.core.progress import CountProgress
from segbook.core.splits import Split, make_split
from segbook.core.volumes import read_volume

if TYPE_CHECKING:
    import numpy as np

CONVERTER_VERSION = 1  # bump when conversion output changes for the same input


@dataclass
class Converted:
    """One conversion, complete in its staging folder."""

    hashes: dict[str, dict[str, ImageHashes]]  # case -> channel key -> hashes of the written file
    fingerprints: dict[str, np.ndarray]  # case -> near-duplicate fingerprint of its first image channel
    split: Split  # made from the content: identical cases stay together
    near: list[tuple[str, str, float]]  # near-duplicate warnings
    actual: LockData  # what a lock of this content says

    @property
    def case_hashes(self) -> dict[str, dict[str, str]]:
        return {case: {ch: h.content for ch, h in chans.items()} for case, chans in self.hashes.items()}


def recipe(manifest, discovery: Discovery, seed: int) -> str:
    """Hash of everything besides the raw files that decides the output."""
    return sha256_json({"converter": CONVERTER_VERSION, "channels": list(manifest.channels),
                        "labels": {str(k): v for k, v in manifest.labels.items()},
                        "spec": {str(k): v for k, v in discovery.spec.items() if k != "label_map"},
                        "label_map": {str(k): v for k, v in (discovery.spec.get("label_map") or {}).items()},
                        "orientation": manifest.prepare.get("orientation"),
                        "image_dtype": manifest.prepare.get("image_dtype"), "seed": seed})


def announce(groups, near, progress) -> None:
    """Say how many identical-case groups and near-duplicate pairs the dataset has (if any)."""
    for message in (groups_message(groups), near_message(near)):
        if message and progress:
            progress(message)


def convert_into(staging: Path, discovery: Discovery, manifest, seed: int, progress, jobs: int = 1) -> Converted:
    """Convert, hash and split every case into `staging` (nnU-Net raw layout with dataset.json,
    splits and split.json), each written file hashed once; `jobs` cases at a time (the result is the
    same for any number)."""
    hashes, fingerprints, written = _convert_cases(staging, discovery, manifest, progress, jobs)
    content = {case: {ch: h.content for ch, h in chans.items()} for case, chans in hashes.items()}
    split = make_split([c.case_id for c in discovery.cases], seed,
                       groups=merged_groups(identical_groups(content), patient_groups(discovery)))
    near = near_duplicates(fingerprints, split.groups)
    announce(split.groups, near, progress)
    for case in split.test:  # converted as training cases, the held-out ones move over
        for path in written[case].values():
            path.rename(staging / path.parent.name.replace("Tr", "Ts") / path.name)
    for file_name, body in prepared_metadata(manifest, split).items():
        atomic_write_json(staging / file_name, body)
    return Converted(hashes, fingerprints, split, near, lock_from_conversion(manifest.task_id, split, hashes))


def _convert_cases(staging: Path, discovery: Discovery, manifest, progress, jobs: int):
    """Every case into imagesTr/labelsTr, `jobs` at a time; results are taken in case order, so the
    first failing case (in that order) is the one reported, as with one job."""
    for side in ("Tr", "Ts"):
        (staging / f"images{side}").mkdir()
        (staging / f"labels{side}").mkdir()
    counter = CountProgress(f"prepare {manifest.task_id}: cases converted", len(discovery.cases), progress)
    args = [(case, manifest, discovery.spec, staging / "imagesTr", staging / "labelsTr") for case in discovery.cases]
    results = []
    if jobs <= 1 or len(args) <= 1:
        for arg in args:
            results.append(convert_and_hash(*arg))
            counter.step()
    else:
        results = _in_workers(args, min(jobs, len(args)), counter)
    hashes = {case_id: chans for case_id, chans, _, _ in results}
    fingerprints = {case_id: f for case_id, _, f, _ in results}
    written_all = {case_id: w for case_id, _, _, w in results}
    return hashes, fingerprints, written_all


def _in_workers(args: list, jobs: int, counter) -> list:
    # forkserver, not fork: the parent may hold threads (SimpleITK, torch) that fork would copy mid-state
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread_each) as pool:
        futures = [pool.submit(convert_and_hash, *arg) for arg in args]
        results = []
        try:
            for future in futures:
                results.append(future.result())
                counter.step()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def _one_thread_each() -> None:
    """N workers on N cores: each SimpleITK filter on one thread, not N each."""
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)


def convert_and_hash(case, manifest, spec: dict, image_dir: Path, label_dir: Path):
    """One case converted, its files hashed; the first image channel is decoded once, for both its
    hash and its near-duplicate fingerprint. Runs in a worker process with --jobs > 1."""
    written = convert_case(case, manifest, spec, image_dir, label_dir)
    hashes, fingerprint = {}, None
    for key, path in written.items():
        if key == "0000":
            image = read_volume(path)
            hashes[key] = image_hashes(image)
            fingerprint = fp.image_fingerprint(image)
        else:
            hashes[key] = file_hashes(path)
    return case.case_id, hashes, fingerprint, written


def patient_groups(discovery: Discovery) -> list[tuple[str, ...]]:
    """Cases the layout says belong together (RawCase.group: one patient's frames, studies or scans)."""
    by_group: dict[str, list[str]] = {}
    for case in discovery.cases:
        if case.group is not None:
            by_group.setdefault(case.group, []).append(case.case_id)
    return [tuple(sorted(cases)) for cases in by_group.values() if len(cases) > 1]


def merged_groups(*families) -> tuple[tuple[str, ...], ...]:
    """Groups that share a case become one (identical scans of two patients join both patients)."""
    merged: list[set[str]] = []
    for group in (set(g) for family in families for g in family):
        touching = [m for m in merged if m & group]
        for m in touching:
            group |= m
            merged.remove(m)
        merged.append(group)
    return tuple(sorted(tuple(sorted(g)) for g in merged if len(g) > 1))


def leakage_fields(converted: Converted) -> dict:
    """Stamp fields for `segbook datasets overlap`: fingerprints and the near-duplicate warnings."""
    return {"fingerprint_version": fp.FINGERPRINT_VERSION,
            "fingerprints": {case: fp.encode(f) for case, f in sorted(converted.fingerprints.items())},
            "near_duplicates": [list(p) for p in converted.near]}


def stamp_body(manifest, discovery: Discovery, converted: Converted, raw_print: str, recipe_sha: str) -> dict:
    """What the prepared stamp records: what it was made from, and every case's content hash."""
    actual = converted.actual
    hashes: dict[str, dict[str, str]] = {}
    for (case, ch), h in actual.images.items():
        hashes.setdefault(case, {})[ch] = h.content
    return {"task_id": manifest.task_id, "dataset_name": manifest.dataset_name, "layout": discovery.layout,
            "raw": raw_print, "recipe": recipe_sha, "dataset_sha256": actual.dataset_sha256,
            "lock_sha256": lock_sha256(actual), "split_sha256": actual.split_sha256, "case_hashes": hashes,
            "segbook": __version__, **leakage_fields(converted)}
