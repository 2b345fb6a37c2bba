"""The catalog: every manifest in one manifests folder, looked up by any of its names.

Which folder (first that exists wins; documented in docs/catalog.md):
1. the `manifests_dir` argument (a command passes its settings', SEGBOOK_MANIFESTS; the catalog
   never reads the environment itself, see segbook.core.settings);
2. `manifests/` in the source checkout the package was imported from (repo / editable install);
3. `segbook/data/manifests/` shipped inside the package (a wheel built with the manifests);
4. `<sys.prefix>/share/segbook/manifests/` (a data-files install).
The chosen folder replaces the built-in catalog; it does not add to it.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from segbook.catalog.manifest import DatasetManifest
from segbook.core.errors import EnvironmentProblem, InvalidInput, UsageProblem

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../segbook


def candidate_dirs() -> list[Path]:
    """Built-in places a manifests folder may live, most specific first."""
    return [
        _PACKAGE_DIR.parent / "manifests",
        _PACKAGE_DIR / "data" / "manifests",
        Path(sys.prefix) / "share" / "segbook" / "manifests",
    ]


# A manifests folder as the settings give it: None is "not configured", the kit's own manifests.
# Only segbook.core.settings reads SEGBOOK_MANIFESTS; a library caller passes
# `load_settings().manifests_dir` like the commands do.
ManifestsDir = Path | None


def find_manifests_dir(manifests_dir: ManifestsDir = None) -> Path:
    if manifests_dir is not None:
        manifests_dir = Path(manifests_dir)
        if not (manifests_dir / "datasets").is_dir():
            raise EnvironmentProblem(
                f"manifests folder {manifests_dir} has no datasets/ subfolder",
                hint="point SEGBOOK_MANIFESTS at a folder holding datasets/*.yaml (or unset it)")
        return manifests_dir
    for candidate in candidate_dirs():
        if (candidate / "datasets").is_dir():
            return candidate
    raise EnvironmentProblem(
        "no dataset manifests found (looked in " + ", ".join(map(str, candidate_dirs())) + ")",
        hint="set SEGBOOK_MANIFESTS to the kit's manifests/ folder")


def _key(name: str) -> str:
    return name.strip().casefold()


class Catalog:
    """All manifests of one folder; iterate it, or `get` one by any name."""

    def __init__(self, manifests: list[DatasetManifest], root: Path | None = None):
        self.root = root
        self._items = sorted(manifests, key=lambda m: (m.nnunet_id, m.task_id))
        self._index: dict[str, list[DatasetManifest]] = {}
        for m in self._items:
            for name in m.names():
                bucket = self._index.setdefault(_key(name), [])
                if m not in bucket:
                    bucket.append(m)
        self._check_unique()

    def _check_unique(self):
        for attr in ("task_id", "nnunet_id"):
            seen: dict = {}
            for m in self._items:
                value = getattr(m, attr)
                if value in seen:
                    raise InvalidInput(
                        f"manifests {seen[value].path} and {m.path} share the {attr} {value}",
                        hint="every dataset needs its own task id and nnU-Net id")
                seen[value] = m

    def __iter__(self) -> Iterator[DatasetManifest]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        return len(self._lookup(name)) == 1

    def _lookup(self, name: str) -> list[DatasetManifest]:
        key = _key(str(name))
        hits = self._index.get(key)
        if hits:
            return hits
        if key.isdigit():  # "9" and "009" both mean nnU-Net id 9
            return self._index.get(str(int(key)), [])
        prefix = re.fullmatch(r"(task|dataset)(\d{1,3})", key)
        if prefix:  # "Task009" alone: every task or dataset with that number
            number = int(prefix.group(2))
            attr = "nnunet_id" if prefix.group(1) == "dataset" else None
            return [m for m in self._items
                    if (m.nnunet_id if attr else int(m.task_id[4:7])) == number]
        return []

    def get(self, name) -> DatasetManifest:
        """A manifest by task id, nnU-Net id/folder name, display name or alias (any case).

        A path to a .yaml file is loaded as a stand-alone (user) manifest.
        """
        text = str(name).strip()
        if text.endswith((".yaml", ".yml")) and Path(text).is_file():
            return DatasetManifest.from_file(Path(text))
        hits = self._lookup(text)
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageProblem(f"{text!r} is ambiguous: it names " + ", ".join(m.task_id for m in hits),
                               hint="use the full task id")
        raise UsageProblem(f"unknown dataset {text!r}" + self._suggest(text),
                           hint="`segbook datasets list` shows every dataset")

    def _suggest(self, text: str) -> str:
        names: dict[str, DatasetManifest] = {}
        for m in self._items:
            for n in (m.task_id, m.display_name, m.short_name, *m.aliases):
                names.setdefault(_key(n), m)
        close = difflib.get_close_matches(_key(text), list(names), n=6, cutoff=0.6)
        if not close:  # a fragment such as "brats" or "kits": substring matches
            close = [k for k in names if _key(text) in k]
        picked = list({names[c].task_id: names[c] for c in close}.values())[:3]
        shown = ", ".join(f"{m.task_id} ({m.display_name})" for m in picked)
        return f"; did you mean {shown}?" if picked else ""


def load_catalog(manifests_dir: ManifestsDir = None) -> Catalog:
    """Load every manifest in `<manifests folder>/datasets/*.yaml` (validated, no torch)."""
    root = find_manifests_dir(manifests_dir)
    files = sorted((root / "datasets").glob("*.yaml"))
    if not files:
        raise EnvironmentProblem(f"{root / 'datasets'} holds no manifests",
                                 hint="set SEGBOOK_MANIFESTS to the kit's manifests/ folder")
    return Catalog([DatasetManifest.from_file(f) for f in files], root=root)
