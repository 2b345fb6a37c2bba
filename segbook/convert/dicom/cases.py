"""Cases of a DICOM tree: each image series that label objects of the manifest's kind reference, with them.

The pairing comes from the headers only: a SEG's ReferencedSeriesSequence or an RTSTRUCT's
RTReferencedSeriesSequence names the series it was drawn on. Case ids come from the patient: PatientID
alone while a patient has one case, PatientID_StudyDate when several, PatientID_StudyDate_SeriesNumber
where one study date holds several. The group is the patient, so a patient's cases stay on one side of
the split. Also here: how segment/ROI names map to label values (NameMap) and which label objects a
case's label is built from (chosen_objects), shared by seg.py and rtstruct.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from segbook.convert.dicom.index import DicomIndex, LabelObject, SeriesInfo
from segbook.convert.layouts import case_id_from
from segbook.core.errors import InvalidInput

READERS = ("union", "first")


@dataclass(frozen=True)
class DicomCase:
    case_id: str
    group: str  # the patient (sanitised PatientID)
    series: SeriesInfo  # the image series the labels reference
    labels: tuple[LabelObject, ...]  # label objects on that series, by (series number, path)


# -- names -> label values -----------------------------------------------------------------------
class NameMap:
    """The manifest's `label.names` ({name or pattern: value}) applied to the names found in the files.

    A name is looked up as written, then case-insensitively, then as a case-insensitive regular expression
    that must match the whole name (the catalog writes `tumou?r.*`); among patterns the manifest's order
    decides. Names matching none get no value: those segments/ROIs are ignored."""

    def __init__(self, names: dict[str, int]):
        self.names = {str(k): int(v) for k, v in names.items()}
        self._folded = {k.casefold(): v for k, v in reversed(list(self.names.items()))}  # first spelling wins
        self._patterns = [(p, v) for p, v in ((_pattern(k), v) for k, v in self.names.items()) if p is not None]

    def value(self, name: str) -> int | None:
        name = name.strip()
        if name in self.names:
            return self.names[name]
        if name.casefold() in self._folded:
            return self._folded[name.casefold()]
        for pattern, value in self._patterns:
            if pattern.fullmatch(name):
                return value
        return None


def _pattern(text: str) -> re.Pattern | None:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return None  # not a pattern: then only the literal comparisons apply


def reader_order(obj: LabelObject) -> tuple[bool, int, str]:
    """(series number, path): the order in which label objects count as first, second, ... reader."""
    return obj.series_number is None, obj.series_number or 0, str(obj.path)


def chosen_objects(objects: Iterable[LabelObject], names: NameMap, readers: str, case: str) -> list[LabelObject]:
    """The label objects a case's label is built from.

    Objects none of whose names map to a value cannot contribute and are dropped first; "union" keeps all
    the others (their labels are then combined voxel by voxel, the highest value winning), "first" only
    the first of them by (series number, path)."""
    if readers not in READERS:
        raise InvalidInput(f"case {case}: label.readers is {readers!r}", hint=f"use one of: {', '.join(READERS)}")
    ordered = sorted(objects, key=reader_order)
    useful = [o for o in ordered if any(names.value(n) for n in o.names)]
    if not useful:
        found = sorted({n for o in ordered for n in o.names})
        kinds = "/".join(sorted({o.kind for o in ordered})) or "label"
        raise InvalidInput(f"case {case}: none of the manifest's names {sorted(names.names)} matches a {kinds} name "
                           f"found in {len(ordered)} label object(s): {', '.join(found) or '(no names)'}"[:600],
                           hint="fix label.names in the manifest (names match case-insensitively, or as patterns)")
    return useful if readers == "union" else useful[:1]


# -- pairing ---------------------------------------------------------------------------------------
def _image_filter(spec: dict[str, Any]) -> tuple[str, re.Pattern | None]:
    image = spec.get("image") or {}
    description = image.get("series_description")
    try:
        pattern = re.compile(description, re.IGNORECASE) if description else None
    except re.error as exc:
        raise InvalidInput(f"layout {spec.get('name', 'dicom')}: image.series_description {description!r} "
                           f"is not a regular expression ({exc})", hint="fix the manifest") from None
    return str(image.get("modality") or "").upper(), pattern


def _wanted(series: SeriesInfo, modality: str, description: re.Pattern | None) -> bool:
    """The manifest's `image` filter: a label object on another kind of image (a PET, a scout) is not a case."""
    if modality and series.modality.upper() != modality:
        return False
    return description is None or description.search(series.series_description) is not None


