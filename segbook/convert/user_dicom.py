"""`segbook datasets init` for a DICOM tree: image series and the SEG or RTSTRUCT objects that label them.

Everything comes from the headers (segbook.convert.dicom): the label objects, the series they reference,
that series' modality, and the segment or ROI names. Which name is which label the user says with
`--label N=NAME`; without it, the names found are listed (exit 2) so the user can choose.
"""

from __future__ import annotations

import re
from pathlib import Path

from segbook.core.errors import InvalidInput, UsageProblem

_MODALITY = {"CT": "CT", "MR": "MRI", "PT": "PET/CT", "US": "US"}


def is_dicom_tree(raw: Path) -> bool:
    from segbook.convert.dicom.layout import detect  # noqa: PLC0415 - pydicom only for DICOM trees

    return not (raw / "dataset.json").is_file() and detect(raw, {})


def parse_label_options(values: tuple[str, ...]) -> dict[int, str]:
    """`--label 1=GTV_Mass_CT` (repeatable) -> {1: "GTV_Mass_CT"}; values 1, 2, ... each once."""
    labels: dict[int, str] = {}
    for text in values:
        value, sep, name = text.partition("=")
        if not sep or not value.strip().isdigit() or not name.strip() or int(value) < 1:
            raise UsageProblem(f"--label {text!r} is not N=NAME with N >= 1", hint="e.g. --label 1=GTV_Mass_CT")
        if int(value) in labels:
            raise UsageProblem(f"--label gives value {int(value)} twice")
        labels[int(value)] = name.strip()
    return labels


def dicom_manifest_parts(raw: Path, labels: dict[int, str]) -> dict:
    """channels, labels, modality and the layout entry of a user manifest for the DICOM tree `raw`."""
    from segbook.convert.dicom.cases import label_names  # noqa: PLC0415
    from segbook.convert.dicom.index import index_dicom_tree  # noqa: PLC0415

    index = index_dicom_tree(raw, None)
    kinds = sorted({obj.kind for obj in index.labels})
    if not kinds:
        raise InvalidInput(f"{raw} holds DICOM series but no SEG or RTSTRUCT that labels them",
                           hint="init needs the segmentations too (DICOM-SEG or RTSTRUCT objects)")
    if len(kinds) > 1:
        raise InvalidInput(f"{raw} holds both SEG and RTSTRUCT objects", hint="init one kind of labels per dataset")
    found = label_names(index, kinds[0])
    if not labels:
        shown = ", ".join(found[:40]) + (" ..." if len(found) > 40 else "")
        raise UsageProblem(f"{kinds[0]} names found in {raw}: {shown}",
                           hint="map them to labels: --label 1=NAME (repeat for each label you want)")
    unknown = [name for name in labels.values() if name.casefold() not in {f.casefold() for f in found}]
    if unknown:
        raise UsageProblem(f"--label names {unknown} are not among the {kinds[0]} names found: {', '.join(found[:20])}")
    referenced = {obj.referenced_series_uid for obj in index.labels}
    modalities = sorted({s.modality for uid, s in index.series.items() if uid in referenced})
    modality = _MODALITY.get(modalities[0], "unknown") if len(modalities) == 1 else "unknown"
    spec = {"kind": "dicom", "name": f"DICOM tree ({kinds[0]})",
            "image": {"modality": modalities[0] if len(modalities) == 1 else ""},
            "label": {"object": kinds[0], "names": {re.escape(name): value for value, name in sorted(labels.items())},
                      "readers": "union", "exclude_automatic": False}}
    channel = {"name": modalities[0] if len(modalities) == 1 else "image",
               "normalization": "CTNormalization" if modalities == ["CT"] else "ZScoreNormalization"}
    return {"channels": [channel], "labels": {0: "background", **dict(sorted(labels.items()))},
            "modality": modality, "layout": spec}
