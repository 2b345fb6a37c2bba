"""Run folders for report tests: real files, hashed with the kit's own functions, so that
`segbook verify` (segbook.verify.check_files) really re-checks them. Plain functions, not fixtures.

A run folder holds split.json, plans.json, a tiny checkpoint, one small NIfTI prediction per test
case and receipt.json; the held-out reference labels sit where a prepared dataset keeps them
(OUT/nnUNet_raw/<dataset>/labelsTs). The receipt's metrics are the kit's own evaluation of those
files, which have about the Dice values the test chooses (within 0.001).
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


SLAB = (40, 50)  # one z-slice per class; its reference region is the first half (1000 voxels)


def _synthetic_references(out_root: Path, task_id: str, n_cases: int, n_classes: int, absent) -> tuple:
    """(dataset folder name, split, {case: reference array}) written to OUT/nnUNet_raw/<name>/labelsTs.

    Class j fills the first half of z-slice j, unless it is absent from that case (NaN Dice)."""
    import SimpleITK as sitk

    from segbook.core.splits import Split

    name = "Dataset" + task_id.removeprefix("Task")
    folder = Path(out_root) / "nnUNet_raw" / name / "labelsTs"
    folder.mkdir(parents=True, exist_ok=True)
    cases = [f"case_{i:03d}" for i in range(n_cases)]
    references = {}
    for i, case in enumerate(cases):
        array = np.zeros((n_classes, *SLAB), np.uint8)
        for j in range(n_classes):
            if not absent[i, j]:
                array[j, : SLAB[0] // 2] = j + 1
        path = folder / f"{case}.nii.gz"
        if path.exists():
            assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), array), \
                f"{task_id}: two runs of this helper need different references for {case}"
        else:
            sitk.WriteImage(sitk.GetImageFromArray(array), str(path), True)
        references[case] = array
    split = Split(seed=12345, test=tuple(cases), train=("train_a", "train_b"), folds=(("train_a",), ("train_b",)))
    return name, split, references


def _demo_references(out_root: Path) -> tuple:
    """The real demo dataset, generated and prepared into OUT (its committed lock pins the labels)."""
    import SimpleITK as sitk

    from segbook.catalog import load_catalog, prepare_dataset
    from segbook.demo.sources import ensure_demo_sources

    prepared = prepare_dataset(load_catalog().get("Demo"), ensure_demo_sources(Path(out_root), lambda m: None),
                               Path(out_root))
    folder = prepared.dataset_dir / "labelsTs"
    references = {case: sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{case}.nii.gz")))
                  for case in prepared.split.test}
    return prepared, references


def prediction_with_dice(reference: np.ndarray, dice_row) -> np.ndarray:
    """The reference with k voxels of each class erased, k chosen so that Dice = 2(N-k)/(2N-k) ~ d."""
    prediction = reference.copy()
    for j, target in enumerate(dice_row):
        voxels = np.flatnonzero(reference == j + 1)
        if np.isnan(target) or not voxels.size:
            continue
        erase = int(round(2 * voxels.size * (1 - target) / (2 - target)))
        prediction.flat[voxels[:erase]] = 0
    return prediction


def write_run(out_root: Path, task_id: str, config: str, dice: np.ndarray, *, labels: list[str] | None = None,
              created: str = "2025-01-01T00:00:00Z", seed: int = 0) -> Path:
    """A complete run folder under OUT/runs/<task>/<config>/ that `segbook verify` accepts; returns the
    receipt path. Predictions are the held-out references with voxels erased so that each case and
    class has about the Dice asked for; the receipt's metrics are the kit's own evaluation of them.
    The demo task uses the real demo dataset (its lock pins the references); other tasks get
    synthetic references in OUT/nnUNet_raw/Dataset<id>/labelsTs."""
    import SimpleITK as sitk
    import torch

    from segbook.core.hashing import image_content_hash, sha256_json
    from segbook.evaluate import evaluate_folder
    from segbook.models.checkpoint import checkpoint_tensor_hash

    run = Path(out_root) / "runs" / task_id / config
    (run / "predictions").mkdir(parents=True, exist_ok=True)
    names = labels or [f"class{i + 1}" for i in range(dice.shape[1])]
    if task_id == "Task999_SegBookDemo":
        prepared, references = _demo_references(out_root)
        dataset_name, split, lock_sha256 = prepared.dataset_name, prepared.split, prepared.lock_sha256
        dataset_sha256, names = prepared.dataset_sha256, ["organ", "lesion"]
        label_dir = prepared.dataset_dir / "labelsTs"
    else:
        dataset_name, split, references = _synthetic_references(out_root, task_id, dice.shape[0], dice.shape[1],
                                                                np.isnan(dice))
        lock_sha256, dataset_sha256 = "a" * 64, "d" * 64
        label_dir = Path(out_root) / "nnUNet_raw" / dataset_name / "labelsTs"
    cases = sorted(references)
    assert len(cases) == dice.shape[0], f"{task_id} has {len(cases)} test cases, the Dice matrix {dice.shape[0]} rows"
    (run / "split.json").write_text(json.dumps({**split.as_dict(), "sha256": split.sha256}))
    plans = {"dataset_name": task_id, "configurations": {"3d_fullres": {"patch_size": [32, 32, 32]}}}
    (run / "plans.json").write_text(json.dumps(plans))
    generator = torch.Generator().manual_seed(seed)
    torch.save({"network_weights": {"w": torch.randn(4, 3, generator=generator)}}, run / "checkpoint_final.pth")
    predictions, test_labels = {}, {}
    for case, row in zip(cases, dice, strict=True):
        reference = sitk.ReadImage(str(label_dir / f"{case}.nii.gz"))
        image = sitk.GetImageFromArray(prediction_with_dice(references[case], row))
        image.CopyInformation(reference)
        path = run / "predictions" / f"{case}.nii.gz"
        sitk.WriteImage(image, str(path), True)
        predictions[case] = image_content_hash(path)
        test_labels[case] = image_content_hash(label_dir / f"{case}.nii.gz")
    all_labels = {0: "background", **{i + 1: name for i, name in enumerate(names)}}
    metrics = evaluate_folder(run / "predictions", label_dir, all_labels, cases=cases).to_dict()
    receipt = {
        "schema": "segbook-receipt/1", "created": created,
        "kit": {"version": "0.1.0", "revision": "abc1234"},
        "runtime": {"kind": "native", "image": None, "image_digest": None},
        "versions": {"python": "3.11", "torch": "2.14.1", "nnunetv2": "2.8.1"},
        "device": {"type": "cpu", "name": "cpu"}, "command": ["segbook", "finetune", task_id], "settings": {},
        "dataset": {"task_id": task_id, "nnunet_id": 0, "name": task_id, "source": "catalog",
                    "nnunet_dataset": dataset_name, "dataset_sha256": dataset_sha256, "lock_sha256": lock_sha256,
                    "labels": {str(k): v for k, v in all_labels.items()}},
        "configuration": {"name": config, "paper_key": PAPER_KEY.get(config), "model": config.split("_")[0],
                          "init": "pretrained" if config.endswith("_ft") else "scratch", "fold": "all",
                          "epochs": 1000, "iterations_per_epoch": 250},
        "determinism": {"deterministic": True, "seed": 12345},
        "hashes": {"split": split.sha256, "plans": sha256_json(plans),
                   "final_weights": checkpoint_tensor_hash(run / "checkpoint_final.pth"),
                   "predictions": predictions, "test_labels": test_labels, "pretrained_weights": None},
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
