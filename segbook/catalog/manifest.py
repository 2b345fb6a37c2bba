"""One dataset manifest: what a dataset is, where it comes from and how to convert it.

Read with yaml.safe_load (the C loader when PyYAML has it) and checked against the schema.
Nothing here imports numpy, SimpleITK, torch or nnunetv2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from segbook.catalog.schema import validate_manifest
from segbook.catalog.sizes import size_class
from segbook.core.errors import InputMissing, InvalidInput

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# "prepare from" wording for each layout kind
LAYOUT_TITLES = {"nnunet": "nnU-Net folder", "msd": "MSD download"}


@dataclass(frozen=True)
class DatasetManifest:
    task_id: str
    nnunet_id: int
    display_name: str
    modality: str
    target: str
    regions: tuple[str, ...]
    channels: tuple[dict, ...]
    labels: dict[int, str]
    cases: dict[str, int | None]
    paper_dice: dict[str, float]
    reference_plan: dict | None
    source: dict
    prepare: dict
    kind: str = "catalog"
    aliases: tuple[str, ...] = ()
    corrections: tuple[dict, ...] = ()
    notes: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)

    # -- derived names ---------------------------------------------------------------
    @property
    def region(self) -> str:
        """Primary anatomical region (the one holding most of its classes); see `regions`."""
        return self.regions[0]

    @property
    def short_name(self) -> str:
        return self.task_id.split("_", 1)[1]

    @property
    def dataset_name(self) -> str:
        """nnU-Net v2 folder name, e.g. Dataset009_Spleen."""
        return f"Dataset{self.nnunet_id:03d}_{self.short_name}"

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(ch["name"] for ch in self.channels)

    @property
    def n_cases(self) -> int | None:
        """Labelled cases: train + test when known, else the paper's count."""
        train, test = self.cases.get("train"), self.cases.get("test")
        if train is not None and test is not None:
            return train + test
        return self.cases.get("paper")

    @property
    def size(self) -> str | None:
        return None if self.n_cases is None else size_class(self.n_cases)

    @property
    def access(self) -> str:
        return self.source.get("access", "unknown")

    @property
    def layouts(self) -> tuple[dict, ...]:
        return tuple(self.prepare["layouts"])

    @property
    def prepare_from(self) -> str:
        """What `segbook prepare` accepts, in words (the `datasets list` column)."""
        if self.prepare.get("from"):
            return self.prepare["from"]
        titles = [spec.get("name") or LAYOUT_TITLES[spec["kind"]] for spec in self.layouts]
        only = self.layouts[0]
        if len(titles) == 1 and only["kind"] == "nnunet" and not only.get("name") and self.kind == "catalog":
            return "nnU-Net folder (original layout not covered)"
        return ", ".join(titles)

    @property
    def lock_path(self) -> Path:
        """Where this dataset's lock lives.

        A manifest in a `datasets/` folder (the catalog) has its lock in the sibling `locks/`
        folder as <task_id>.lock; a stand-alone manifest (e.g. from `segbook datasets init`)
        has it next to itself, same stem, `.lock` suffix.
        """
        if self.path is None:
            raise InvalidInput(f"manifest {self.task_id} has no file, so it has no lock location")
        if self.path.parent.name == "datasets":
            return self.path.parent.parent / "locks" / f"{self.task_id}.lock"
        return self.path.with_suffix(".lock")

    def names(self) -> tuple[str, ...]:
        """Every name this dataset answers to (task id, nnU-Net names, display name, aliases)."""
        return (self.task_id, self.dataset_name, str(self.nnunet_id), self.display_name, *self.aliases)

    def as_dict(self) -> dict:
        return {
            "task_id": self.task_id, "nnunet_id": self.nnunet_id, "dataset_name": self.dataset_name,
            "display_name": self.display_name, "kind": self.kind, "modality": self.modality,
            "target": self.target, "region": self.region, "regions": list(self.regions),
            "channels": [dict(ch) for ch in self.channels],
            "labels": {str(k): v for k, v in sorted(self.labels.items())},
            "cases": dict(self.cases), "size": self.size, "paper_dice": dict(self.paper_dice),
            "reference_plan": self.reference_plan, "source": dict(self.source),
            "prepare_from": self.prepare_from, "prepare": self.prepare,
            "aliases": list(self.aliases), "corrections": [dict(c) for c in self.corrections],
            "notes": list(self.notes), "manifest": str(self.path) if self.path else None,
        }

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, path: Path | None = None) -> DatasetManifest:
        validate_manifest(data, str(path) if path else data.get("task_id", "<memory>"))
        return cls(
            task_id=data["task_id"], nnunet_id=data["nnunet_id"], display_name=data["display_name"],
            modality=data["modality"], target=data["target"], regions=tuple(data["region"]),
            channels=tuple(dict(ch) for ch in data["channels"]),
            labels={int(k): v for k, v in sorted(data["labels"].items())},
            cases=dict(data["cases"]), paper_dice=dict(data.get("paper_dice") or {}),
            reference_plan=data.get("reference_plan"), source=dict(data["source"]),
            prepare=dict(data["prepare"]), kind=data["kind"],
            aliases=tuple(data.get("aliases") or ()), corrections=tuple(data.get("corrections") or ()),
            notes=tuple(data.get("notes") or ()), path=path,
        )

    @classmethod
    def from_file(cls, path: Path) -> DatasetManifest:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise InputMissing(f"manifest {path} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"manifest {path} cannot be read: {exc}") from exc
        try:
            data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader (C or Python)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InvalidInput(f"manifest {path} is not valid YAML: {first}") from exc
        return cls.from_dict(data, path)
