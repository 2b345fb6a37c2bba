"""The dataset catalog: 87 SegBook manifests + the demo, loaded without torch or nnunetv2.

    from segbook.catalog import load_catalog
    m = load_catalog().get("task009_spleen")

`prepare_dataset` / `PreparedDataset` live in segbook.convert and are re-exported here lazily,
so importing the catalog never pulls in numpy or SimpleITK.
"""

from __future__ import annotations

from segbook.catalog.loader import Catalog, find_manifests_dir, load_catalog
from segbook.catalog.manifest import DatasetManifest
from segbook.catalog.sizes import size_class
from segbook.catalog.user_manifest import manifest_for_folder

__all__ = ["Catalog", "DatasetManifest", "PreparedDataset", "find_manifests_dir", "load_catalog",
           "manifest_for_folder", "prepare_dataset", "size_class"]


def __getattr__(name: str):
    if name in ("prepare_dataset", "PreparedDataset"):
        import segbook.convert.prepare as prepare

        return getattr(prepare, name)
    raise AttributeError(f"module 'segbook.catalog' has no attribute {name!r}")
