"""Per-case metrics, their summary (nnU-Net's aggregation) and the per-case x class CSV.

Aggregation, as nnU-Net's summary.json (which SegBook's numbers come from):
  * per class: mean over cases, leaving out cases where the metric is not defined (NaN: class
    absent from both prediction and reference). HD95 also leaves out cases where exactly one
    side is empty (+inf); they are counted in `hd95_infinite`.
  * mean_dice / mean_nsd / mean_hd95: mean over foreground classes of the per-class means
    (classes with no defined value anywhere are left out).
  * mean_dice_case_first: mean over classes within each case, then over cases (reported for
    comparison; equal to mean_dice when no value is NaN).
JSON/receipt form (`to_dict`): NaN and inf become null; `from_dict` restores inf from the
voxel counts, so a result survives a round trip through a receipt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segbook.core.fsio import atomic_write_text
from segbook.evaluate.metrics import HD_PERCENT

CSV_COLUMNS = ["case", "label", "name", "dice", "nsd", "hd95", "volume_ref_ml", "volume_pred_ml",
               "volume_difference_ml", "ref_voxels", "pred_voxels", "nsd_tolerance_mm"]
SUMMARY_METRICS = ("dice", "nsd", "hd95")


def _mean(values) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


@dataclass
class EvaluationResult:
    """Metrics of one prediction folder against its reference folder."""

    labels: dict[int, str]  # foreground labels only
    tolerances: dict[int, float]
    per_case: dict[str, dict[str, dict]] = field(default_factory=dict)
    spacing: dict[str, list[float]] = field(default_factory=dict)  # case -> array-order spacing

    @property
    def summary(self) -> dict:
        per_class = {}
        for value, name in self.labels.items():
            rows = [case[str(value)] for case in self.per_case.values()]
            entry: dict[str, object] = {"name": name}
            for metric in SUMMARY_METRICS:
                entry[metric] = _mean(r[metric] for r in rows)
            entry["n_cases"] = len(rows)
            entry["n_both_empty"] = sum(1 for r in rows if not r["ref_voxels"] and not r["pred_voxels"])
            entry["hd95_infinite"] = sum(1 for r in rows if r["hd95"] == math.inf)
            entry["nsd_tolerance_mm"] = self.tolerances[value]
            per_class[str(value)] = entry
        case_first = [_mean(c[str(v)]["dice"] for v in self.labels) for c in self.per_case.values()]
        return {
            "mean_dice": _mean(e["dice"] for e in per_class.values()),
            "mean_nsd": _mean(e["nsd"] for e in per_class.values()),
            "mean_hd95": _mean(e["hd95"] for e in per_class.values()),
            "mean_dice_case_first": _mean(case_first),
            "n_cases": len(self.per_case),
            "hd_percent": HD_PERCENT,
            "per_class": per_class,
        }

    def rows(self) -> list[dict]:
        """One dict per case x foreground class, in CSV column order."""
        out = []
        for case_id, per_label in self.per_case.items():
            for value, name in self.labels.items():
                metrics = per_label[str(value)]
                row = {"case": case_id, "label": value, "name": name}
                row.update({c: metrics[c] for c in CSV_COLUMNS[3:-1]})
                row["nsd_tolerance_mm"] = self.tolerances[value]
                out.append(row)
        return out

    def to_dataframe(self):
        import pandas as pd  # noqa: PLC0415 - pandas only for tables

        return pd.DataFrame(self.rows(), columns=CSV_COLUMNS)

    def to_csv(self, path: Path) -> Path:
        """Write the per-case x class table atomically (NaN as `nan`, +inf as `inf`)."""
        text = self.to_dataframe().to_csv(index=False, na_rep="nan", float_format="%.10g")
        return atomic_write_text(Path(path), text)

    def to_dict(self) -> dict:
        """The receipt's "metrics" block (strict JSON: non-finite values are null)."""
        return {
            "summary": _json_safe(self.summary),
            "per_case": {case: {label: _json_safe(m) for label, m in per_label.items()}
                         for case, per_label in self.per_case.items()},
            "labels": {str(k): v for k, v in self.labels.items()},
            "nsd_tolerance_mm": {str(k): v for k, v in self.tolerances.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> EvaluationResult:
        labels = {int(k): v for k, v in data["labels"].items()}
        tolerances = {int(k): float(v) for k, v in data["nsd_tolerance_mm"].items()}
        per_case: dict[str, dict] = {}
        for case, per_label in data["per_case"].items():
            per_case[case] = {}
            for label, metrics in per_label.items():
                restored = {k: (float("nan") if v is None else v) for k, v in metrics.items()}
                if bool(metrics["ref_voxels"]) != bool(metrics["pred_voxels"]):
                    restored["hd95"] = float("inf")
                per_case[case][label] = restored
        return cls(labels=labels, tolerances=tolerances, per_case=per_case)
