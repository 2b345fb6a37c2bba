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

from segbook.core.errors import Differences, InvalidInput, OutputBlocked, UsageProblem
from segbook.core.fsio import atomic_write_json, ensure_writable_dir
from segbook.core.hashing import image_content_hash, sha256_file
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
    output_format: str = "nifti"  # nifti | dicom-seg (DICOM input only: also a DICOM-SEG per series)
    trust_unverified: bool = False  # use a model whose receipt does not verify (recorded)
    force: bool = False  # replace what OUTPUT holds
    verbose: bool = False
    command: list[str] = field(default_factory=list)
    folds: tuple[str, ...] = ()  # the folds to ensemble, among MODEL's (empty: all)


@dataclass(frozen=True)
class PredictOutcome:
    receipt_path: Path
    predicted: list[str]
    skipped: list[str]  # already made, inputs and output unchanged


def _archived(archive: Path, work: Path, progress: Progress):
    """The folds of an exported zip, unpacked safely under `work` and checked against its SHA256SUMS."""
    from segbook.convert.archive import unpack  # noqa: PLC0415
    from segbook.predict.archive import checked_model_root  # noqa: PLC0415
    from segbook.predict.model import archived_models  # noqa: PLC0415

    progress(f"predict: unpacking {archive} and checking it against its SHA256SUMS")
    unpacked = unpack(archive, work / "model", force=True)
    return archived_models(checked_model_root(unpacked, archive), archive)


def _checked_models(request: PredictRequest, settings: Settings, progress: Progress, work: Path):
    from segbook.predict.model import locate_model, one_cell, selected_folds, unverified_reasons  # noqa: PLC0415

    zips = [p for p in request.models if Path(p).suffix == ".zip" and Path(p).is_file()]
    if zips:
        if len(request.models) > 1:
            raise UsageProblem("an exported zip holds all of its cell's folds: give it alone as MODEL",
                               hint="segbook predict MODEL.zip INPUT OUTPUT")
        models = selected_folds(_archived(Path(zips[0]), work, progress), request.folds)
        one_cell(models)
        # its SHA256SUMS and receipts were checked; the run's own files (test predictions, labels) are not in it
        return models, {m.receipt_path: [] for m in models}
    models = selected_folds([locate_model(path) for path in request.models], request.folds)
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
    seg = entry.get("dicom_seg")
    if seg is not None and not (isinstance(seg, dict) and (output_file.parent / str(seg.get("file"))).is_file()
                                and sha256_file(output_file.parent / str(seg["file"])) == seg.get("sha256")):
        return False
    return {k: entry.get(k) for k in ("inputs", "output", "output_hash")} == _case_entry(case, output_file)


def predict(request: PredictRequest, settings: Settings, progress: Progress) -> PredictOutcome:
    from segbook.api.finetune import resolve_device  # noqa: PLC0415 - torch on use
    from segbook.core.provenance import device_info, kit_info, package_versions, runtime_info  # noqa: PLC0415
    from segbook.predict import record as records  # noqa: PLC0415
    from segbook.predict.inputs import find_cases  # noqa: PLC0415

    output = ensure_writable_dir(Path(request.output))
    with exclusive(lock_path(output, "predict"), what="prediction into this folder", mode=settings.lock_mode):
        models, verdicts = _checked_models(request, settings, progress, output / WORK_DIR)
        _check_labels(models)
        cases, series_of = find_cases(request.source, len(models[0].channels), output / WORK_DIR / "dicom")
        if request.output_format == "dicom-seg" and not series_of:
            raise UsageProblem("--output-format dicom-seg needs DICOM series as INPUT (a SEG references them)",
                               hint="give the folder holding the DICOM series, or leave the NIfTI default")
        device = resolve_device(request.device)
        options = {"tta": request.tta, "tile_step_size": 0.5, "gaussian": True, "device": device,
                   "output_format": request.output_format}
        model_records = [m.record(verified=not verdicts[m.receipt_path]) for m in models]
        asked = records.what_was_asked(model_records, options)
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
            _run_child(request, models, todo, output, device, record, progress, series_of)
        record.write(complete=True)
    progress(f"predict: {len(todo)} case(s) predicted into {output}; receipt {record.path}")
    return PredictOutcome(record.path, [c.case_id for c in todo], done)


def _run_child(request, models, todo, output: Path, device: str, record, progress: Progress, series_of) -> None:
    from segbook import __version__  # noqa: PLC0415
    from segbook.nnunet.environment import nnunet_environment  # noqa: PLC0415
    from segbook.nnunet.process import run_logged  # noqa: PLC0415
    from segbook.predict.dicom_seg import write_dicom_seg  # noqa: PLC0415 - highdicom on use

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
        entry = _case_entry(by_id[case_id], target)
        if case_id in series_of:
            entry["series_instance_uid"] = case_id
        if request.output_format == "dicom-seg":
            seg = write_dicom_seg(target, series_of[case_id], models[0].labels, output / f"{case_id}.seg.dcm",
                                  version=__version__)
            entry["dicom_seg"] = {"file": seg.name, "sha256": sha256_file(seg)}
        record.add(case_id, entry)

    env = nnunet_environment(work, work, threads=threads or None, data_workers=0, deterministic=True)
    progress(f"predict: {len(todo)} case(s) with {len(models)} model(s) on {device}"
             f"{'' if request.tta else ', no mirroring'}")
    run_logged([sys.executable, "-m", "segbook.nnunet.predict_cases", str(job_file)], env, work / "predict.log",
               what="nnU-Net prediction", progress=progress, verbose=request.verbose, on_progress=finished)
    shutil.rmtree(staging, ignore_errors=True)
