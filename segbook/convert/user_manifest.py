"""`segbook datasets init`: a manifest for the user's own dataset, read off its dataset.json or DICOM headers.

Works for an nnU-Net v1/v2 task folder, an MSD-style folder, or a DICOM tree (segbook.convert.user_dicom).
The result is a stand-alone manifest (kind: user); its lock will live next to it (<file>.lock).
"""

from __future__ import annotations

import math
import re
from collections.abc import Set
from pathlib import Path

from segbook.catalog.manifest import DatasetManifest
from segbook.catalog.schema import TARGETS
from segbook.convert.layouts import discover
from segbook.convert.user_dicom import dicom_manifest_parts, is_dicom_tree
from segbook.core.errors import InputMissing, InvalidInput, UsageProblem
from segbook.core.untrusted import read_json

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ID_IN_NAME = re.compile(r"^(?:Dataset|Task)(\d{2,3})_")
_NORMALIZATION = {"ct": "CTNormalization", "nonorm": "NoNormalization", "zscore": "ZScoreNormalization",
                  "rescale_to_0_1": "RescaleTo01Normalization"}


def _dataset_json(raw: Path) -> dict:
    path = raw / "dataset.json"
    if not path.is_file():
        raise InputMissing(f"{raw} has no dataset.json", hint="init reads an nnU-Net or MSD task folder")
    try:
        data = read_json(path)
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a JSON object")
    return data


def _channels(data: dict) -> list[dict]:
    names = data.get("channel_names") or data.get("modality")
    if not isinstance(names, dict) or not names:
        raise InvalidInput("dataset.json has neither channel_names nor modality")
    try:
        ordered = [names[k] for k in sorted(names, key=int)]
    except (TypeError, ValueError):
        raise InvalidInput(f"dataset.json channel keys {sorted(map(str, names))} are not channel numbers",
                           hint='write them like {"0": "T2", "1": "ADC"}') from None
    return [{"name": str(n), "normalization": _NORMALIZATION.get(str(n).casefold(), "ZScoreNormalization")}
            for n in ordered]


def _labels(data: dict) -> dict[int, str]:
    raw = data.get("labels")
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput("dataset.json has no labels")
    if all(isinstance(v, int) for v in raw.values()):  # v2: name -> value
        labels = {v: str(k) for k, v in raw.items()}
    elif all(str(k).isdigit() for k in raw):  # v1 / MSD: "value" -> name
        labels = {int(k): str(v) for k, v in raw.items()}
    else:
        raise InvalidInput("dataset.json labels are region-based or malformed; write the manifest by hand",
                           hint="see docs/catalog.md, 'Manifest fields'")
    labels[0] = "background"
    return {k: v.strip() for k, v in sorted(labels.items())}


def _modality(channels: list[dict], given: str | None, fallback: str | None = None) -> str:
    if given:
        return given
    names = {c["name"].upper() for c in channels}
    if names == {"CT"}:
        return "CT"
    if names == {"CT", "PET"}:
        return "PET/CT"
    if fallback:
        return fallback
    raise UsageProblem("cannot tell the modality from the channel names "
                       f"{sorted(c['name'] for c in channels)}", hint="pass --modality CT|MRI|PET/CT|US")


def build_user_manifest(name: str, raw: Path, *, nnunet_id: int | None, target: str,
                        modality: str | None = None, display_name: str | None = None,
                        taken_ids: Set[int] = frozenset(), modality_fallback: str | None = None,
                        labels: dict[int, str] | None = None) -> dict:
    """A user manifest for an nnU-Net/MSD folder (read off dataset.json) or a DICOM tree (read off its
    headers; `labels` maps label values to SEG segment or RTSTRUCT ROI names)."""
    raw = Path(raw)
    if not raw.is_dir():
        raise InputMissing(f"raw folder {raw} does not exist")
    if not NAME_RE.match(name):
        raise UsageProblem(f"dataset name {name!r} may only hold letters, digits, '_', '.', '-'")
    if target not in (*TARGETS, "unknown"):
        raise UsageProblem(f"target {target!r} is not one of {', '.join(TARGETS)}")
    match = _ID_IN_NAME.match(raw.name)
    nnunet_id = nnunet_id if nnunet_id is not None else (int(match.group(1)) if match else None)
    if nnunet_id is None:
        raise UsageProblem(f"cannot tell a dataset id from the folder name {raw.name!r}", hint="pass --id N")
    if nnunet_id in taken_ids:
        raise UsageProblem(f"dataset id {nnunet_id} is used by the catalog",
                           hint="nnU-Net needs unique ids: pass another --id (e.g. from 500-599 or 800-893)")
    dicom = is_dicom_tree(raw)
    if dicom:
        parts = dicom_manifest_parts(raw, labels or {})
        channels, label_names, layouts = parts["channels"], parts["labels"], [parts["layout"]]
        modality = modality or (parts["modality"] if parts["modality"] != "unknown" else None)
    else:
        if labels:
            raise UsageProblem("--label is for DICOM trees; an nnU-Net or MSD folder names its labels in dataset.json")
        data = _dataset_json(raw)
        channels, label_names = _channels(data), _labels(data)
        layouts = [{"kind": "nnunet"}, {"kind": "msd"}]
    manifest = {
        "schema": "segbook-manifest/1", "kind": "user", "task_id": f"Task{nnunet_id:03d}_{name}",
        "nnunet_id": nnunet_id, "display_name": display_name or name, "aliases": [],
        "modality": _modality(channels, modality, modality_fallback), "target": target, "region": ["Others"],
        "channels": channels, "labels": label_names,
        "cases": {"paper": None, "train": None, "test": None}, "reference_plan": None, "paper_dice": {},
        "source": {"homepage": None, "licence": "unknown", "access": "unknown", "url": None},
        "prepare": {"layouts": layouts},
        "corrections": [], "notes": [f"created by `segbook datasets init` from {raw.name}"],
    }
    found = discover(DatasetManifest.from_dict(manifest), raw)
    n = len(found.cases)
    test = math.ceil(0.2 * n)
    manifest["cases"] = {"paper": None, "train": n - test, "test": test}
    manifest["prepare"]["layouts"] = [found.spec]
    DatasetManifest.from_dict(manifest)  # validate the final form
    return manifest


def manifest_for_folder(folder: Path) -> DatasetManifest:
    """A manifest for an nnU-Net/MSD folder given as the dataset itself (`finetune PATH`).

    The folder's own `segbook.yaml` wins when present; otherwise one is built in memory from
    dataset.json and the DatasetNNN_/TaskNN_ folder name, with target (and, unless the channels
    say CT or PET/CT, modality) "unknown". Either way its lock is `<folder>/segbook.lock`.
    """
    folder = Path(folder)
    own = folder / "segbook.yaml"
    if own.is_file():
        return DatasetManifest.from_file(own)
    match = re.match(r"^(?:Dataset|Task)(\d{2,3})_(.+)$", folder.name)
    if not match:
        raise UsageProblem(f"cannot tell a dataset id and name from the folder name {folder.name!r}",
                           hint="name it DatasetNNN_Name, or write a manifest with `segbook datasets init`")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", match.group(2))
    data = build_user_manifest(name, folder, nnunet_id=int(match.group(1)), target="unknown",
                               modality_fallback="unknown")
    return DatasetManifest.from_dict(data, own)  # not written: `own` only places the lock
