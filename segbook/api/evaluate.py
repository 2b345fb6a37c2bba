"""`segbook evaluate PRED_DIR REF_DIR`: Dice, NSD and HD95 per case and class, written as CSV (and JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segbook.catalog.loader import ManifestsDir
from segbook.core.errors import OutputBlocked, UsageProblem
from segbook.core.fsio import atomic_write_json
from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.settings import Settings

if TYPE_CHECKING:
    from segbook.evaluate.result import EvaluationResult


@dataclass(frozen=True)
class EvaluateRequest:
    pred_dir: Path
    ref_dir: Path
    labels_json: Path | None = None  # nnU-Net dataset.json (default: REF_DIR's or its parent's)
    dataset: str | None = None  # or the label set of this catalog dataset
    out: Path | None = None  # the per-case x class CSV (default: PRED_DIR/metrics.csv)
    json_out: Path | None = None  # also the summary + per-case metrics as JSON
    nsd_tolerance_mm: float | dict[int, float] | None = None  # None: the default for every class
    file_ending: str = CASE_FILE_ENDING
    cases: tuple[str, ...] = ()  # empty: every case
    workers: int = 1
    force: bool = False  # replace existing output files


@dataclass(frozen=True)
class EvaluateOutcome:
    result: EvaluationResult
    label_source: str  # where the label set came from ("dataset NAME" or a dataset.json)
    csv: Path
    json: Path | None


def _find_dataset_json(ref_dir: Path) -> Path | None:
    for candidate in (ref_dir / "dataset.json", ref_dir.parent / "dataset.json"):
        if candidate.is_file():
            return candidate
    return None


def resolve_labels(labels_json: Path | None, dataset: str | None, ref_dir: Path,
                   manifests_dir: ManifestsDir) -> tuple[dict[int, str], str]:
    """The label set and where it came from: --labels, --dataset, or the dataset.json beside REF_DIR."""
    from segbook.evaluate.labels import labels_from_catalog, labels_from_dataset_json  # noqa: PLC0415 - numpy on use

    if labels_json and dataset:
        raise UsageProblem("give either --labels or --dataset, not both")
    if dataset:
        return labels_from_catalog(dataset, manifests_dir), f"dataset {dataset}"
    path = labels_json or _find_dataset_json(ref_dir)
    if path is None:
        raise UsageProblem(f"no label set: no dataset.json in {ref_dir} or its parent",
                           hint="pass --labels PATH/dataset.json or --dataset NAME")
    return labels_from_dataset_json(path), str(path)


def evaluate(request: EvaluateRequest, settings: Settings) -> EvaluateOutcome:
    """Evaluate every case, then write the CSV (and JSON); an existing output is refused unless forced."""
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415 - numpy on use
    from segbook.evaluate.labels import DEFAULT_NSD_TOLERANCE_MM  # noqa: PLC0415 - numpy on use

    out = request.out or request.pred_dir / "metrics.csv"
    for target in (out, request.json_out):
        if target is not None and target.exists() and not request.force:
            raise OutputBlocked(f"{target} already exists", hint="pass --force to replace it")
    labels, source = resolve_labels(request.labels_json, request.dataset, request.ref_dir, settings.manifests_dir)
    tolerance = DEFAULT_NSD_TOLERANCE_MM if request.nsd_tolerance_mm is None else request.nsd_tolerance_mm
    result = evaluate_folder(request.pred_dir, request.ref_dir, labels, nsd_tolerance_mm=tolerance,
                             cases=list(request.cases) or None, file_ending=request.file_ending,
                             workers=request.workers)
    try:
        result.to_csv(out)
        if request.json_out is not None:
            atomic_write_json(request.json_out, result.to_dict())
    except OSError as exc:
        raise OutputBlocked(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    return EvaluateOutcome(result, source, out, request.json_out)
