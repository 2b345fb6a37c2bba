"""Re-derive a run's metrics from its predictions and its pinned held-out reference labels.

The reference labels live in the output root the run folder belongs to:
OUT/nnUNet_raw/<dataset.nnunet_dataset>/labelsTs/<case>.nii.gz, OUT being run folder/../../..
Before they are used, each must match the content hash the receipt recorded
(hashes.test_labels) and, where a dataset lock is found (the catalog's, or OUT/locks/ for a
dataset given as a folder), the lock's own hash of that label. Only then are the metrics
computed again, with the kit's own evaluation, and compared value by value, exactly, with the
receipt's metrics block.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import InvalidInput, SegbookError
from segbook.core.layout import CASE_FILE_ENDING, out_root_of_run, test_labels_dir
from segbook.verify.fields import ESCAPE_HINT, field, safe_name
from segbook.verify.finding import Finding

MAX_LISTED = 20  # differing metric values listed one by one; the rest are counted
ABSENT = "(absent)"


def reference_label_paths(run_dir: Path, receipt: dict, cases: list[str],
                          where: Path) -> tuple[Path, dict[str, Path]]:
    """(labelsTs folder, {case: its reference label file}); InvalidInput if one resolves outside
    the prepared dataset's folder."""
    dataset = safe_name(field(receipt, "dataset.nnunet_dataset", str, where), "dataset.nnunet_dataset", where)
    folder = test_labels_dir(out_root_of_run(run_dir), dataset)
    base = folder.parent.resolve()
    paths = {}
    for case in cases:
        path = folder / f"{case}{CASE_FILE_ENDING}"
        try:
            inside = path.resolve().is_relative_to(base)
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            raise InvalidInput(f"reference label {path} resolves outside {base} through a symbolic link",
                               hint=ESCAPE_HINT)
        paths[case] = path
    return folder, paths


def find_lock(task_id: str, out_root: Path, manifests_dir: ManifestsDir) -> Path | None:
    """The dataset's lock: the catalog's, else OUT/locks/<task>.lock (datasets given as folders)."""
    from segbook.catalog import load_catalog  # noqa: PLC0415

    candidates = []
    try:
        candidates.append(load_catalog(manifests_dir).get(task_id).lock_path)
    except SegbookError:
        pass  # not a catalog dataset (or no catalog here)
    candidates.append(out_root / "locks" / f"{task_id}.lock")
    return next((c for c in candidates if c.is_file()), None)


def check_against_lock(receipt: dict, where: Path, run_dir: Path, labels: dict[str, str],
                       manifests_dir: ManifestsDir, progress: Callable[[str], None]) -> list[Finding]:
    """The receipt's dataset lock hash, split and test-label hashes against the lock file, if any."""
    from segbook.catalog.lock import LABEL_CHANNEL, lock_sha256, read_lock  # noqa: PLC0415

    task_id = safe_name(field(receipt, "dataset.task_id", str, where), "dataset.task_id", where)
    lock_file = find_lock(task_id, out_root_of_run(run_dir), manifests_dir)
    if lock_file is None:
        progress(f"verify: no lock for {task_id} here: reference labels are checked against the receipt only")
        return []
    try:
        lock = read_lock(lock_file)
    except SegbookError as exc:
        return [Finding("dataset lock", "readable", f"unreadable ({exc.message})")]
    if lock is None:  # removed since find_lock saw it
        return [Finding("dataset lock", "readable", f"unreadable ({lock_file} is gone)")]
    recorded_lock = field(receipt, "dataset.lock_sha256", (str, type(None)), where)
    findings = [Finding(f"dataset lock {lock_file.name}", recorded_lock, lock_sha256(lock)),
                Finding("split (lock)", field(receipt, "hashes.split", str, where), lock.split_sha256)]
    pinned_test = sorted(case for case, where_ in lock.assignment.items() if where_ == "test")
    findings.append(Finding("test cases (lock)", ", ".join(sorted(labels)), ", ".join(pinned_test)))
    for case, recorded in sorted(labels.items()):
        pinned = lock.images.get((case, LABEL_CHANNEL))
        findings.append(Finding(f"test label {case} (lock)", recorded, pinned.content if pinned else "not in the lock"))
    return findings


def validate(receipt: dict, where: Path) -> None:
    """Check up front every field the re-derivation reads (InvalidInput before any work)."""
    safe_name(field(receipt, "dataset.task_id", str, where), "dataset.task_id", where)
    field(receipt, "dataset.lock_sha256", (str, type(None)), where)
    field(receipt, "metrics", dict, where)
    _labels(receipt, where)


def _labels(receipt: dict, where: Path) -> dict[int, str]:
    raw = field(receipt, "dataset.labels", dict, where)
    try:
        return {int(value): str(name) for value, name in raw.items()}
    except (TypeError, ValueError):
        raise InvalidInput(f"receipt {where}: dataset.labels must map label values to names",
                           hint="the receipt was edited or is damaged") from None


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict) and value:
        flat: dict[str, object] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def compare_metrics(recorded: dict, found: dict) -> list[Finding]:
    """Every metric value, exactly: one finding per differing value (the first MAX_LISTED)."""
    a, b = _flatten(recorded), _flatten(found)
    differing = [k for k in sorted(set(a) | set(b)) if a.get(k, ABSENT) != b.get(k, ABSENT)]
    if not differing:
        same = f"{len(a)} values"
        return [Finding("metrics", same, same)]
    findings = [Finding(f"metrics {k}", a.get(k, ABSENT), b.get(k, ABSENT)) for k in differing[:MAX_LISTED]]
    if len(differing) > MAX_LISTED:
        findings.append(Finding("metrics", f"{len(differing) - MAX_LISTED} more values", "differ too"))
    return findings


def rederive_metrics(receipt: dict, where: Path, predictions_dir: Path, labels_dir: Path,
                     cases: list[str]) -> list[Finding]:
    """Evaluate the predictions again (segbook.evaluate, the protocol's NSD tolerance) and compare."""
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415

    recorded = field(receipt, "metrics", dict, where)
    labels = _labels(receipt, where)
    try:
        result = evaluate_folder(predictions_dir, labels_dir, labels, cases=cases)
    except SegbookError as exc:
        return [Finding("metrics", "recomputable", f"cannot be recomputed ({exc.message})")]
    found = json.loads(json.dumps(result.to_dict()))  # the receipt's own JSON form (str keys, null for NaN)
    return compare_metrics(recorded, found)
