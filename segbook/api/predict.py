"""`segbook predict MODEL... INPUT OUTPUT`: a trained cell applied to new scans, with a receipt.

    check the models (receipts verify, tensors match) -> find the cases -> predict the ones not done
    (nnU-Net's predictor in a child process) -> move each into OUTPUT and record it -> mark complete

Predictions are written in each input's own geometry, under a temporary name then renamed; the
receipt (segbook.predict.record) is rewritten after each case, so a cut run continues where it
stopped. docs/predict.md says what each check means.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from segbook.core.errors import Differences, InvalidInput, OutputBlocked
from segbook.core.fsio import atomic_write_json, ensure_writable_dir
from segbook.core.hashing import image_content_hash
from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.locks import exclusive, lock_path
from segbook.core.progress import Progress
from segbook.core.settings import Settings

WORK_DIR = ".segbook-predict"  # inside OUTPUT: staging, the child's job file and log


@dataclass(frozen=True)
class PredictRequest:
    models: tuple[Path, ...]  # run folders (or their receipts): one, or the folds of one cell
    source: Path  # an image file or a folder of images
    output: Path  # folder for <case>.nii.gz and predict_receipt.json
    tta: bool = True  # nnU-Net's mirroring test-time augmentation
    device: str = "auto"
    trust_unverified: bool = False  # use a model whose receipt does not verify (recorded)
    force: bool = False  # replace what OUTPUT holds
    verbose: bool = False
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PredictOutcome:
    receipt_path: Path
    predicted: list[str]
    skipped: list[str]  # already made, inputs and output unchanged


def _checked_models(request: PredictRequest, settings: Settings, progress: Progress):
    from segbook.predict.model import locate_model, one_cell, unverified_reasons  # noqa: PLC0415

    models = [locate_model(path) for path in request.models]
    one_cell(models)
    verdicts = {}
    for model in models:
        progress(f"predict: verifying {model.receipt_path}")
        reasons = unverified_reasons(model, settings.manifests_dir, progress)
        if reasons and not request.trust_unverified:
            raise Differences(f"{model.run_dir} does not verify ({len(reasons)} difference(s)): the model is not "
                              "what its receipt says", hint="run `segbook verify` on it; --trust-unverified uses it "
                              "anyway (recorded in the predict receipt)", details=tuple(reasons))
        verdicts[model.receipt_path] = reasons
    return models, verdicts


def _check_labels(models) -> None:
    first = models[0]
    for other in models[1:]:
        if other.labels != first.labels or other.channels != first.channels:
            raise InvalidInput(f"{other.run_dir} and {first.run_dir} have different labels or channels",
                               hint="give the folds of one cell")


def _case_entry(case, output_file: Path) -> dict:
    return {"inputs": {p.name: image_content_hash(p) for p in case.files},
            "output": output_file.name, "output_hash": image_content_hash(output_file)}


def _already_done(record: dict | None, case, output_file: Path) -> bool:
    entry = (record or {}).get("cases", {}).get(case.case_id)
    if not isinstance(entry, dict) or not output_file.is_file():
        return False
    return entry == _case_entry(case, output_file)


def predict(request: PredictRequest, settings: Settings, progress: Progress) -> PredictOutcome:
    from segbook.api.finetune import resolve_device  # noqa: PLC0415 - torch on use
    from segbook.core.provenance import device_info, kit_info, package_versions, runtime_info  # noqa: PLC0415
    from segbook.predict import record as records  # noqa: PLC0415
    from segbook.predict.inputs import find_cases  # noqa: PLC0415

    models, verdicts = _checked_models(request, settings, progress)
    _check_labels(models)
    cases = find_cases(request.source, len(models[0].channels))
    device = resolve_device(request.device)
    output = ensure_writable_dir(Path(request.output))
    options = {"tta": request.tta, "tile_step_size": 0.5, "gaussian": True, "device": device}
    model_records = [m.record(verified=not verdicts[m.receipt_path]) for m in models]
    asked = records.what_was_asked(model_records, options)
    with exclusive(lock_path(output, "predict"), what="prediction into this folder", mode=settings.lock_mode):
        previous = None if request.force else records.previous_record(output)
        if previous is not None:
            records.refuse_other_request(previous, asked, output)
        todo, done = [], []
        for case in cases:
            target = output / f"{case.case_id}{CASE_FILE_ENDING}"
            if _already_done(previous, case, target):
                done.append(case.case_id)
            elif target.exists() and not request.force:
                raise OutputBlocked(f"{target} exists and is not a prediction this request recorded",
                                    hint="choose another OUTPUT, or pass --force to replace it")
            else:
                todo.append(case)
        header = {"kit": kit_info(settings), "runtime": runtime_info(settings), "versions": package_versions(),
                  "device": device_info(device), "command": list(request.command), "models": model_records,
                  "trust_unverified": request.trust_unverified,
                  "unverified": {str(p): r for p, r in verdicts.items() if r}, "options": options,
                  "labels": models[0].labels, "channels": models[0].channels}
        kept = {c: previous["cases"][c] for c in done} if previous else {}
        record = records.PredictRecord(output, header, kept)
        if done:
            progress(f"predict: {len(done)} case(s) already made and unchanged: skipped")
        if todo:
            _run_child(request, models, todo, output, device, record, progress)
        record.write(complete=True)
    progress(f"predict: {len(todo)} case(s) predicted into {output}; receipt {record.path}")
    return PredictOutcome(record.path, [c.case_id for c in todo], done)


def _run_child(request, models, todo, output: Path, device: str, record, progress: Progress) -> None:
    from segbook.nnunet.environment import nnunet_environment  # noqa: PLC0415
    from segbook.nnunet.process import run_logged  # noqa: PLC0415

    work = output / WORK_DIR
    staging = work / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    threads = models[0].threads
    by_id = {case.case_id: case for case in todo}
    job = {"models": [m.job_entry() for m in models], "tta": request.tta, "device": device, "threads": threads or 0,
           "cases": [{"id": c.case_id, "files": [str(p.resolve()) for p in c.files],
                      "staging": str(staging / c.case_id)} for c in todo]}
    job_file = atomic_write_json(work / "job.json", job)

    def finished(progress_record: dict) -> None:
        case_id = progress_record.get("case")
        if case_id not in by_id:
            return
        target = output / f"{case_id}{CASE_FILE_ENDING}"
        os.replace(staging / f"{case_id}{CASE_FILE_ENDING}", target)
        record.add(case_id, _case_entry(by_id[case_id], target))

    env = nnunet_environment(work, work, threads=threads or None, data_workers=0, deterministic=True)
    progress(f"predict: {len(todo)} case(s) with {len(models)} model(s) on {device}"
             f"{'' if request.tta else ', no mirroring'}")
    run_logged([sys.executable, "-m", "segbook.nnunet.predict_cases", str(job_file)], env, work / "predict.log",
               what="nnU-Net prediction", progress=progress, verbose=request.verbose, on_progress=finished)
    shutil.rmtree(staging, ignore_errors=True)
