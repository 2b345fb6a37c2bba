"""The "dicom" layout: what segbook.convert.layouts (detect, discover) and segbook.convert.readers (read_case) call.

A case is one image series with the SEG or RTSTRUCT objects drawn on it (cases.py); its RawCase names the
series' first slice as the image and the first label object as the label, every other slice and label
object as `extra` (so the raw-file checks and the download fingerprint cover them all), and carries the
DicomCase as `detail`. Only single-channel datasets: a case is one series (multi-series channels are out
of scope).

Manifest layout entry (`prepare.layouts[]`):
    kind: dicom
    name: ...
    image: {modality: CT, series_description: "regex"}        # both optional
    label: {object: SEG | RTSTRUCT, names: {name or pattern: value}, readers: union | first,
            exclude_automatic: true | false}                   # readers default union, exclude default false
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import SimpleITK as sitk

from segbook.convert.dicom.cases import DicomCase, dicom_cases
from segbook.convert.dicom.index import has_preamble, index_dicom_tree, tree_files
from segbook.convert.dicom.rtstruct import rtstruct_label
from segbook.convert.dicom.seg import seg_label
from segbook.convert.dicom.series import read_series
from segbook.convert.layouts import RawCase
from segbook.core.errors import InvalidInput


def detect(root: Path, spec: dict[str, Any]) -> bool:
    """True when the tree holds a DICOM file; stops at the first one (the index is built only by discover)."""
    return any(has_preamble(path) for path, _ in tree_files(root))


def _one_channel(manifest: Any) -> None:
    channels = getattr(manifest, "num_channels", 1)
    if channels != 1:
        raise InvalidInput(f"{getattr(manifest, 'task_id', 'the manifest')} declares {channels} channels; "
                           "a DICOM layout reads one image series per case",
                           hint="multi-series channels are not supported for DICOM trees")


def _no_cases(index: Any, spec: dict[str, Any]) -> InvalidInput:
    kind = (spec.get("label") or {}).get("object")
    found = sorted({o.kind for o in index.labels})
    return InvalidInput(f"{index.root} holds {len(index.series)} DICOM image series but no {kind} object labelling "
                        f"one that the manifest's image filter {spec.get('image') or {}} accepts"
                        + (f" (label objects found: {', '.join(found)})" if found else ""),
                        hint="is the download complete, and does the manifest's layout fit it?")


def discover(root: Path, spec: dict[str, Any], manifest: Any, cache_dir: Path | None) -> list[RawCase]:
    """One RawCase per labelled image series of the tree (the header index is cached in cache_dir)."""
    _one_channel(manifest)
    index = index_dicom_tree(root, cache_dir)
    cases = dicom_cases(index, spec)
    if not cases:
        raise _no_cases(index, spec)
    return [RawCase(case.case_id, images=(case.series.files[0],), label=case.labels[0].path, reader="dicom",
                    detail=case, group=case.group,
                    extra=(*case.series.files[1:], *(obj.path for obj in case.labels[1:])))
            for case in cases]


def read_case(raw_case: RawCase, manifest: Any, spec: dict[str, Any]) -> tuple[list[sitk.Image], sitk.Image]:
    """The case's image (its one series) and its label map rasterised on that image's grid."""
    _one_channel(manifest)
    case: DicomCase = raw_case.detail
    image = read_series(case.series, raw_case.case_id)
    label_spec = spec.get("label") or {}
    build = seg_label if label_spec.get("object") == "SEG" else rtstruct_label
    label = build(list(case.labels), image, case.series, label_spec.get("names") or {},
                  label_spec.get("readers", "union"), raw_case.case_id)
    return [image], label
