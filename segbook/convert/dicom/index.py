"""The header index of a DICOM tree: which files form which image series (in slice order), and the SEG and
RTSTRUCT objects that label them.

Only headers are read (pydicom, pixel data skipped), and only the header decides: which series a file
belongs to (SeriesInstanceUID), where its slice lies (ImagePositionPatient along the normal of
ImageOrientationPatient), what a label object labels (its referenced SeriesInstanceUID). Files that are
not DICOM (no "DICM" after the 128-byte preamble) or that pydicom cannot parse are skipped without a
word; so are DICOM files that are neither a positioned image slice nor a SEG/RTSTRUCT (reports, key
objects, enhanced multi-frame images). A series that cannot be stacked into a regular grid (mixed
orientations, two slices at one position, uneven gaps, slices not stacked along their normal) is kept
with its `problem`: it fails only when a case uses it, so one broken localizer does not stop a download.

Reading 100,000 headers takes minutes, so the index is cached as JSON in `cache_dir`; the cache holds
the sha256 of the tree's (relative path, size, mtime_ns) list and is used only while that is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from segbook.core.errors import InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.untrusted import read_json

CACHE_FORMAT = "segbook-dicom-index/1"
ROOT_MARK = "{root}/"  # stands for the tree's root in cached problem messages: the cache holds no absolute path
LABEL_KINDS = ("SEG", "RTSTRUCT")
ORIENTATION_ATOL = 1e-4  # direction cosines: scanners write 6+ decimals
DUPLICATE_MM = 1e-3  # two slices closer than this along the normal are one position
GAP_RTOL = 1e-3  # slice gaps may differ from the median gap by this fraction
STACK_ATOL_MM = 1e-3  # slices further than this (+ GAP_RTOL of the distance) off the normal line: gantry tilt

# what the index needs from a header; everything else (the huge per-frame and contour sequences) is skipped
_TAGS = ["SOPInstanceUID", "Modality", "SeriesInstanceUID", "StudyInstanceUID", "PatientID", "StudyDate",
         "SeriesNumber", "SeriesDescription", "FrameOfReferenceUID", "ImageOrientationPatient",
         "ImagePositionPatient", "ContentCreatorName", "ReferencedSeriesSequence", "SegmentSequence",
         "StructureSetROISequence", "ReferencedFrameOfReferenceSequence"]


@dataclass(frozen=True)
class SeriesInfo:
    series_uid: str
    patient_id: str
    study_uid: str
    study_date: str
    series_number: int | None
    series_description: str
    modality: str
    frame_of_reference_uid: str
    files: tuple[Path, ...]  # in slice order: ascending position along normal = cross(row, col)
    sop_uids: tuple[str, ...]  # SOPInstanceUID of each file, same order
    problem: str = ""  # why the slices do not form a regular grid ("" when they do)

    def checked(self, where: str) -> SeriesInfo:
        """This series, or InvalidInput when it cannot be stacked; `where` names the case or file using it."""
        if self.problem:
            raise InvalidInput(f"{where}: {self.problem}",
                               hint="the series' slices must share one orientation and be evenly spaced")
        return self


@dataclass(frozen=True)
class LabelObject:
    path: Path
    kind: str  # "SEG" or "RTSTRUCT" (the Modality)
    patient_id: str
    study_date: str
    series_number: int | None
    series_description: str
    referenced_series_uid: str  # "" when the object references none
    names: tuple[str, ...]  # segment labels (SEG) or ROI names (RTSTRUCT), in the file's order
    content_creator: str | None = None
    algorithm_type: str | None = None  # the most automatic of the segments'/ROIs': AUTOMATIC > SEMIAUTOMATIC > MANUAL
    sop_uid: str = ""

    @property
    def automatic(self) -> bool:
        return self.algorithm_type == "AUTOMATIC"


@dataclass(frozen=True)
class DicomIndex:
    root: Path
    series: dict[str, SeriesInfo]  # by SeriesInstanceUID
    labels: tuple[LabelObject, ...]  # ordered by path


@dataclass(frozen=True)
class _Slice:
    path: Path
    sop_uid: str
    orientation: tuple[float, ...]
    position: tuple[float, ...]


# -- walking the tree ----------------------------------------------------------------------------
def tree_files(root: Path, skip: Path | None = None) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under root (sorted, links to files followed), with their stat; the folder `skip`
    (the cache, should it lie inside the tree) is left out.

    Folder links are not followed (loops); file links that resolve outside root are skipped, as a
    dataset.json entry pointing outside the download is refused; FIFOs and devices are never opened."""
    real_root = Path(os.path.realpath(root))
    real_skip = Path(os.path.realpath(skip)) if skip is not None else None
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        if real_skip is not None and Path(os.path.realpath(folder)) == real_skip:
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable folder: nothing of it can be used
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                    continue
                if entry.is_symlink() and not Path(os.path.realpath(entry.path)).is_relative_to(real_root):
                    continue
                info = entry.stat()
            except OSError:
                continue  # vanished or dangling
            if stat.S_ISREG(info.st_mode):
                yield Path(entry.path), info
        stack.extend(reversed(subfolders))


