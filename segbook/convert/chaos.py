"""CHAOS MR (Task037 Variant 1): DICOM series with slice-wise PNG ground truth.

Each patient folder gives two cases: T1DUAL (channels: the in-phase and the opposed-phase series) and
T2SPIR (its one series, twice, so both cases have the two channels SegBook declares). The DICOM side is
read by header (segbook.convert.dicom): which files form a series and the slice order come from
SeriesInstanceUID and the position along the slice normal; in- and opposed-phase are told apart by
EchoTime (in-phase is the longer echo at 1.5 T), never by folder names. A PNG has no header, so the
stack a Ground/ folder holds belongs to the DICOM_anon/ tree beside it; PNG k (in name order) is the
slice with the k-th smallest InstanceNumber. Grey values map to labels by the manifest's ranges
(55-70 liver, 110-135 right kidney, 175-200 left kidney, 240-255 spleen, from nnU-Net v1's CHAOS script).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from PIL import Image

from segbook.convert.layouts import RawCase, case_id_from, visible
from segbook.core.errors import InvalidInput

SEQUENCES = ("T1DUAL", "T2SPIR")


@dataclass(frozen=True)
class ChaosCase:
    series: tuple  # SeriesInfo per channel (T2SPIR: the same one twice)
    pngs: tuple[Path, ...]  # the Ground/ stack in name order


def _sequence_dirs(root: Path, spec: dict):
    for patient in sorted(p for p in root.glob(spec["cases"]) if p.is_dir()):
        for sequence in SEQUENCES:
            folder = patient / sequence
            if (folder / "Ground").is_dir() and (folder / "DICOM_anon").is_dir():
                yield patient, folder


def detect(root: Path, spec: dict) -> bool:
    return next(_sequence_dirs(root, spec), None) is not None


def _echo_time(series) -> float:
    header = pydicom.dcmread(series.files[0], stop_before_pixels=True, specific_tags=["EchoTime"])
    return float(getattr(header, "EchoTime", 0.0) or 0.0)


def discover(root: Path, spec: dict, manifest, cache_dir: Path | None) -> list[RawCase]:
    from segbook.convert.dicom.index import index_dicom_tree  # noqa: PLC0415 - pydicom only when needed

    cases = []
    for patient, folder in _sequence_dirs(root, spec):
        case = case_id_from(f"{patient.name}_{folder.name}")
        index = index_dicom_tree(folder / "DICOM_anon", cache_dir)
        series = sorted(index.series.values(), key=_echo_time, reverse=True)  # in-phase (longer TE) first
        if len(series) not in (1, 2):
            raise InvalidInput(f"case {case}: {folder / 'DICOM_anon'} holds {len(series)} DICOM series, "
                               "expected 1 (T2SPIR) or 2 (T1DUAL in/opposed phase)")
        channels = tuple(series) if len(series) == 2 else (series[0], series[0])
        pngs = tuple(p for p in visible(folder / "Ground") if p.suffix.lower() == ".png")
        for s in channels:
            if len(s.files) != len(pngs):
                raise InvalidInput(f"case {case}: {len(pngs)} PNG slices in {folder / 'Ground'} but the series has "
                                   f"{len(s.files)} slices", hint="is the download complete?")
        extra = tuple(f for s in dict.fromkeys(channels) for f in s.files) + pngs[1:]
        cases.append(RawCase(case, (channels[0].files[0],), pngs[0], reader="chaos", detail=ChaosCase(channels, pngs),
                             group=case_id_from(patient.name), extra=extra))
    return cases


def _instance_ranks(series) -> list[int]:
    """For each slice in position order, its rank by InstanceNumber (the order the PNGs were exported in)."""
    numbers = [int(pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["InstanceNumber"]).InstanceNumber)
               for f in series.files]
    order = sorted(range(len(numbers)), key=numbers.__getitem__)
    ranks = [0] * len(numbers)
    for rank, z in enumerate(order):
        ranks[z] = rank
    return ranks


def _png_label(detail: ChaosCase, reference: sitk.Image, ranges, case: str) -> sitk.Image:
    ranks = _instance_ranks(detail.series[0])
    slices = []
    for z in range(len(ranks)):
        grey = np.asarray(Image.open(detail.pngs[ranks[z]]).convert("L"), dtype=np.int64)
        out = np.zeros_like(grey)
        for low, high, value in ranges:
            out[(grey >= low) & (grey <= high)] = value
        stray = (grey != 0) & (out == 0)
        if stray.any():
            raise InvalidInput(f"case {case}: {detail.pngs[ranks[z]].name} holds grey values "
                               f"{sorted(set(grey[stray].tolist()))[:5]} outside the manifest's label ranges")
        slices.append(out)
    array = np.stack(slices)
    if array.shape != sitk.GetArrayViewFromImage(reference).shape:
        raise InvalidInput(f"case {case}: the PNG stack is {array.shape[::-1]}, the series {reference.GetSize()}")
    label = sitk.GetImageFromArray(array.astype(np.uint8))
    label.CopyInformation(reference)  # PNGs carry no geometry: the series' is theirs
    return label


def read_case(raw_case: RawCase, manifest, spec: dict) -> tuple[list[sitk.Image], sitk.Image]:
    from segbook.convert.dicom.series import read_series  # noqa: PLC0415

    detail: ChaosCase = raw_case.detail
    images = [read_series(s, raw_case.case_id) for s in detail.series]
    return images, _png_label(detail, images[0], spec["value_ranges"], raw_case.case_id)
