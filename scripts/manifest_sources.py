"""The `source` block of a catalog manifest: where the data lives, on what terms, and how the kit fetches it.

Used by scripts/generate_manifests.py. Every fact comes from one row of manifests/reference/dataset_sources.csv
(a copy of ../shared/reference/segbook/dataset_sources.csv) or from the tables below, which transcribe
dataset_sources.md and name their source. A cell that says `unknown` stays unknown: no licence, access rule,
record id, revision or checksum is made up here.
"""

from __future__ import annotations

import re

ACCESS = ("open", "registration", "dua", "unknown")  # the csv's access vocabulary
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
_URL = re.compile(r"https?://[^\s;,)]+")
_DOI = re.compile(r"\bDOI (10\.\d{4,}/[^\s);,]+)")
_ZENODO = re.compile(r"zenodo\.org/records?/(\d+)(?:/files/([^?\s;]+))?")
_HF_DATASET = re.compile(r"huggingface\.co/datasets/([\w.-]+/[\w.-]+)")
_GIRDER_FOLDER = re.compile(r"/api/v1/folder/[0-9a-f]+/download$")  # Girder sends a folder as one zip
_LICENCE = re.compile(r"^(?P<name>.*?)\s*\[(?P<source>[^\]]*)\]\s*(?P<note>.*)$")

# The md5 MONAI's DecathlonDataset checks for each MSD tar on the mirror (MONAI 1.6.1,
# monai/apps/datasets.py, DecathlonDataset.md5): the csv cites that file for the URLs.
MSD_MD5 = {
    "Task01_BrainTumour.tar": "240a19d752f0d9e9101544901065d872",
    "Task02_Heart.tar": "06ee59366e1e5124267b774dbd654057",
    "Task03_Liver.tar": "a90ec6c4aa7f6a3d087205e23d4e6397",
    "Task04_Hippocampus.tar": "9d24dba78a72977dbd1d2e110310f31b",
    "Task05_Prostate.tar": "35138f08b1efaef89d7424d2bcc928db",
    "Task06_Lung.tar": "8afd997733c7fc0432f71255ba4e52dc",
    "Task07_Pancreas.tar": "4f7080cfca169fa8066d17ce6eb061e4",
    "Task08_HepaticVessel.tar": "641d79e80ec66453921d997fbf12a29c",
    "Task09_Spleen.tar": "410d4a301da4e5b2f6f86ec3ddba524e",
    "Task10_Colon.tar": "bad7a188931dc2f6acf72b08eb6202d0",
}
MSD_MD5_SOURCE = "MONAI 1.6.1 monai/apps/datasets.py DecathlonDataset.md5"

# IDC sources of the open IDC rows (dataset_sources.md, "IDC via idc-index", read from idc-index-data 25.0.5):
# the collections whose original series are fetched and the analysis results (label objects) added to them.
# Task108 is left out: IDC holds its images only, its NRRD labels are a separate TCIA download.
IDC_VERSION = 25
IDC = {
    "Task104_Colorectal_Liver_Metastases": (["colorectal_liver_metastases"], []),
    "Task105_DICOM_LIDC_IDRI_Nodules": (["lidc_idri"], ["dicom_lidc_idri_nodules"]),
    "Task107_HCC-TACE-Seg": (["hcc_tace_seg"], []),
    "Task112_PROSTATEx-Seg-HiRes": (["prostatex"], ["prostatex_seg_hires"]),
    "Task113_PROSTATEx-Seg-Zones": (["prostatex"], ["prostatex_seg_zones"]),
    "Task114_Prostate-Anatomical-Edge-Cases": (["prostate_anatomical_edge_cases"], []),
    "Task115_QIBA-VolCT-1B": (["rider_lung_ct", "rider_pilot"], ["qiba_volct_1b"]),
    "Task116_ISPY1": (["ispy1"], []),
    "Task701_LNQ2023": (["mediastinal_lymph_node_seg"], []),
    **{task: (["fdg_pet_ct_lesions"], []) for task in
       ("Task710_autoPET", "Task711_autoPET_PET_only", "Task712_autoPET_CT_only")},
}