def has_preamble(path: Path) -> bool:
    """A DICOM Part 10 file: 128 bytes of preamble, then "DICM"."""
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def tree_fingerprint(root: Path, skip: Path | None = None) -> str:
    """sha256 of every file's (relative path, size, mtime_ns): any added, removed or rewritten file changes it."""
    entries = [(p.relative_to(root).as_posix(), s.st_size, s.st_mtime_ns) for p, s in tree_files(root, skip)]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


# -- reading headers -----------------------------------------------------------------------------
def _header(path: Path) -> Dataset | None:
    """The header's tags the index needs, or None for anything that is not parseable DICOM."""
    if not has_preamble(path):
        return None
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
    except Exception:  # pydicom raises many kinds on foreign or broken files; all of them mean "skip"
        return None


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    value = ds.get(keyword)
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count and all(np.isfinite(numbers)) else None


def _most_automatic(values: list[str]) -> str | None:
    for level in ("AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"):
        if level in values:
            return level
    return None


def _rtstruct_series(ds: Dataset) -> str:
    """ReferencedFrameOfReferenceSequence -> RTReferencedStudySequence -> RTReferencedSeriesSequence: the first."""
    for frame in ds.get("ReferencedFrameOfReferenceSequence") or []:
        for study in frame.get("RTReferencedStudySequence") or []:
            for series in study.get("RTReferencedSeriesSequence") or []:
                if series.get("SeriesInstanceUID"):
                    return str(series.SeriesInstanceUID)
    return ""


def _label_object(path: Path, ds: Dataset, kind: str) -> LabelObject:
    if kind == "SEG":
        items = list(ds.get("SegmentSequence") or [])
        names = tuple(_text(s, "SegmentLabel") for s in items)
        algorithms = [_text(s, "SegmentAlgorithmType").upper() for s in items]
        referenced = ds.get("ReferencedSeriesSequence") or []
        series_uid = _text(referenced[0], "SeriesInstanceUID") if referenced else ""
    else:
        items = list(ds.get("StructureSetROISequence") or [])
        names = tuple(_text(r, "ROIName") for r in items)
        algorithms = [_text(r, "ROIGenerationAlgorithm").upper() for r in items]
        series_uid = _rtstruct_series(ds)
    return LabelObject(path=path, kind=kind, patient_id=_text(ds, "PatientID"), study_date=_text(ds, "StudyDate"),
                       series_number=_int(ds, "SeriesNumber"), series_description=_text(ds, "SeriesDescription"),
                       referenced_series_uid=series_uid, names=names,
                       content_creator=_text(ds, "ContentCreatorName") or None,
                       algorithm_type=_most_automatic(algorithms), sop_uid=_text(ds, "SOPInstanceUID"))


def _series_fields(ds: Dataset) -> dict[str, Any]:
    return {"series_uid": _text(ds, "SeriesInstanceUID"), "patient_id": _text(ds, "PatientID"),
            "study_uid": _text(ds, "StudyInstanceUID"), "study_date": _text(ds, "StudyDate"),
            "series_number": _int(ds, "SeriesNumber"), "series_description": _text(ds, "SeriesDescription"),
            "modality": _text(ds, "Modality"), "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID")}


# -- stacking a series ---------------------------------------------------------------------------
def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    return np.cross(np.array(orientation[:3]), np.array(orientation[3:]))


def order_slices(series_uid: str, slices: list[_Slice]) -> tuple[list[_Slice], str]:
    """Slices sorted by position along the slice normal, and what stops them forming a regular grid ("" if nothing)."""
    by_path = sorted(slices, key=lambda s: s.path)
    first = by_path[0]
    where = f"series {series_uid} ({len(slices)} files)"
    for s in by_path:
        if not np.allclose(s.orientation, first.orientation, rtol=0, atol=ORIENTATION_ATOL):
            return by_path, f"{where} mixes slice orientations: {s.path} differs from {first.path}"
    normal = _normal(first.orientation)
    ordered = sorted(by_path, key=lambda s: float(np.dot(s.position, normal)))
    keys = np.array([np.dot(s.position, normal) for s in ordered])
    gaps = np.diff(keys)
    for i, gap in enumerate(gaps):
        if gap < DUPLICATE_MM:
            return ordered, f"{where} has two slices at one position: {ordered[i + 1].path} (as {ordered[i].path})"
    if len(gaps):
        median = float(np.median(gaps))
        for i, gap in enumerate(gaps):
            if abs(gap - median) > GAP_RTOL * median:
                return ordered, (f"{where} has uneven slice gaps: {gap:.4g} mm before {ordered[i + 1].path}, "
                                 f"{median:.4g} mm elsewhere (a missing slice?)")
    start = np.array(ordered[0].position)
    for s in ordered[1:]:
        offset = np.array(s.position) - start
        along = float(np.dot(offset, normal))
        if np.linalg.norm(offset - along * normal) > STACK_ATOL_MM + GAP_RTOL * abs(along):
            return ordered, f"{where} is not stacked along its slice normal (gantry tilt?) at {s.path}"
    return ordered, ""


