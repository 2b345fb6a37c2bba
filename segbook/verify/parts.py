"""What a receipt points at, checked for shape and confinement before any file is opened.

Shared by `verify` (which then re-derives every hash) and the "is this cell done?" check (which
only looks that the pieces are there and agree with each other): one reading of a receipt's
structure, so the two can never disagree about what a well-formed receipt is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.splits import Split
from segbook.verify.fields import confined, field, name_map
from segbook.verify.rederive import reference_label_paths, validate


@dataclass(frozen=True)
class ReceiptParts:
    run_dir: Path
    split: str  # hashes.split
    plans: str  # hashes.plans
    final_weights: str  # hashes.final_weights
    split_file: Path
    plans_file: Path
    weights_file: Path
    predictions_dir: Path
    predictions: dict[str, str]  # case -> recorded content hash
    prediction_files: dict[str, Path]
    labels: dict[str, str]  # case -> recorded reference-label hash
    labels_dir: Path
    label_files: dict[str, Path]


def receipt_parts(receipt: dict, path: Path) -> ReceiptParts:
    """Every field verify reads, typed and confined to the run folder; InvalidInput (65) otherwise."""
    run_dir = path.resolve().parent
    split_file = confined(run_dir, field(receipt, "files.split", str, path), "files.split", path)
    plans_file = confined(run_dir, field(receipt, "files.plans", str, path), "files.plans", path)
    weights_file = confined(run_dir, field(receipt, "files.final_weights", str, path), "files.final_weights", path)
    predictions_rel = field(receipt, "files.predictions", str, path).rstrip("/") or "."
    predictions_dir = confined(run_dir, predictions_rel, "files.predictions", path)
    predictions = name_map(receipt, "hashes.predictions", path)
    prediction_files = {case: confined(run_dir, f"{predictions_rel}/{case}{CASE_FILE_ENDING}",
                                       f"prediction {case}", path) for case in predictions}
    labels = name_map(receipt, "hashes.test_labels", path)
    labels_dir, label_files = reference_label_paths(run_dir, receipt, sorted(labels), path)
    parts = ReceiptParts(run_dir, field(receipt, "hashes.split", str, path), field(receipt, "hashes.plans", str, path),
                         field(receipt, "hashes.final_weights", str, path), split_file, plans_file, weights_file,
                         predictions_dir, predictions, prediction_files, labels, labels_dir, label_files)
    validate(receipt, path)
    return parts


def read_split(path: Path) -> Split:
    """The split a run folder's split.json holds (it is hashed, so any reading error is the caller's finding)."""
    return Split.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