def split_licence(cell: str) -> dict:
    """'CC BY 4.0 [RDH] (note)' -> licence, the source named in brackets, and what follows."""
    text = " ".join(cell.split())
    if text.startswith("unknown"):
        note = text[len("unknown"):].strip()
        return {"licence": "unknown", **({"licence_note": note} if note else {})}
    match = _LICENCE.match(text)
    if not match:
        return {"licence": text}
    note = match["note"].strip()
    return {"licence": match["name"], "licence_source": match["source"], **({"licence_note": note} if note else {})}


def landing_of(cell: str) -> dict:
    """The first page of the csv's landing cell (or its DOI); the whole cell kept when it says more."""
    text = " ".join(cell.split())
    if text.startswith("unknown"):  # Task166: the only link the sources give does not match the task
        return {"landing": None, "landing_text": text}
    first = text.split(" ; ")[0]
    url = _URL.search(first)
    doi = _DOI.search(first)
    landing = url.group(0) if url else (f"https://doi.org/{doi.group(1)}" if doi else None)
    return {"landing": landing, **({"landing_text": text} if text != landing else {})}


def _file_urls(cell: str, task: str) -> list[dict]:
    files = []
    for url in _URL.findall(cell):
        path = url.split("?")[0]
        if path.lower().endswith(ARCHIVE_SUFFIXES) and "zenodo.org" not in path:
            name = path.rsplit("/", 1)[1]
            files.append({"name": name, "url": url, **({"md5": MSD_MD5[name]} if name in MSD_MD5 else {})})
        elif _GIRDER_FOLDER.search(path):
            files.append({"name": f"{task.split('_', 1)[1]}.zip", "url": url})  # the kit names the zip
    return files


def _zenodo_records(cell: str) -> list[dict]:
    records: dict[int, list[str]] = {}
    for record, name in _ZENODO.findall(cell):
        names = records.setdefault(int(record), [])
        if name and name not in names:
            names.append(name)
    return [{"record": r, **({"files": names} if names else {})} for r, names in records.items()]


def fetch_fields(row: dict) -> dict:
    """How the kit downloads an open dataset: `fetch` and the block it reads. Only `open` rows get a
    method: a registration or a data-use agreement is never worked around."""
    task, cell = row["task_id"], row["landing_url"]
    out: dict = {}
    hub = _HF_DATASET.search(cell)
    if hub:  # recorded for the reader; without a pinned revision from the sources it is not fetched
        out["huggingface"] = {"repo": hub.group(1), "revision": None}
    if row["access"] != "open":
        return {"fetch": None, **out}
    files, records = _file_urls(cell, task), _zenodo_records(cell)
    if records:
        return {"fetch": "zenodo", "zenodo": records, **out}
    if files:
        checked = any("md5" in f for f in files)
        return {"fetch": "https", "files": files, **({"checksums_from": MSD_MD5_SOURCE} if checked else {}), **out}
    if task in IDC:
        collections, results = IDC[task]
        return {"fetch": "idc", "idc": {"version": IDC_VERSION, "collections": collections,
                                        "analysis_results": results}, **out}
    return {"fetch": None, **out}


def source_block(row: dict, *, homepage: str | None, framework: str, citation: str | None,
                 expected_url: str | None = None) -> dict:
    """The manifest's `source`: the catalog's homepage and citation, the csv's facts, the fetch method."""
    if row["access"] not in ACCESS:
        raise SystemExit(f"{row['task_id']}: access {row['access']!r} is not one of {ACCESS}")
    fetch = fetch_fields(row)
    files = fetch.get("files") or []
    url = files[0]["url"] if len(files) == 1 else None
    if expected_url and url != expected_url:
        raise SystemExit(f"{row['task_id']}: the csv's download {url} is not the MSD mirror's {expected_url}")
    return {"homepage": homepage, **landing_of(row["landing_url"]), "host": row["host_kind"],
            "access": row["access"], **split_licence(row["licence"]), "url": url, **fetch,
            "framework": framework, "citation": citation}
