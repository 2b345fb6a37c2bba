"""Run folders for report tests: real files, hashed and evaluated with the kit's own functions, so
that `segbook verify` (segbook.verify.check_files) really re-checks them. Plain functions, not fixtures.

A run lives where the kit puts one: OUT/runs/<task>/<config>/ with split.json, plans.json, a tiny
checkpoint, one NIfTI prediction per held-out case and receipt.json; the held-out reference labels
are in OUT/nnUNet_raw/<DatasetNNN_Name>/labelsTs/. Each class of each case is a block of BLOCK
voxels; the prediction is that block minus k voxels, k chosen so that Dice = 2(V-k)/(2V-k) is
close to the wanted value, and the receipt's metrics are computed by segbook.evaluate from the
files, as a real run's are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segbook.catalog import load_catalog
from segbook.core.errors import SegbookError
from segbook.core.hashing import image_content_hash, sha256_json
from segbook.core.splits import Split
from segbook.evaluate import evaluate_folder
from segbook.evaluate.result import EvaluationResult

PAPER_KEY = {"nnunet": "nnunet", "stunet-b_scratch": "base", "stunet-b_ft": "base_ft",
             "stunet-l_scratch": "large", "stunet-l_ft": "large_ft", "stunet-h_scratch": "huge",
             "stunet-h_ft": "huge_ft"}
BLOCK = (8, 10, 10)  # z, y, x voxels of one class in one case
GAP = 2  # x voxels between the blocks of two classes


def per_case_metrics(dice: np.ndarray, label_names: list[str]) -> dict:
    """A receipt "metrics" block from a cases x classes Dice matrix (0-1; NaN = class absent), without
    files (for the bootstrap and benchmark tests: such a receipt does not verify)."""

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


def _label_map(n_classes: int, removed: list[int] | None = None) -> np.ndarray:
    """Class c+1 fills block c; with `removed`, the last removed[c] voxels of block c are cleared."""
    z, y, x = BLOCK
    volume = np.zeros((z, y, n_classes * (x + GAP)), np.uint8)
    for c in range(n_classes):
        block = np.full(BLOCK, c + 1, np.uint8).reshape(-1)
        if removed:
            block[block.size - removed[c]:] = 0
        volume[:, :, c * (x + GAP):c * (x + GAP) + x] = block.reshape(BLOCK)
    return volume


def _voxels_to_remove(dice: float) -> int:
    volume = int(np.prod(BLOCK))
    return int(round(2 * volume * (1 - dice) / (2 - dice)))


def _write_image(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), True)


def _dataset_name(task_id: str) -> str:
    try:
        return load_catalog().get(task_id).dataset_name
    except SegbookError:
        return f"Dataset{900 + sum(map(ord, task_id)) % 99:03d}_{task_id.split('_', 1)[-1]}"


def write_run(out_root: Path, task_id: str, config: str, dice: np.ndarray, *, created: str = "2025-01-01T00:00:00Z",
              seed: int = 0) -> Path:
    """A complete, verifiable run folder for cases x classes wanted Dice values; returns the receipt path.

    Runs of one dataset share its reference labels, so give them the same number of cases and classes.
    """
    import torch  # noqa: PLC0415 - torch only in the tests that need it

    from segbook.models.checkpoint import checkpoint_tensor_hash  # noqa: PLC0415 - torch

    assert not np.isnan(dice).any(), "write_run makes every class present in every case"
    out_root = Path(out_root)
    dataset = _dataset_name(task_id)
    n_cases, n_classes = dice.shape
    cases = [f"case_{i:03d}" for i in range(n_cases)]
    labels_dir = out_root / "nnUNet_raw" / dataset / "labelsTs"
    run = out_root / "runs" / task_id / config
    for case in cases:
        _write_image(_label_map(n_classes), labels_dir / f"{case}.nii.gz")
    for case, row in zip(cases, dice, strict=True):
        _write_image(_label_map(n_classes, [_voxels_to_remove(d) for d in row]), run / "predictions" / f"{case}.nii.gz")
    names = {value: f"class{value}" for value in range(1, n_classes + 1)}
    metrics = json.loads(json.dumps(evaluate_folder(run / "predictions", labels_dir, names).to_dict()))
    split = Split(seed=12345, test=tuple(cases), train=("train_a", "train_b"), folds=(("train_a",), ("train_b",)))
    (run / "split.json").write_text(json.dumps({**split.as_dict(), "sha256": split.sha256}))
    plans = {"dataset_name": dataset, "configurations": {"3d_fullres": {"patch_size": [32, 32, 32]}}}
    (run / "plans.json").write_text(json.dumps(plans))
    generator = torch.Generator().manual_seed(seed)
    torch.save({"network_weights": {"w": torch.randn(4, 3, generator=generator)}}, run / "checkpoint_final.pth")
    receipt = {
        "schema": "segbook-receipt/1", "created": created,
        "kit": {"version": "0.1.0", "revision": "abc1234"},
        "runtime": {"kind": "native", "image": None, "image_digest": None},
        "versions": {"python": "3.11", "torch": "2.14.1", "nnunetv2": "2.8.1"},
        "device": {"type": "cpu", "name": "cpu"}, "command": ["segbook", "finetune", task_id], "settings": {},
        "dataset": {"task_id": task_id, "nnunet_id": int(dataset[7:10]), "name": task_id, "source": "catalog",
                    "nnunet_dataset": dataset, "dataset_sha256": "d" * 64, "lock_sha256": None,
                    "labels": {str(k): v for k, v in names.items()}},
        "configuration": {"name": config, "paper_key": PAPER_KEY.get(config), "model": config.split("_")[0],
                          "init": "pretrained" if config.endswith("_ft") else "scratch", "fold": "all",
                          "epochs": 1000, "iterations_per_epoch": 250},
        "determinism": {"deterministic": True, "seed": 12345},
        "hashes": {"split": split.sha256, "plans": sha256_json(plans),
                   "final_weights": checkpoint_tensor_hash(run / "checkpoint_final.pth"),
                   "predictions": {c: image_content_hash(run / "predictions" / f"{c}.nii.gz") for c in cases},
                   "test_labels": {c: image_content_hash(labels_dir / f"{c}.nii.gz") for c in cases},
                   "pretrained_weights": None},
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

    first = sorted((receipt.parent / "predictions").glob("*.nii.gz"))[0]
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(first)))
    array[0, 0, 0] = 0 if array[0, 0, 0] else 1
    _write_image(array, first)


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