def _label_objects(index: DicomIndex, label: dict[str, Any]) -> list[LabelObject]:
    kind = label.get("object")
    if kind not in ("SEG", "RTSTRUCT"):
        raise InvalidInput(f"label.object is {kind!r}", hint="use SEG or RTSTRUCT")
    exclude = bool(label.get("exclude_automatic", False))
    return [o for o in index.labels if o.kind == kind and not (exclude and o.automatic)]


def _referenced(index: DicomIndex, obj: LabelObject) -> SeriesInfo:
    if not obj.referenced_series_uid:
        raise InvalidInput(f"{obj.path}: the {obj.kind} references no image series (no SeriesInstanceUID)",
                           hint="the label object cannot be paired with its image")
    series = index.series.get(obj.referenced_series_uid)
    if series is None:
        raise InvalidInput(f"{obj.path}: the {obj.kind} labels series {obj.referenced_series_uid}, "
                           f"which is not among the image series under {index.root}",
                           hint="is the download complete? the image series must be downloaded with its labels")
    return series


def _case_ids(patient: str, series: list[SeriesInfo]) -> list[str]:
    """PatientID; PatientID_StudyDate when a patient has several cases; + _SeriesNumber within one date."""
    if len(series) == 1:
        return [case_id_from(patient)]
    dates = [s.study_date or "nodate" for s in series]
    return [case_id_from(f"{patient}_{date}" if dates.count(date) == 1 else f"{patient}_{date}_{s.series_number}")
            for date, s in zip(dates, series, strict=True)]


def dicom_cases(index: DicomIndex, spec: dict[str, Any]) -> list[DicomCase]:
    """One case per referenced image series (matching spec["image"]), with its label objects; sorted by case id."""
    modality, description = _image_filter(spec)
    by_series: dict[str, list[LabelObject]] = {}
    for obj in _label_objects(index, spec.get("label") or {}):
        series = _referenced(index, obj)
        if _wanted(series, modality, description):
            by_series.setdefault(series.series_uid, []).append(obj)
    by_patient: dict[str, list[SeriesInfo]] = {}
    for uid in by_series:
        series = index.series[uid]
        by_patient.setdefault(series.patient_id or "anonymous", []).append(series)
    cases: list[DicomCase] = []
    seen: dict[str, str] = {}
    for patient, series_list in sorted(by_patient.items()):
        series_list.sort(key=lambda s: (s.study_date, s.series_number is None, s.series_number or 0, s.series_uid))
        for case_id, series in zip(_case_ids(patient, series_list), series_list, strict=True):
            if case_id in seen:
                raise InvalidInput(f"case {case_id}: series {series.series_uid} and {seen[case_id]} get one case id",
                                   hint="two labelled series share patient, study date and series number")
            seen[case_id] = series.series_uid
            series.checked(f"case {case_id}")
            labels = tuple(sorted(by_series[series.series_uid], key=reader_order))
            cases.append(DicomCase(case_id, case_id_from(patient), series, labels))
    return sorted(cases, key=lambda c: c.case_id)


def label_names(index: DicomIndex, object_kind: str | None = None) -> list[str]:
    """The distinct segment/ROI names found (of one kind of label object, or all), sorted."""
    return sorted({n for o in index.labels if object_kind in (None, o.kind) for n in o.names if n})
