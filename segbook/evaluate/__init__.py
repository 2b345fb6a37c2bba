"""Segmentation metrics (Dice, NSD, HD95, volumes) per case and class; numpy/scipy only.

    from segbook.evaluate import evaluate_folder
    result = evaluate_folder(pred_dir, ref_dir, {1: "spleen"}, nsd_tolerance_mm=1.0)
    result.summary["mean_dice"]; result.to_csv(path); result.to_dict()  # receipt "metrics"

Definitions and conventions: docs/metrics.md.
"""

from segbook.evaluate.folder import evaluate_case, evaluate_folder
from segbook.evaluate.labels import (
    DEFAULT_NSD_TOLERANCE_MM,
    labels_from_catalog,
    labels_from_dataset_json,
    normalize_labels,
)
from segbook.evaluate.metrics import binary_metrics, label_map_metrics
from segbook.evaluate.result import CSV_COLUMNS, EvaluationResult

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_NSD_TOLERANCE_MM",
    "EvaluationResult",
    "binary_metrics",
    "evaluate_case",
    "evaluate_folder",
    "label_map_metrics",
    "labels_from_catalog",
    "labels_from_dataset_json",
    "normalize_labels",
]
