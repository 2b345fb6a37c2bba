"""The "Getting the data" section of docs/datasets.md (access, licence, landing page, `segbook datasets fetch`).

Used by scripts/datasets_doc.py; every row comes from the manifests' `source` block.
"""

from __future__ import annotations

from collections import Counter

TEXT = """\

## Getting the data: access, licence, `segbook datasets fetch`

The access rule, the licence (as its source states it, the source in brackets in
`manifests/reference/dataset_sources.csv`) and the landing page of each dataset come from
`dataset_sources.csv`; `unknown` stands wherever no source read confirmed a fact, and is never
guessed. `segbook datasets list` shows them (`--access open|registration|dua|unknown`,
`--fetchable`); `segbook datasets show DATASET` says in two or three lines how to get the data and
where to put it. Every receipt records the dataset's licence and access (`dataset.licence`,
`dataset.access`).

{counts}

### `segbook datasets fetch DATASET --out DIR`

For the datasets with a fetch method below, one command downloads, verifies and unpacks; the next
is printed at the end:

    segbook datasets fetch Task009_Spleen --out ~/data/spleen
    segbook prepare Task009_Spleen --raw ~/data/spleen

- **https**: the files the manifest lists. The ten MSD tars come from the S3 mirror MONAI uses,
  checked against the md5 MONAI's `DecathlonDataset` checks. ACDC (Girder's folder zip) and VerSe
  2020 (the training zip; its validation and test siblings are not named in the sources) publish no
  checksum: the sha256 of what arrived is recorded in `DIR/.segbook-fetched.json`, and the
  dataset's lock pins the content at `prepare --lock`.
- **zenodo**: the file list, sizes and md5 come from Zenodo's records API
  (`GET https://zenodo.org/api/records/{{id}}`: `files[].key`, `size`, `checksum`, `links.self`) at
  fetch time; every file is checked.
- **huggingface**: `huggingface_hub.snapshot_download` at the commit the manifest pins. The two
  catalog datasets with a Hugging Face copy (KiTS23, CTSpine1K) have no pinned revision in the
  sources, so the kit does not fetch them yet.
- **idc**: IDC collections through the optional package `idc-index` (not in the kit's lock:
  `pip install idc-index`; without it the fetch exits 78 saying so). The manifest pins the IDC
  release (v25) and the series: the collections' own series plus the analysis results it names,
  so unrelated analysis results (AI segmentations) stay out. IDC sends DICOM: prepare reads it
  where the manifest has a DICOM layout.

What every fetch guarantees:

- every size and published checksum is checked **before anything is unpacked**; a mismatch exits 65,
  deletes the file and leaves nothing behind (a folder the fetch made and left empty is removed);
- downloads go to `DIR/.segbook-fetch/*.part` and **resume with HTTP Range** after a cut
  connection, a SIGTERM (exit 75) or a full disk (exit 73); no read may wait longer than 60 s and
  one file must arrive within 48 h (a trickling server ends as exit 78, the bytes kept);
- the **free space** is checked before the first byte where the sizes are known (exit 73 with both
  numbers), else when the server declares a size;
- progress lines give bytes, share, rate and time left;
- archives are unpacked with the kit's archive rules (`segbook.convert.archive`: no member outside
  the folder, no links, sizes within limits) into a hidden folder, then moved into `DIR`, so `DIR`
  never holds a half-unpacked archive;
- `--mirror URL` (or `SEGBOOK_MIRROR`) replaces the scheme and host of every URL, keeping the path
  (for a site with a local copy; for Hugging Face it is the endpoint; it does not apply to IDC);
- a dataset behind a **registration or a data-use agreement is never worked around**: the fetch
  exits 66 naming the landing page, the files to download there and the folder to put them in. The
  same holds for an open dataset whose files the kit cannot list and verify (WORD's password-protected
  Drive zip, KiTS21's download script, SEG.A.'s figshare article, SMILE-UHURA's OSF copy, ISBI 2013's
  separate NRRD labels).

**Why the kit downloads by hand.** `segbook weights fetch` and `segbook datasets fetch` share one
downloader (`segbook.core.download`) because what they need is not in `pooch.retrieve` (or
`urllib.request.urlretrieve`): neither resumes a partial file with HTTP Range, and neither bounds a
server that sends a byte every few seconds (the socket timeout never fires; the kit's watchdog shuts
the socket at the deadline). pooch does the hashing (`pooch.file_hash`); Zenodo's API is read
directly (a DOI resolves to the same record); huggingface_hub and idc-index do their own protocols.

| Dataset | Access | Licence | Licence source | Landing page | Fetch |
|---|---|---|---|---|---|
"""


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def counts(manifests: list[dict]) -> str:
    sources = [m["source"] for m in manifests]
    access = Counter(s["access"] for s in sources)
    methods = Counter(s.get("fetch") for s in sources if s.get("fetch"))
    known = sum(s["access"] != "unknown" for s in sources)
    return (f"Of the {len(manifests)} datasets: access known for {known} (open {access['open']}, registration "
            f"{access['registration']}, data-use agreement {access['dua']}; unknown {access['unknown']}); licence "
            f"known for {sum(s['licence'] != 'unknown' for s in sources)}; landing page for "
            f"{sum(bool(s.get('landing')) for s in sources)}; fetched by the kit: {sum(methods.values())} ("
            + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())) + ").")


def fetch_section(manifests: list[dict]) -> str:
    rows = []
    for m in manifests:
        s = m["source"]
        cells = [m["task_id"], s["access"], s["licence"], s.get("licence_source") or "–",
                 s.get("landing") or "unknown", s.get("fetch") or "no (by hand)"]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |\n")
    return TEXT.format(counts=counts(manifests)) + "".join(rows)
