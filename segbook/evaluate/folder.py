"""Evaluate an nnU-Net-style prediction folder against its reference folder."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from segbook.core.errors import InputMissing, InvalidInput
from segbook.evaluate.images import check_same_geometry, list_cases, read_label_image
from segbook.evaluate.labels import DEFAULT_NSD_TOLERANCE_MM, normalize_labels, normalize_tolerances
from segbook.evaluate.metrics import label_boxes, label_map_metrics
from segbook.evaluate.result import EvaluationResult

_SHOWN = 5  # case ids listed in an error message


def _listing(ids) -> str:
    ids = sorted(ids)
    more = f" (+{len(ids) - _SHOWN} more)" if len(ids) > _SHOWN else ""
    return ", ".join(ids[:_SHOWN]) + more


def _values(values: list[int], shown: int = 10) -> str:
    more = f" ... (+{len(values) - shown} more)" if len(values) > shown else ""
    return "[" + ", ".join(str(v) for v in values[:shown]) + more + "]"


def match_cases(pred: dict[str, Path], ref: dict[str, Path], cases,
                pred_dir: Path, ref_dir: Path) -> list[str]:
    """The case ids to evaluate; every one must exist on both sides."""
    wanted = sorted(set(cases)) if cases is not None else sorted(set(ref) | set(pred))
    if not wanted:
        raise InputMissing(f"no cases found in {ref_dir}", hint="check the folder and --file-ending")
    no_ref = [c for c in wanted if c not in ref]
    if no_ref:
        raise InputMissing(f"{len(no_ref)} case(s) have no reference in {ref_dir}: {_listing(no_ref)}",
                           hint="prediction and reference folders must hold the same cases")
    no_pred = [c for c in wanted if c not in pred]
    if no_pred:
        raise InputMissing(f"{len(no_pred)} case(s) have no prediction in {pred_dir}: {_listing(no_pred)}",
                           hint="prediction and reference folders must hold the same cases")
    return wanted


def evaluate_case(case_id: str, pred_path: Path, ref_path: Path, labels: dict[int, str],
                  tolerances: dict[int, float]) -> tuple[dict[str, dict], list[float]]:
    """Metrics of one case: ({str(label): metrics}, spacing in array order)."""
    ref = read_label_image(ref_path)
    pred = read_label_image(pred_path)
    check_same_geometry(ref, pred, case_id)
    boxes = []
    for side, image in (("reference", ref), ("prediction", pred)):
        present, side_boxes = label_boxes(image.array)
        boxes.append(side_boxes)
        unknown = sorted(present - set(labels))
        if unknown:
            raise InvalidInput(f"case {case_id}: {side} holds label values {_values(unknown)} that are not "
                               f"in the label set {_values(sorted(labels))}",
                               hint="check the label map or the label set (--labels / --dataset)")
    foreground = [v for v in labels if v != 0]
    per_label = label_map_metrics(ref.array, pred.array, ref.spacing, foreground, tolerances, (boxes[0], boxes[1]))
    return {str(v): m for v, m in per_label.items()}, list(ref.spacing)


def _evaluate_case_args(args):
    return evaluate_case(*args)


def evaluate_folder(pred_dir, ref_dir, labels: dict, *, nsd_tolerance_mm=DEFAULT_NSD_TOLERANCE_MM,
                    cases: list[str] | None = None, file_ending: str = ".nii.gz",
                    workers: int = 1) -> EvaluationResult:
    """Dice, NSD, HD95 and volumes for every case and foreground label.

    `labels` maps label values to names (background optional); `nsd_tolerance_mm` is one
    tolerance or {label: tolerance}; `cases` restricts the evaluation to these case ids
    (default: all, and both folders must hold the same cases). Writes nothing.
    Raises InputMissing (66) or InvalidInput (65) with a one-line message on bad input.
    """
    pred_dir, ref_dir = Path(pred_dir), Path(ref_dir)
    labels = normalize_labels(labels)
    tolerances = normalize_tolerances(nsd_tolerance_mm, labels)
    pred_files = list_cases(pred_dir, file_ending)
    ref_files = list_cases(ref_dir, file_ending)
    case_ids = match_cases(pred_files, ref_files, cases, pred_dir, ref_dir)
    jobs = [(c, pred_files[c], ref_files[c], labels, tolerances) for c in case_ids]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            outcomes = list(pool.map(_evaluate_case_args, jobs))
    else:
        outcomes = [evaluate_case(*job) for job in jobs]
    result = EvaluationResult(labels={v: n for v, n in labels.items() if v != 0}, tolerances=tolerances)
    for case_id, (per_label, spacing) in zip(case_ids, outcomes, strict=True):
        result.per_case[case_id] = per_label
        result.spacing[case_id] = spacing
    return result