def _build_series(headers: dict[str, Dataset], slices: dict[str, list[_Slice]]) -> dict[str, SeriesInfo]:
    series = {}
    for uid in sorted(slices):
        ordered, problem = order_slices(uid, slices[uid])
        series[uid] = SeriesInfo(**_series_fields(headers[uid]), files=tuple(s.path for s in ordered),
                                 sop_uids=tuple(s.sop_uid for s in ordered), problem=problem)
    return series


def _scan(root: Path, skip: Path | None = None) -> DicomIndex:
    """Read every header under root (slow: the cache exists to avoid this)."""
    labels: list[LabelObject] = []
    slices: dict[str, list[_Slice]] = {}
    first_header: dict[str, Dataset] = {}
    for path, _ in tree_files(root, skip):
        ds = _header(path)
        if ds is None:
            continue
        kind = _text(ds, "Modality").upper()
        if kind in LABEL_KINDS:
            labels.append(_label_object(path, ds, kind))
            continue
        uid, sop = _text(ds, "SeriesInstanceUID"), _text(ds, "SOPInstanceUID")
        orientation = _floats(ds, "ImageOrientationPatient", 6)
        position = _floats(ds, "ImagePositionPatient", 3)
        if not uid or not sop or orientation is None or position is None or not np.any(_normal(orientation)):
            continue  # not a positioned image slice
        slices.setdefault(uid, []).append(_Slice(path, sop, orientation, position))
        first_header.setdefault(uid, ds)
    return DicomIndex(Path(root), _build_series(first_header, slices), tuple(sorted(labels, key=lambda o: o.path)))


# -- the cache -----------------------------------------------------------------------------------
def cache_file(root: Path, cache_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()
    return Path(cache_dir) / f"dicom-index-{digest[:32]}.json"


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _inside(root: Path, text: Any) -> Path:
    """A cached relative path back under root; anything else makes the cache invalid."""
    relative = Path(text) if isinstance(text, str) else None
    if relative is None or relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"not a relative path: {text!r:.80}")
    return root / relative


def _to_json(index: DicomIndex, fingerprint: str) -> dict[str, Any]:
    root = index.root
    prefix = f"{root}{os.sep}"
    series = [{**asdict(s), "files": [_relative(p, root) for p in s.files], "sop_uids": list(s.sop_uids),
               "problem": s.problem.replace(prefix, ROOT_MARK)} for s in index.series.values()]
    labels = [{**asdict(o), "path": _relative(o.path, root), "names": list(o.names)} for o in index.labels]
    return {"format": CACHE_FORMAT, "tree_sha256": fingerprint,
            "series": series, "labels": labels}


def _from_json(data: Any, root: Path, fingerprint: str) -> DicomIndex | None:
    """The cached index, or None when the cache is stale or not one this version wrote."""
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("tree_sha256") != fingerprint:
        return None
    try:
        series = {}
        for item in data["series"]:
            values = _checked_fields(SeriesInfo, item)
            values.update(files=tuple(_inside(root, p) for p in item["files"]),
                          sop_uids=tuple(str(u) for u in item["sop_uids"]),
                          problem=str(item["problem"]).replace(ROOT_MARK, f"{root}{os.sep}"))
            series[values["series_uid"]] = SeriesInfo(**values)
        labels = []
        for item in data["labels"]:
            values = _checked_fields(LabelObject, item)
            values.update(path=_inside(root, item["path"]), names=tuple(str(n) for n in item["names"]))
            labels.append(LabelObject(**values))
    except (KeyError, TypeError, ValueError):
        return None
    return DicomIndex(Path(root), series, tuple(labels))


def _checked_fields(cls: type, item: Any) -> dict[str, Any]:
    """The dataclass fields of a cached record; a missing or extra key makes the cache invalid."""
    names = {f.name for f in fields(cls)}
    if not isinstance(item, dict) or set(item) != names:
        raise ValueError(f"not a cached {cls.__name__}")
    return dict(item)


def _load_cache(path: Path, root: Path, fingerprint: str) -> DicomIndex | None:
    try:
        data = read_json(path)
    except (OSError, InvalidInput):
        return None  # missing or corrupt: rebuilt
    return _from_json(data, root, fingerprint)


def index_dicom_tree(root: Path, cache_dir: Path | None) -> DicomIndex:
    """The header index of every DICOM file under root; cached in cache_dir while the tree is unchanged."""
    root = Path(root)
    if cache_dir is None:
        return _scan(root)
    fingerprint = tree_fingerprint(root, cache_dir)
    path = cache_file(root, cache_dir)
    cached = _load_cache(path, root, fingerprint)
    if cached is not None:
        return cached
    index = _scan(root, cache_dir)
    with suppress(OSError):  # a cache that cannot be written only costs time next run
        atomic_write_json(path, _to_json(index, fingerprint))  # temp file beside it, then os.replace
    return index
