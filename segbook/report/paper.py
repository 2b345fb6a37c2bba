"""The paper's per-dataset values and dataset attributes, from the catalog manifests."""

from __future__ import annotations

from segbook.catalog.sizes import size_class
from segbook.core.errors import UsageProblem
from segbook.report.receipts import PAPER_KEYS, SCALES

DATASET_COLUMNS = ["task_id", "dataset", "modality", "target", "modality_target", "region", "size",
                   "n_cases"]
UNKNOWN = "unknown"


def size_of(n_cases, cuts: tuple[int, int] | None = None) -> str:
    """Size class of a case count: the catalog's (segbook.catalog.sizes) unless `cuts` are given.

    `cuts` = (small_max, medium_max): small <= small_max < medium <= medium_max < large.
    """
    if n_cases is None:
        return UNKNOWN
    if cuts is None:
        return size_class(int(n_cases))
    small_max, medium_max = cuts
    return "small" if n_cases <= small_max else "medium" if n_cases <= medium_max else "large"


def _attributes(manifest, cuts=None) -> dict:
    return {
        "task_id": manifest.task_id,
        "dataset": manifest.display_name,
        "modality": manifest.modality,
        "target": manifest.target,
        "modality_target": f"{manifest.modality} x {manifest.target}",
        "region": manifest.region,
        "size": size_of(manifest.n_cases, cuts),
        "n_cases": manifest.n_cases,
    }


def benchmark_datasets(catalog, cuts=None):
    """One row per benchmark dataset: attributes + the paper's DSC (%) for the seven configurations.

    The demo and user manifests are left out (they have no paper values).
    """
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    for manifest in catalog:
        if manifest.kind != "catalog" or not manifest.paper_dice:
            continue
        row = _attributes(manifest, cuts)
        row.update({key: 100.0 * manifest.paper_dice[key] if key in manifest.paper_dice else float("nan")
                    for key in PAPER_KEYS})
        rows.append(row)
    return pd.DataFrame(rows, columns=DATASET_COLUMNS + list(PAPER_KEYS))


def dataset_attributes(catalog, task_ids, cuts=None) -> dict[str, dict]:
    """Attributes for the datasets of the receipts; unknown ids (user data) get 'unknown'."""

    out = {}
    for task_id in task_ids:
        try:
            manifest = catalog.get(task_id)
        except UsageProblem:
            manifest = None
        if manifest is None:
            out[task_id] = {"task_id": task_id, "dataset": task_id, "modality": UNKNOWN, "target": UNKNOWN,
                            "modality_target": UNKNOWN, "region": UNKNOWN, "size": UNKNOWN, "n_cases": None}
            out[task_id]["paper"] = {}
            continue
        out[task_id] = _attributes(manifest, cuts)
        out[task_id]["task_id"] = task_id
        out[task_id]["paper"] = {k: 100.0 * v for k, v in manifest.paper_dice.items()}
    return out


def add_gains(frame):
    """Columns gain_B/L/H = fine-tuned minus scratch DSC points, per row, where both exist."""
    frame = frame.copy()
    for scale, (scratch, tuned) in SCALES.items():
        frame[f"gain_{scale}"] = frame[tuned] - frame[scratch]
    return frame
