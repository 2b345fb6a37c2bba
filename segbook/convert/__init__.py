"""Raw downloads -> nnU-Net raw layout: one generic declarative converter plus the MSD and
nnU-Net special cases, content hashes, the pinned split and the lock check.

    from segbook.convert.prepare import PrepareOptions, prepare_dataset
    prepared = prepare_dataset(manifest, raw_dir, out_root, PrepareOptions(lock=False, force=False))

The package itself imports nothing, so that `segbook.convert.layouts` (pure path logic) can be
used without importing numpy or SimpleITK.
"""
