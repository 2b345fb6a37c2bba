"""`segbook verify`: re-check a receipt against the files on disk, other receipts, expectations.

Every check yields a Finding (what, recorded, found); a difference is a mismatch, a missing or a
damaged file (exit 1 in the CLI, never an abort). A receipt that is malformed, or whose paths
lead outside its run folder, is refused before anything is opened (InvalidInput, exit 65).
What is checked, in order (docs/trust.md):
  split, plans, final weights, every prediction  -- hashes recomputed from the run folder's files;
  every held-out reference label                  -- from OUT/nnUNet_raw/<dataset>/labelsTs, against
                                                     hashes.test_labels and the dataset lock;
  the metrics                                     -- recomputed from predictions and references
                                                     and compared exactly with the receipt's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import InvalidInput
from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.receipt import RECEIPT_NAME, load_receipt
from segbook.verify.compared import COMPARED_HASHES, compared_hashes, union_of_names
from segbook.verify.fields import field, name_map
from segbook.verify.finding import Finding
from segbook.verify.parts import read_split, receipt_parts
from segbook.verify.rederive import check_against_lock, rederive_metrics

__all__ = ["COMPARED_HASHES", "Finding", "check_expected", "check_files", "compare_receipts", "receipt_path"]



def receipt_path(path: Path) -> Path:
    path = Path(path)
    return path / RECEIPT_NAME if path.is_dir() else path


def _recompute(what: str, recorded, target: Path, shown: str, function: Callable[[Path], object]) -> Finding:
    """A damaged or missing file is a finding (never an exception): that is what verify reports."""
    if not target.exists():
        return Finding(what, recorded, f"missing file {shown}")
    try:
        found = function(target)
    except Exception as exc:  # any way a file fails to hash is a listed difference
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        found = f"unreadable ({' '.join(str(reason).split())})"
    return Finding(what, recorded, found)


def _image_hash(path: Path) -> str:
    from segbook.core.hashing import image_content_hash  # noqa: PLC0415 - SimpleITK only when used

    return image_content_hash(path)


def check_files(path: Path, progress: Callable[[str], None] = lambda msg: None, *,
                manifests_dir: ManifestsDir) -> list[Finding]:
    """Recompute every hash the receipt records, check the reference labels, re-derive the metrics.

    Raises InputMissing (no receipt) or InvalidInput (malformed receipt, a path that escapes);
    everything else that differs, is missing or is damaged comes back as a Finding.
    """
    from segbook.models.checkpoint import checkpoint_tensor_hash  # noqa: PLC0415
    from segbook.nnunet.planning import plans_hash  # noqa: PLC0415

    path = receipt_path(path)
    receipt = load_receipt(path)
    parts = receipt_parts(receipt, path)
    run_dir, split_file, plans_file = parts.run_dir, parts.split_file, parts.plans_file
    weights_file = parts.weights_file
    predictions, prediction_files, predictions_dir = parts.predictions, parts.prediction_files, parts.predictions_dir
    labels, labels_dir, label_files, recorded_split = parts.labels, parts.labels_dir, parts.label_files, parts.split

    findings = [_recompute("split", recorded_split, split_file, "split.json", lambda p: read_split(p).sha256),
                _recompute("plans", field(receipt, "hashes.plans", str, path), plans_file, "plans.json", plans_hash)]
    progress("verify: hashing the final weights")
    findings.append(_recompute("final_weights", field(receipt, "hashes.final_weights", str, path), weights_file,
                               str(weights_file.relative_to(run_dir)), checkpoint_tensor_hash))
    inputs = []
    for case, recorded in sorted(predictions.items()):
        inputs.append(_recompute(f"prediction {case}", recorded, prediction_files[case], f"{case}{CASE_FILE_ENDING}",
                                 _image_hash))
    for case, recorded in sorted(labels.items()):
        inputs.append(_recompute(f"test label {case}", recorded, label_files[case], str(label_files[case]),
                                 _image_hash))
    cases = sorted(labels)
    if findings[0].ok:  # the split file is the pinned one: it says which cases must be there
        cases = sorted(read_split(split_file).test)
        inputs.append(Finding("test cases with a prediction", ", ".join(sorted(predictions)), ", ".join(cases)))
        inputs.append(Finding("test cases with a reference label", ", ".join(sorted(labels)), ", ".join(cases)))
    findings += inputs
    findings += check_against_lock(receipt, path, run_dir, labels, manifests_dir, progress)
    if all(f.ok for f in inputs):
        progress(f"verify: re-deriving the metrics of {len(cases)} test case(s)")
        findings += rederive_metrics(receipt, path, predictions_dir, labels_dir, cases)
    else:
        findings.append(Finding("metrics", "recomputed", "not recomputed: a prediction or reference label differs"))
    return findings


def _hashes_of(path: Path) -> dict:
    where = receipt_path(path)
    receipt = load_receipt(where)
    field(receipt, "hashes", dict, where)
    name_map(receipt, "hashes.predictions", where)
    field(receipt, "dataset", dict, where)
    return compared_hashes(receipt)


def compare_receipts(reference: Path, other: Path) -> list[Finding]:
    """Do two runs agree on every hash that determinism promises? (the list repro-check compares too)"""
    a, b = _hashes_of(reference), _hashes_of(other)
    return [Finding(name, a.get(name), b.get(name)) for name in union_of_names(a, b)]


def _expected_metrics(expected_file: Path) -> dict:
    """{"mean_dice": x, "per_class": {label: {metric: x}}} from a JSON file, or InvalidInput."""
    try:
        expected = json.loads(Path(expected_file).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"--expected {expected_file} is not valid JSON ({exc})",
                           hint='write it as {"mean_dice": x, "per_class": {"1": {"dice": x}}}') from exc
    per_class = expected.get("per_class", {}) if isinstance(expected, dict) else None
    if not isinstance(per_class, dict) or not all(isinstance(v, dict) for v in per_class.values()) \
            or not isinstance(expected.get("mean_dice", 0.0), int | float):
        raise InvalidInput(f"--expected {expected_file} is not an object of expected metrics",
                           hint='write it as {"mean_dice": x, "per_class": {"1": {"dice": x}}}')
    return expected


def check_expected(path: Path, expected_file: Path, tolerance: float) -> list[Finding]:
    """Compare the receipt's metrics summary with an expected JSON {"mean_dice": x, "per_class": {...}}."""
    where = receipt_path(path)
    summary = field(load_receipt(where), "metrics.summary", dict, where)
    expected = _expected_metrics(expected_file)
    recorded_classes = summary.get("per_class") if isinstance(summary.get("per_class"), dict) else {}
    findings = []
    if "mean_dice" in expected:
        findings.append(_close("mean_dice", expected["mean_dice"], summary.get("mean_dice"), tolerance))
    for label, values in sorted(expected["per_class"].items() if "per_class" in expected else []):
        entry = recorded_classes.get(label)
        got = entry if isinstance(entry, dict) else {}
        for metric, value in sorted(values.items()):
            if isinstance(value, int | float):
                findings.append(_close(f"class {label} {metric}", value, got.get(metric), tolerance))
    return findings


def _close(what: str, expected: float, found, tolerance: float) -> Finding:
    ok = isinstance(found, int | float) and math.isclose(found, expected, abs_tol=tolerance)
    return Finding(what, expected, expected if ok else found)
