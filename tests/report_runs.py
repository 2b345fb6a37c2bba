"""Run folders for report tests: real files, hashed with the kit's own functions, so that
`segbook verify` (segbook.verify.check_files) really re-checks them. Plain functions, not fixtures.

A run folder holds split.json, plans.json, a tiny checkpoint, one small NIfTI prediction per test
case and receipt.json, whose per-case metrics are the Dice values the test chooses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PAPER_KEY = {"nnunet": "nnunet", "stunet-b_scratch": "base", "stunet-b_ft": "base_ft",
             "stunet-l_scratch": "large", "stunet-l_ft": "large_ft", "stunet-h_scratch": "huge",
             "stunet-h_ft": "huge_ft"}


def per_case_metrics(dice: np.ndarray, label_names: list[str]) -> dict:
    """A receipt "metrics" block from a cases x classes Dice matrix (0-1; NaN = class absent)."""
    from segbook.evaluate.result import EvaluationResult

    labels = {i + 1: name for i, name in enumerate(label_names)}
    per_case = {}
    for index, row in enumerate(dice):
        entry = {}
        for value, d in zip(labels, row, strict=True):
            absent = bool(np.isnan(d))
            entry[str(value)] = {"dice": float(d), "nsd": float(d) * 0.95, "hd95": 0.0 if absent else 3.0 * (1 - d),
                                 "volume_ref_ml": 0.0 if absent else 10.0, "volume_pred_ml": 0.0 if absent else 10.0,
                                 "volume_difference_ml": 0.0, "ref_voxels": 0 if absent else 100,
                                 "pred_voxels": 0 if absent else 100}
        per_case[f"case_{index:03d}"] = entry
    return EvaluationResult(labels=labels, tolerances=dict.fromkeys(labels, 1.0), per_case=per_case).to_dict()


def write_run(out_root: Path, task_id: str, config: str, dice: np.ndarray, *, labels: list[str] | None = None,
              created: str = "2025-01-01T00:00:00Z", seed: int = 0) -> Path:
    """A complete, verifiable run folder under OUT/runs/<task>/<config>/; returns the receipt path."""
    import SimpleITK as sitk
    import torch

    from segbook.core.hashing import image_content_hash, sha256_json
    from segbook.core.splits import Split
    from segbook.models.checkpoint import checkpoint_tensor_hash

    run = Path(out_root) / "runs" / task_id / config
    (run / "predictions").mkdir(parents=True, exist_ok=True)
    metrics = per_case_metrics(dice, labels or [f"class{i + 1}" for i in range(dice.shape[1])])
    cases = sorted(metrics["per_case"])
    split = Split(seed=12345, test=tuple(cases), train=("train_a", "train_b"), folds=(("train_a",), ("train_b",)))
    (run / "split.json").write_text(json.dumps({**split.as_dict(), "sha256": split.sha256}))
    plans = {"dataset_name": task_id, "configurations": {"3d_fullres": {"patch_size": [32, 32, 32]}}}
    (run / "plans.json").write_text(json.dumps(plans))
    generator = torch.Generator().manual_seed(seed)
    torch.save({"network_weights": {"w": torch.randn(4, 3, generator=generator)}}, run / "checkpoint_final.pth")
    rng = np.random.default_rng(seed)
    predictions = {}
    for case in cases:
        path = run / "predictions" / f"{case}.nii.gz"
        sitk.WriteImage(sitk.GetImageFromArray(rng.integers(0, 2, (3, 4, 4)).astype(np.uint8)), str(path))
        predictions[case] = image_content_hash(path)
    receipt = {
        "schema": "segbook-receipt/1", "created": created,
        "kit": {"version": "0.1.0", "revision": "abc1234"},
        "runtime": {"kind": "native", "image": None, "image_digest": None},
        "versions": {"python": "3.11", "torch": "2.14.1", "nnunetv2": "2.8.1"},
        "device": {"type": "cpu", "name": "cpu"}, "command": ["segbook", "finetune", task_id], "settings": {},
        "dataset": {"task_id": task_id, "nnunet_id": 0, "name": task_id, "source": "catalog",
                    "dataset_sha256": "d" * 64, "lock_sha256": "a" * 64},
        "configuration": {"name": config, "paper_key": PAPER_KEY.get(config), "model": config.split("_")[0],
                          "init": "pretrained" if config.endswith("_ft") else "scratch", "fold": "all",
                          "epochs": 1000, "iterations_per_epoch": 250},
        "determinism": {"deterministic": True, "seed": 12345},
        "hashes": {"split": split.sha256, "plans": sha256_json(plans),
                   "final_weights": checkpoint_tensor_hash(run / "checkpoint_final.pth"),
                   "predictions": predictions, "pretrained_weights": None},
        "files": {"split": "split.json", "plans": "plans.json", "final_weights": "checkpoint_final.pth",
                  "predictions": "predictions/", "metrics_csv": "metrics.csv"},
        "metrics": metrics, "timings": {"train": 1.0},
    }
    (run / "receipt.json").write_text(json.dumps(receipt, allow_nan=False))
    return run / "receipt.json"


def dice_around(mean_percent: float, n_cases: int, n_classes: int, spread: float, seed: int) -> np.ndarray:
    """Cases x classes Dice (0-1) whose mean is about `mean_percent`, with per-case spread (points)."""
    rng = np.random.default_rng(seed)
    values = mean_percent / 100 + rng.normal(0, spread / 100, size=(n_cases, n_classes))
    values -= values.mean() - mean_percent / 100
    return np.clip(values, 0.0, 1.0)


def tamper_prediction(receipt: Path) -> None:
    """Change one voxel of the first prediction: the receipt no longer matches its files."""
    import SimpleITK as sitk

    first = sorted((receipt.parent / "predictions").glob("*.nii.gz"))[0]
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(first)))
    array[0, 0, 0] = 1 - array[0, 0, 0]
    sitk.WriteImage(sitk.GetImageFromArray(array), str(first))


def write_grid(out_root: Path, catalog, task_ids: list[str], configs: list[str], *, n_cases: int = 8,
               seed: int = 0) -> list[Path]:
    """One verifiable run per dataset x configuration, its mean Dice near the paper's value.

    Offsets from the paper cycle through 0, +1.2, -0.6, -3.5 and +5 DSC points, so the report
    has cells inside the interval, within the tolerance only, and neither.
    """
    offsets = [0.0, 1.2, -0.6, -3.5, 0.3, 5.0, -1.5]
    receipts = []
    for i, task_id in enumerate(task_ids):
        paper = catalog.get(task_id).paper_dice
        for j, config in enumerate(configs):
            target = 100 * paper[PAPER_KEY[config]] + offsets[(i * len(configs) + j) % len(offsets)]
            dice = dice_around(min(target, 99.0), n_cases, 2, spread=4.0, seed=seed + 100 * i + j)
            receipts.append(write_run(out_root, task_id, config, dice, seed=seed + 100 * i + j))
    return receipts
