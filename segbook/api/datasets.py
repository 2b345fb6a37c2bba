"""`segbook datasets list|show|init|overlap`: the catalog, a manifest for your own data, shared cases.

list and show import no torch, SimpleITK or nnunetv2 (tests/unit/test_layering.py): list reads the
manifests' YAML; show also reads the stamps of the plans already made (segbook.nnunet.planning).
init and overlap import segbook.convert when they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from segbook.catalog import load_catalog
from segbook.catalog.access import how_to_get
from segbook.core.errors import OutputBlocked
from segbook.core.fsio import atomic_write_text
from segbook.core.progress import Progress, no_progress
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.catalog.manifest import DatasetManifest
    from segbook.convert.overlap import Overlap

MANIFEST_HEADER = "# made by `segbook datasets init`; edit freely (see docs/catalog.md)\n"


def list_datasets(settings: Settings, *, modality: str | None = None, target: str | None = None,
                  size: str | None = None, access: str | None = None,
                  fetchable: bool = False) -> list[DatasetManifest]:
    """The catalog's datasets in catalog order, those matching every filter given (any case);
    `fetchable`: only those `segbook datasets fetch` downloads."""
    found = []
    for m in load_catalog(settings.manifests_dir):
        if modality and m.modality.casefold() != modality.casefold():
            continue
        if target and m.target != target.casefold():
            continue
        if size and m.size != size.casefold():
            continue
        if access and m.access != access.casefold():
            continue
        if fetchable and not m.source.get("fetch"):
            continue
        found.append(m)
    return found


@dataclass(frozen=True)
class DatasetView:
    manifest: DatasetManifest
    planned: dict[str, dict]  # plans name -> planning report, for the plans made under the output root
    lock_present: bool  # a user manifest's lock file exists (False for a catalog dataset without a path)

    def plan_differences(self) -> list[str]:
        """One line per plan made: the plan used, and how nnU-Net's own plan differs."""
        from segbook.nnunet.planning import describe_difference  # noqa: PLC0415 - numpy on use

        return [describe_difference(report) for report in self.planned.values()]

    def how_to_get(self, raw: str = "DIR") -> list[str]:
        """Two or three lines: where the data comes from, what to download, where to put it."""
        return how_to_get(self.manifest, raw)


def show_dataset(dataset: str, out_root: Path, settings: Settings) -> DatasetView:
    """One dataset by task id, nnU-Net id, display name or manifest path, with the plans made for it."""
    from segbook.nnunet.planning import planned_reports  # noqa: PLC0415 - numpy on use

    m = load_catalog(settings.manifests_dir).get(dataset)
    lock_present = m.path is not None and m.lock_path.exists()
    return DatasetView(m, planned_reports(out_root, m.dataset_name), lock_present)


@dataclass(frozen=True)
class InitRequest:
    name: str
    raw: Path  # the nnU-Net (v1/v2) or MSD-style task folder
    target: str  # target category (any case)
    nnunet_id: int | None = None  # default: from a DatasetNNN_/TaskNNN_ folder name
    modality: str | None = None  # default: from the channel names
    display_name: str | None = None
    out: Path | None = None  # the manifest file (default: ./TaskNNN_NAME.yaml)
    force: bool = False  # replace an existing manifest file
    labels: tuple[str, ...] = ()  # DICOM trees: "N=NAME" maps a SEG segment or RTSTRUCT ROI name to label N


@dataclass(frozen=True)
class InitResult:
    path: Path
    task_id: str
    n_cases: int  # training + test cases


def init_dataset(request: InitRequest, settings: Settings) -> InitResult:
    """Write a manifest read off the folder's dataset.json and files; never over a file unless forced."""
    from segbook.convert.user_dicom import parse_label_options  # noqa: PLC0415 - convert only for init
    from segbook.convert.user_manifest import build_user_manifest  # noqa: PLC0415

    taken = {m.nnunet_id for m in load_catalog(settings.manifests_dir)}
    data = build_user_manifest(request.name, request.raw, nnunet_id=request.nnunet_id,
                               target=request.target.casefold(),
                               modality=request.modality.upper() if request.modality else None,
                               display_name=request.display_name, taken_ids=taken,
                               labels=parse_label_options(request.labels))
    out = request.out or Path(f"{data['task_id']}.yaml")
    if out.exists() and not request.force:
        raise OutputBlocked(f"{out} already exists", hint="pass --force to replace it, or --out elsewhere")
    text = MANIFEST_HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)
    atomic_write_text(out, text)
    return InitResult(out, data["task_id"], data["cases"]["train"] + data["cases"]["test"])


@dataclass(frozen=True)
class OverlapOutcome:
    result: Overlap

    def as_dict(self) -> dict:
        return self.result.as_dict()

    def text(self) -> str:
        from segbook.convert.overlap import render  # noqa: PLC0415 - convert only for overlap

        return render(self.result)


def overlap_datasets(a: str, b: str, settings: Settings, *, out_root: Path | None = None,
                     progress: Progress = no_progress) -> OverlapOutcome:
    """Cases A and B share (identical images, then near-duplicates), each with its side of the split.

    A and B are each a catalog dataset (prepared: its lock is read), a lock file, a prepared
    dataset folder or a raw folder of images."""
    from segbook.convert.overlap import compare, resolve  # noqa: PLC0415 - convert only for overlap

    root = out_root or settings.out_root
    sources = [resolve(spec, out_root=root, manifests_dir=settings.manifests_dir, progress=progress)
               for spec in (a, b)]
    return OverlapOutcome(compare(*sources))
