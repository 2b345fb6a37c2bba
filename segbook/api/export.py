"""`segbook export RUN... --out MODEL.zip`: a trained cell (its folds) as an nnU-Net model zip with proof.

    check the runs (each receipt verifies; folds of one cell) -> the model card -> the zip, atomically

The layout and SHA256SUMS are segbook.predict.archive's; docs/predict.md says how plain nnU-Net runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import Differences
from segbook.core.progress import Progress
from segbook.core.settings import Settings


@dataclass(frozen=True)
class ExportRequest:
    runs: tuple[Path, ...]  # run folders (or receipts): one, or the folds of one cell
    out: Path  # the zip to write
    force: bool = False  # replace an existing zip


@dataclass(frozen=True)
class ExportOutcome:
    archive: Path
    members: list[str]
    warnings: list[str]  # the training data's licence warnings (also in MODEL_CARD.md)


def export(request: ExportRequest, settings: Settings, progress: Progress) -> ExportOutcome:
    from segbook.core.receipt import read_receipt_json  # noqa: PLC0415
    from segbook.predict.archive import members_of, write_archive  # noqa: PLC0415
    from segbook.predict.card import licence_warnings, model_card  # noqa: PLC0415
    from segbook.predict.model import locate_model, one_cell, unverified_reasons  # noqa: PLC0415

    models = sorted((locate_model(run) for run in request.runs), key=lambda m: m.fold)
    one_cell(models)
    for model in models:
        progress(f"export: verifying {model.receipt_path}")
        reasons = unverified_reasons(model, settings.manifests_dir, progress)
        if reasons:
            raise Differences(f"{model.run_dir} does not verify ({len(reasons)} difference(s)): an export must "
                              "be what its receipts say", hint="run `segbook verify` on it and fix or rerun the "
                              "cell", details=tuple(reasons))
    receipts = [read_receipt_json(m.receipt_path) for m in models]
    progress(f"export: hashing {len(models)} fold(s) into {request.out}")
    members = members_of(models, model_card(receipts))
    archive = write_archive(members, request.out, force=request.force)
    licence = (receipts[0].get("dataset") or {}).get("licence")
    return ExportOutcome(archive, sorted(members), licence_warnings(licence))
