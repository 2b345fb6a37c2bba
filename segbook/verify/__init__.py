"""`segbook verify`: re-check a receipt against the files on disk, other receipts, expectations.

Every check yields (what, recorded, found); a difference is a mismatch or a missing file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from segbook.core.hashing import image_content_hash
from segbook.core.receipt import RECEIPT_NAME, load_receipt
from segbook.core.splits import Split

# what must agree between two runs of the same dataset x configuration x seed
COMPARED_HASHES = ("split", "plans", "final_weights", "predictions")


@dataclass(frozen=True)
class Finding:
    what: str
    recorded: object
    found: object

    @property
    def ok(self) -> bool:
        return self.recorded == self.found

    def describe(self) -> str:
        return f"{self.what}: recorded {_short(self.recorded)}, found {_short(self.found)}"


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:16] + "..."


def receipt_path(path: Path) -> Path:
    path = Path(path)
    return path / RECEIPT_NAME if path.is_dir() else path


def check_files(path: Path, progress=lambda msg: None) -> list[Finding]:
    """Recompute every hash the receipt records from the files in its run folder."""
    from segbook.models.checkpoint import checkpoint_tensor_hash  # noqa: PLC0415
    from segbook.nnunet.steps import plans_hash  # noqa: PLC0415

    path = receipt_path(path)
    receipt = load_receipt(path)
    run_dir = path.parent
    files, hashes = receipt["files"], receipt["hashes"]
    findings = []

    def recompute(what, recorded, relative, function):
        target = run_dir / relative
        found = function(target) if target.exists() else f"missing file {relative}"
        findings.append(Finding(what, recorded, found))

    recompute("split", hashes["split"], files["split"],
              lambda p: Split.from_dict(json.loads(p.read_text())).sha256)
    recompute("plans", hashes["plans"], files["plans"], plans_hash)
    progress("verify: hashing the final weights")
    recompute("final_weights", hashes["final_weights"], files["final_weights"], checkpoint_tensor_hash)
    predictions_dir = files["predictions"]
    for case_id, recorded in sorted(hashes["predictions"].items()):
        recompute(f"prediction {case_id}", recorded, f"{predictions_dir}{case_id}.nii.gz", _image_hash)
    return findings


def _image_hash(path: Path) -> str:
    """SimpleITK reads a truncated NIfTI as if complete (zeros): check the file first."""
    from segbook.convert.integrity import nifti_problem  # noqa: PLC0415

    problem = nifti_problem(path)
    return f"unreadable ({problem})" if problem else image_content_hash(path)


def compare_receipts(reference: Path, other: Path) -> list[Finding]:
    """Do two runs agree on every hash that determinism promises?"""
    a, b = load_receipt(receipt_path(reference)), load_receipt(receipt_path(other))
    findings = [Finding("dataset", a["dataset"].get("dataset_sha256"), b["dataset"].get("dataset_sha256"))]
    for key in COMPARED_HASHES:
        if key == "predictions":
            cases = sorted(set(a["hashes"]["predictions"]) | set(b["hashes"]["predictions"]))
            findings += [Finding(f"prediction {c}", a["hashes"]["predictions"].get(c),
                                 b["hashes"]["predictions"].get(c)) for c in cases]
        else:
            findings.append(Finding(key, a["hashes"].get(key), b["hashes"].get(key)))
    return findings


def check_expected(path: Path, expected_file: Path, tolerance: float) -> list[Finding]:
    """Compare the receipt's metrics summary with an expected JSON {"mean_dice": x, "per_class": {...}}."""
    summary = load_receipt(receipt_path(path))["metrics"]["summary"]
    expected = json.loads(Path(expected_file).read_text())
    findings = []
    if "mean_dice" in expected:
        findings.append(_close("mean_dice", expected["mean_dice"], summary.get("mean_dice"), tolerance))
    for label, values in sorted(expected.get("per_class", {}).items()):
        got = summary.get("per_class", {}).get(label, {})
        for metric, value in sorted(values.items()):
            if isinstance(value, (int, float)):
                findings.append(_close(f"class {label} {metric}", value, got.get(metric), tolerance))
    return findings


def _close(what: str, expected: float, found, tolerance: float) -> Finding:
    ok = isinstance(found, (int, float)) and math.isclose(found, expected, abs_tol=tolerance)
    return Finding(what, expected, expected if ok else found)
