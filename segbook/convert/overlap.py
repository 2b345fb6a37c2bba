"""`segbook datasets overlap A B`: cases two datasets share, and where each sits in its split.

A and B are each a catalog dataset (its lock), a lock file, a prepared dataset folder
(OUT/nnUNet_raw/DatasetNNN_Name, with its stamp) or a raw folder of images (hashed here). Two cases
are shared when any of their image channels has the same content hash (labels are not compared:
a test image seen in training leaks whatever its label). Near-duplicates (the same scan re-saved,
segbook.convert.fingerprint) are a separate section, where fingerprints exist: a prepared
dataset's stamp holds them; a lock alone does not (its prepared folder is looked up under OUT).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.core.errors import InputMissing, InvalidInput

if TYPE_CHECKING:  # numpy is imported only where fingerprints are made
    import numpy as np

STAMP = "segbook_prepared.json"
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd")
LABEL_KEY = "label"


@dataclass
class Source:
    name: str  # task id or folder name
    where: str  # what was read, for the report
    images: dict[str, dict[str, str]]  # case -> {channel: content hash} (image channels only)
    sides: dict[str, str]  # case -> "test" | "train (foldN)" | "-" (no split)
    fingerprints: dict[str, np.ndarray] = field(default_factory=dict)
    fingerprint_note: str = ""  # why there are none, when there are none

    @property
    def n_test(self) -> int:
        return sum(1 for s in self.sides.values() if s == "test")


@dataclass
class Overlap:
    a: Source
    b: Source
    shared: list[tuple[str, str]]  # (case of a, case of b), identical image content
    near: list[tuple[str, str, float]]  # (case of a, case of b, similarity)

    def as_dict(self) -> dict:
        def side(src: Source) -> dict:
            return {"name": src.name, "where": src.where, "cases": len(src.images), "test_cases": src.n_test,
                    "fingerprints": bool(src.fingerprints), "fingerprint_note": src.fingerprint_note}

        return {"a": side(self.a), "b": side(self.b),
                "identical": [{"a": x, "a_side": self.a.sides[x], "b": y, "b_side": self.b.sides[y]}
                              for x, y in self.shared],
                "near_duplicates": [{"a": x, "a_side": self.a.sides[x], "b": y, "b_side": self.b.sides[y],
                                     "similarity": s} for x, y, s in self.near]}


def _side(where: str) -> str:
    if where == "test":
        return "test"
    return f"train ({where})" if where.startswith("fold") else where


def _images_from_hashes(case_hashes: dict) -> dict[str, dict[str, str]]:
    return {case: {ch: h for ch, h in chans.items() if ch != LABEL_KEY} for case, chans in case_hashes.items()}


def _fingerprints_from_stamp(stamp: dict) -> tuple[dict[str, np.ndarray], str]:
    from segbook.convert import fingerprint as fp  # noqa: PLC0415 - numpy only when needed

    if stamp.get("fingerprint_version") != fp.FINGERPRINT_VERSION or not stamp.get("fingerprints"):
        return {}, "prepared by a kit without fingerprints: `segbook prepare ... --force` adds them"
    try:
        return {case: fp.decode(text) for case, text in stamp["fingerprints"].items()}, ""
    except (ValueError, TypeError):
        return {}, "its stamp's fingerprints are damaged: `segbook prepare ... --force` rewrites them"


def _load_stamp(folder: Path) -> dict | None:
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _stamp_for_task(out_root: Path | None, task_id: str) -> dict | None:
    """The stamp of the prepared folder of `task_id` under OUT/nnUNet_raw, if one is there."""
    if out_root is None or not (Path(out_root) / "nnUNet_raw").is_dir():
        return None
    for folder in sorted((Path(out_root) / "nnUNet_raw").iterdir()):
        stamp = _load_stamp(folder) if (folder / STAMP).is_file() else None
        if stamp and stamp.get("task_id") == task_id:
            return stamp
    return None


def from_lock(path: Path, out_root: Path | None, name: str | None = None) -> Source:
    from segbook.catalog.lock import read_lock  # noqa: PLC0415

    lock = read_lock(path)
    if lock is None:
        raise InputMissing(f"lock {path} does not exist", hint="pass a lock file, a dataset or a folder")
    images: dict[str, dict[str, str]] = {}
    for (case, ch), h in lock.images.items():
        if ch != LABEL_KEY:
            images.setdefault(case, {})[ch] = h.content
    sides = {case: _side(lock.assignment.get(case, "-")) for case in images}
    stamp = _stamp_for_task(out_root, lock.task_id)
    fps: dict[str, np.ndarray]
    if stamp is None:
        note = f"no prepared folder of {lock.task_id} under {out_root}/nnUNet_raw (a lock holds no fingerprints)"
        fps = {}
    else:
        fps, note = _fingerprints_from_stamp(stamp)
        fps = {c: f for c, f in fps.items() if c in images}
    return Source(name or lock.task_id, f"lock {path}", images, sides, fps, note)


def from_prepared(folder: Path, stamp: dict) -> Source:
    if not isinstance(stamp.get("case_hashes"), dict):
        raise InvalidInput(f"{folder / STAMP} has no case hashes", hint="prepare the dataset again with --force")
    images = _images_from_hashes(stamp["case_hashes"])
    try:
        split = json.loads((folder / "split.json").read_text(encoding="utf-8"))
        sides = {c: "test" for c in split["test"]}
        sides.update({c: f"train (fold{i})" for i, fold in enumerate(split["folds"]) for c in fold})
    except (OSError, ValueError, KeyError, TypeError):
        sides = {}
    fps, note = _fingerprints_from_stamp(stamp)
    return Source(stamp.get("task_id") or folder.name, f"prepared folder {folder}", images,
                  {c: sides.get(c, "-") for c in images}, fps, note)


def _image_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        parts = [p.lower() for p in path.relative_to(folder).parts[:-1]]
        if any(p.startswith("label") or p.startswith(".") for p in parts) or path.name.startswith("."):
            continue
        if path.is_file() and path.name.lower().endswith(IMAGE_SUFFIXES):
            files.append(path)
    return files


def from_raw_folder(folder: Path, progress=None) -> Source:
    """Every image file under `folder` (label folders left out) is a case, named by its path."""
    from segbook.catalog.content import image_hashes  # noqa: PLC0415 - SimpleITK only here
    from segbook.convert import fingerprint as fp  # noqa: PLC0415
    from segbook.core.volumes import read_volume  # noqa: PLC0415

    files = _image_files(folder)
    if not files:
        raise InputMissing(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})",
                           hint="pass a raw folder of images, a prepared dataset folder, a lock or a dataset")
    images, fps = {}, {}
    for i, path in enumerate(files, 1):
        name = path.relative_to(folder).as_posix()
        image = read_volume(path)
        images[name] = {"0000": image_hashes(image).content}
        fps[name] = fp.image_fingerprint(image)
        if progress and (i % 50 == 0 or i == len(files)):
            progress(f"overlap: hashed {i}/{len(files)} images of {folder}")
    return Source(folder.name, f"raw folder {folder} (hashed as stored)", images, dict.fromkeys(images, "-"), fps)


def resolve(spec: str, *, out_root: Path | None, manifests_dir: Path | None, progress=None) -> Source:
    """A catalog dataset id/name, a lock file, a prepared dataset folder, or a raw folder."""
    path = Path(spec)
    manifest_file = spec.endswith((".yaml", ".yml"))
    if path.is_file() and not manifest_file:
        return from_lock(path, out_root)
    if path.is_dir():
        stamp = _load_stamp(path) if (path / STAMP).is_file() else None
        return from_prepared(path, stamp) if stamp else from_raw_folder(path, progress)
    if not manifest_file and (path.suffix == ".lock" or "/" in spec):
        raise InputMissing(f"{spec} does not exist", hint="pass a lock file, a folder, or a catalog dataset")
    from segbook.catalog import load_catalog  # noqa: PLC0415

    manifest = load_catalog(manifests_dir).get(spec)
    candidates = [manifest.lock_path] + ([Path(out_root) / "locks" / f"{manifest.task_id}.lock"] if out_root else [])
    lock = next((c for c in candidates if c.is_file()), None)
    if lock is None:
        raise InputMissing(f"{manifest.task_id} was never prepared: it has no lock ({manifest.lock_path})",
                           hint=f"run `segbook prepare {manifest.task_id} --raw DIR --lock` first")
    return from_lock(lock, out_root, manifest.task_id)


def compare(a: Source, b: Source) -> Overlap:
    from segbook.convert.fingerprint import similar_pairs  # noqa: PLC0415

    index: dict[str, list[str]] = {}
    for case, chans in b.images.items():
        for h in set(chans.values()):
            index.setdefault(h, []).append(case)
    shared = sorted({(case, other) for case, chans in a.images.items()
                     for h in set(chans.values()) for other in index.get(h, ())})
    exact = set(shared)
    near = []
    if a.fingerprints and b.fingerprints:
        near = [p for p in similar_pairs(a.fingerprints, b.fingerprints) if (p[0], p[1]) not in exact]
    return Overlap(a, b, shared, near)


def _rows(title: str, pairs, a: Source, b: Source, score: bool) -> list[str]:
    header = ["A case", "A side", "B case", "B side"] + (["similarity"] if score else [])
    rows = [[x, a.sides[x], y, b.sides[y]] + ([f"{p[2]:.3f}"] if score else []) for p in pairs
            for x, y in [p[:2]]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title] + ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                       for r in [header, *rows]]
    return lines


def _leak_lines(pairs, a: Source, b: Source) -> list[str]:
    lines = []
    b_test = sorted({y for x, y, *_ in pairs if b.sides[y] == "test"})
    a_test = sorted({x for x, y, *_ in pairs if a.sides[x] == "test"})
    if b_test:
        lines.append(f"  {len(b_test)} of {b.name}'s held-out test cases are in {a.name}: a model trained on "
                     f"{a.name} has seen them")
    if a_test:
        lines.append(f"  {len(a_test)} of {a.name}'s held-out test cases are in {b.name}: a model trained on "
                     f"{b.name} has seen them")
    return lines


def render(result: Overlap) -> str:
    a, b = result.a, result.b
    lines = [f"A: {a.name} ({len(a.images)} cases, {a.n_test} test; {a.where})",
             f"B: {b.name} ({len(b.images)} cases, {b.n_test} test; {b.where})"]
    if result.shared:
        lines += _rows(f"identical images: {len(result.shared)} shared case pairs", result.shared, a, b, False)
        lines += _leak_lines(result.shared, a, b)
    else:
        lines.append("identical images: none shared")
    missing = [f"{s.name}: {s.fingerprint_note}" for s in (a, b) if not s.fingerprints]
    if missing:
        lines.append("near-duplicates: not checked (" + "; ".join(missing) + ")")
    elif result.near:
        from segbook.convert.fingerprint import NEAR_DUPLICATE_THRESHOLD  # noqa: PLC0415

        lines += _rows(f"near-duplicates (fingerprint similarity >= {NEAR_DUPLICATE_THRESHOLD}; check by eye): "
                       f"{len(result.near)} pairs", result.near, a, b, True)
        lines += _leak_lines(result.near, a, b)
    else:
        lines.append("near-duplicates: none found")
    return "\n".join(lines)
