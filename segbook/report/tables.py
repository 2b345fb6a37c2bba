"""Paper-style tables: ours next to the paper, grouped as the paper groups them.

All Dice values are DSC in percent (0-100), as the paper prints them; differences and
fine-tuning gains are in DSC points. Group means are recomputed from per-dataset values.
"""

from __future__ import annotations

import math

from segbook.report.paper import DATASET_COLUMNS, add_gains
from segbook.report.receipts import PAPER_KEYS, SCALES

GAIN_SCALES = ("S", *SCALES)  # S has no paper column, but ours can be compared

DEFAULT_TOLERANCE_POINTS = 2.0  # |ours - paper| within 2 DSC points counts as reproduced
GROUPINGS = {"size": "dataset size", "modality_target": "modality x target", "region": "anatomical region"}
ALL = "all datasets"
_SIZE_ORDER = {"small": 0, "medium": 1, "large": 2}

COMPARISON_COLUMNS = DATASET_COLUMNS + ["configuration", "paper_key", "dsc", "dsc_paper", "diff", "within",
                                        "nsd", "hd95", "n_test_cases", "kit_version"]


def group_order(by: str, values) -> list:
    """Groups in the paper's order: sizes small, medium, large; other groupings alphabetically."""
    if by == "size":
        return sorted(values, key=lambda v: (_SIZE_ORDER.get(v, 9), v))
    return sorted(values)


_group_order = group_order  # the earlier private name


def comparison(runs, attributes: dict[str, dict], tolerance: float):
    """One row per dataset x configuration run: ours, the paper's value, difference, within band."""
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    for run in runs.to_dict("records"):
        attrs = attributes[run["task_id"]]
        paper = attrs["paper"].get(run["paper_key"]) if run["paper_key"] else None
        paper = float("nan") if paper is None else paper
        diff = run["dsc"] - paper
        row = {c: attrs[c] for c in DATASET_COLUMNS}
        row.update({k: run[k] for k in ("configuration", "paper_key", "dsc", "nsd", "hd95", "n_test_cases",
                                        "kit_version")})
        row.update({"dsc_paper": paper, "diff": diff,
                    "within": None if math.isnan(diff) else bool(abs(diff) <= tolerance)})
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def grouped_comparison(table, by: str):
    """Mean DSC per group and configuration, ours and the paper's over the same datasets."""
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    groups = [(ALL, table)] + [(g, table[table[by] == g]) for g in group_order(by, table[by].unique())]
    for group, part in groups:
        for config in sorted(part["configuration"].unique()):
            sub = part[part["configuration"] == config]
            paired = sub[sub["dsc_paper"].notna()]
            rows.append({
                "group": group, "configuration": config, "n_datasets": len(sub), "dsc": sub["dsc"].mean(),
                "dsc_paper": paired["dsc_paper"].mean() if len(paired) else float("nan"),
                "diff": paired["diff"].mean() if len(paired) else float("nan"),
                "within": f"{int(paired['within'].sum())}/{len(paired)}" if len(paired) else "",
            })
    return pd.DataFrame(rows, columns=["group", "configuration", "n_datasets", "dsc", "dsc_paper", "diff",
                                       "within"])


def finetune_gains(table):
    """Per dataset and STU-Net scale with both runs: fine-tuned minus scratch, ours and the paper's.

    Pairs are found by configuration name, so STU-Net-S (no paper column; the demo's model) counts too.
    """
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    by_name = {(r["task_id"], r["configuration"]): r for r in table.to_dict("records")}
    for task_id in sorted(table["task_id"].unique()):
        for scale in GAIN_SCALES:
            a = by_name.get((task_id, f"stunet-{scale.lower()}_scratch"))
            b = by_name.get((task_id, f"stunet-{scale.lower()}_ft"))
            if a is None or b is None:
                continue
            row = {c: b[c] for c in DATASET_COLUMNS}
            row.update({"scale": scale, "dsc_scratch": a["dsc"], "dsc_ft": b["dsc"], "gain": b["dsc"] - a["dsc"],
                        "gain_paper": b["dsc_paper"] - a["dsc_paper"]})
            rows.append(row)
    return pd.DataFrame(rows, columns=DATASET_COLUMNS + ["scale", "dsc_scratch", "dsc_ft", "gain",
                                                         "gain_paper"])


def grouped_gains(gains, by: str):
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = []
    groups = [(ALL, gains)] + [(g, gains[gains[by] == g]) for g in group_order(by, gains[by].unique())]
    for group, part in groups:
        for scale in GAIN_SCALES:
            sub = part[part["scale"] == scale]
            if len(sub):
                rows.append({"group": group, "scale": scale, "n_datasets": len(sub), "gain": sub["gain"].mean(),
                             "gain_paper": sub["gain_paper"].mean()})
    return pd.DataFrame(rows, columns=["group", "scale", "n_datasets", "gain", "gain_paper"])


# --- the paper alone -------------------------------------------------------------------------

def paper_table(datasets):
    """Per dataset: the seven configurations and the fine-tuning gains (DSC points)."""
    return add_gains(datasets)


def paper_grouped(table, by: str):
    """Means over the datasets of each group (and over all), recomputed from per-dataset values."""
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    value_columns = list(PAPER_KEYS) + [f"gain_{s}" for s in SCALES]
    rows = []
    groups = [(ALL, table)] + [(g, table[table[by] == g]) for g in group_order(by, table[by].unique())]
    for group, part in groups:
        row = {"group": group, "n_datasets": len(part)}
        row.update({c: part[c].mean() for c in value_columns})
        rows.append(row)
    return pd.DataFrame(rows, columns=["group", "n_datasets", *value_columns])


def paper_gains_long(table):
    """Per dataset and scale: the paper's fine-tuning gain, for the gain plot."""
    import pandas as pd  # noqa: PLC0415 - pandas only when a table is built

    rows = [{"task_id": r["task_id"], "dataset": r["dataset"], "scale": s, "gain_paper": r[f"gain_{s}"]}
            for r in table.to_dict("records") for s in SCALES]
    return pd.DataFrame(rows, columns=["task_id", "dataset", "scale", "gain_paper"])
