"""The dataset catalog: 87 SegBook manifests + the demo, loaded without torch or nnunetv2.

    from segbook.catalog import load_catalog
    m = load_catalog().get("task009_spleen")

Preparing a dataset (segbook.convert.prepare) and manifests for users' own folders
(segbook.convert.user_manifest) sit one layer up: convert reads the catalog, never the reverse.
"""

from __future__ import annotations

from segbook.catalog.loader import Catalog, find_manifests_dir, load_catalog
from segbook.catalog.manifest import DatasetManifest
from segbook.catalog.sizes import size_class

__all__ = ["Catalog", "DatasetManifest", "find_manifests_dir", "load_catalog", "size_class"]
