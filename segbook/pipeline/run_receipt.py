"""Assemble and write a run's receipt (the last file a run writes)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from segbook.core.fsio import atomic_write_json
from segbook.core.hashing import image_content_hash
from segbook.core.layout import CASE_FILE_ENDING
from segbook.core.provenance import device_info, kit_info, package_versions, runtime_info
from segbook.core.receipt import write_receipt
from segbook.core.settings import environ_snapshot
from segbook.core.splits import duplicates_block
from segbook.nnunet.planning import PAPER_PLANS


def _rel(path: Path, run_dir: Path) -> str:
    return os.path.relpath(Path(path).resolve(), run_dir.resolve())


def test_label_hashes(dataset) -> dict[str, str]:
    """Content hash of each held-out reference label the metrics were computed against: `verify`
    checks them before it re-derives the metrics from OUT/nnUNet_raw/<dataset>/labelsTs."""
    return {case: image_content_hash(dataset.test_labels / f"{case}{CASE_FILE_ENDING}")
            for case in sorted(dataset.split.test)}


def plan_record(planned) -> dict:
    """Which plan trained this run (the paper's or nnU-Net's own), and how the two differ."""
    report = planned.report
    return {"source": "paper" if report["plans"] == PAPER_PLANS else "nnunet", "plans_name": planned.plans_name,
            "reference": report.get("reference"), "used": report["used"], "nnunet_own": report["nnunet"],
            "adjustments": list(report.get("adjustments") or [])}


def write_run_receipt(request, dataset, layout, device, planned, trained, predictions, metrics, timings):
    from segbook.models.checkpoint import checkpoint_tensor_hash  # noqa: PLC0415

    # the settings the CLI built once, with the output root this run really used (--out)
    settings = replace(request.settings, out_root=Path(request.out_root))
    run_dir = layout.run_dir
    split_file = atomic_write_json(run_dir / "split.json", {**dataset.split.as_dict(),
                                                            "sha256": dataset.split.sha256})
    plans_copy = run_dir / "plans.json"
    shutil.copyfile(planned.plans_path, plans_copy)
    weights = trained.weights
    config = request.configuration
    receipt = {
        "kit": kit_info(settings),
        "runtime": runtime_info(settings),
        "versions": package_versions(),
        "device": device_info(device),
        "command": list(request.command),
        "settings": {**settings.as_dict(), "environment": environ_snapshot()},
        "dataset": {
            "task_id": dataset.task_id, "nnunet_id": dataset.nnunet_id, "name": dataset.display_name,
            "source": dataset.source, "licence": dataset.licence, "access": dataset.access,
            "nnunet_dataset": dataset.dataset_name,
            "dataset_sha256": dataset.dataset_sha256, "lock_sha256": dataset.lock_sha256,
            "num_train": len(dataset.split.train), "num_test": len(dataset.split.test),
            "labels": {str(k): v for k, v in sorted(dataset.labels.items())},
            "duplicates": {**duplicates_block(dataset.split),
                           "near_duplicates": [list(pair) for pair in dataset.near_duplicates]},
        },
        "configuration": {
            "name": config.name, "paper_key": config.paper_key, "model": config.model, "init": config.init,
            "trainer": config.trainer_name, "fold": request.fold, "epochs": request.epochs,
            "iterations_per_epoch": request.iterations_per_epoch, "initial_lr": config.initial_lr,
            "resumed": trained.resumed,
            "plan": plan_record(planned),
            "options": request.as_dict(),  # the cell's TrainingOptions as given, every field
        },
        "determinism": {
            "deterministic": request.deterministic, "seed": trained.config.seed,
            "threads": trained.config.threads, "data_workers": trained.config.data_workers,
        },
        "hashes": {
            "split": dataset.split.sha256,
            "plans": planned.plans_sha256,
            "pretrained_weights": None if weights is None else {
                "file_sha256": weights.file_sha256, "tensor_sha256": weights.tensor_sha256,
                "pinned": weights.pinned, "trusted_unpinned": weights.trusted_unpinned,
                "source": weights.source, "path": str(weights.path),
            },
            "final_weights": checkpoint_tensor_hash(trained.final_checkpoint),
            "predictions": predictions,
            "test_labels": test_label_hashes(dataset),
        },
        "files": {
            "split": _rel(split_file, run_dir),
            "plans": _rel(plans_copy, run_dir),
            "train_config": _rel(layout.train_config, run_dir),
            "final_weights": _rel(trained.final_checkpoint, run_dir),
            "predictions": _rel(layout.predictions_dir, run_dir) + "/",
            "metrics_csv": "metrics.csv",
            "log": _rel(layout.log_file, run_dir),
        },
        "metrics": metrics.to_dict(),  # strict JSON: NaN/inf become null
        "timings": timings,
    }
    return write_receipt(run_dir, receipt), receipt
