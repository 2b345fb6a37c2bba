"""Raw downloads -> nnU-Net raw layout: one generic declarative converter plus the MSD and
nnU-Net special cases, content hashes, the pinned split and the lock check.

    from segbook.convert import prepare_dataset
    prepared = prepare_dataset(manifest, raw_dir, out_root, lock=False, force=False)

The names are resolved lazily so that `segbook.convert.layouts` (pure path logic) can be used
without importing numpy or SimpleITK.
"""

from __future__ import annotations

__all__ = ["PreparedDataset", "prepare_dataset"]


def __getattr__(name: str):
    if name in __all__:
        from segbook.convert import prepare

        return getattr(prepare, name)
    raise AttributeError(f"module 'segbook.convert' has no attribute {name!r}")
