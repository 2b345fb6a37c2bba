"""Predict new cases with one or more trained models of one cell (the child process of `segbook predict`).

    python -m segbook.nnunet.predict_cases JOB.json

The job names the models (trained-model folder, fold, trainer, and the tensor hash their receipts
record), the cases (their image files and a staging name), and the options (mirroring, device,
threads). Each checkpoint is read weights-only and its tensors hashed before use: a file that no
longer matches its receipt is refused (exit 1) before anything is predicted. Several models are
nnU-Net's fold ensemble: `manual_initialization` with one parameter set per model, whose softmax
outputs nnU-Net's predictor averages. Each case then runs nnU-Net's own steps (its preprocessor,
sliding-window prediction and export into the input's geometry), and a SEGBOOK-PROGRESS line
says it is written, so the parent can move it into place and record it before the next starts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from segbook.core import childreport
from segbook.core.errors import Differences, InvalidInput, SegbookError


def _load_models(models: list[dict]) -> list[dict]:
    from segbook.models.checkpoint import read_training_checkpoint, weights_tensor_hash  # noqa: PLC0415

    checkpoints = []
    for model in models:
        path = Path(model["checkpoint"])
        checkpoint = read_training_checkpoint(path)
        if checkpoint.get("trainer_name") != model["trainer"]:
            raise InvalidInput(f"{path} was written by {checkpoint.get('trainer_name')!r}, not {model['trainer']}")
        found = weights_tensor_hash(checkpoint, path)
        if found != model["tensor_sha256"]:
            raise Differences(f"{path}'s weights (tensors {found[:12]}) are not the ones its receipt records "
                              f"({model['tensor_sha256'][:12]})", hint="the checkpoint changed after training: "
                              "retrain the cell, or restore the file")
        checkpoints.append(checkpoint)
    return checkpoints


def build_predictor(models: list[dict], *, tta: bool, device: str):
    from segbook.nnunet.safe_predict import predictor_from  # noqa: PLC0415

    return predictor_from(Path(models[0]["folder"]), _load_models(models), models[0]["trainer"], tta=tta,
                          device=device)


def predict_case(predictor, files: list[str], truncated_output: str) -> None:
    """nnU-Net's steps for one case: its preprocessor, the sliding window, the export (input geometry)."""
    import torch  # noqa: PLC0415
    from nnunetv2.inference.export_prediction import export_prediction_from_logits  # noqa: PLC0415

    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    data, _, properties = preprocessor.run_case(files, None, predictor.plans_manager,
                                                predictor.configuration_manager, predictor.dataset_json)
    logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
    export_prediction_from_logits(logits, properties, predictor.configuration_manager, predictor.plans_manager,
                                  predictor.dataset_json, truncated_output, False)


def main(args: list[str] | None = None) -> int:
    import torch  # noqa: PLC0415

    from segbook.nnunet.resumable import report_and_exit  # noqa: PLC0415 - imports torch

    argv = sys.argv[1:] if args is None else args
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    try:
        predictor = build_predictor(job["models"], tta=bool(job["tta"]), device=job["device"])
    except SegbookError as exc:
        report_and_exit(exc)
    total = len(job["cases"])
    for number, case in enumerate(job["cases"], start=1):
        started = time.monotonic()
        predict_case(predictor, case["files"], case["staging"])
        print(childreport.progress_line({"case": case["id"], "done": number, "total": total,
                                         "seconds": time.monotonic() - started}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
