"""`segbook datasets fetch`: download an open dataset, verify it, and unpack it where `prepare --raw` reads it.

    from segbook.convert.fetch.dataset import fetch_dataset
    fetched = fetch_dataset(manifest, raw_dir, mirror=None, force=False, progress=print)

remote (one file to download and its published checksum), zenodo (a record's file list from Zenodo's
records API), place (unpacking with the kit's archive rules into the raw folder), hub (Hugging Face at a
pinned revision), idc (IDC collections through the optional idc-index), dataset (the order of it all and
the refusal for a dataset behind a registration or a data-use agreement).
"""
