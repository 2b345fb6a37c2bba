"""What the pipeline's receipt records, and that `segbook verify` accepts exactly that receipt.

No training here: the demo dataset is prepared for real, its held-out reference labels serve as
the predictions, and the kit's own receipt writer (segbook.pipeline.run_receipt) writes the
receipt. Trained-run details the writer only copies (seeds, threads) come in as plain records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import SimpleITK as sitk
import torch

from segbook.api import FinetuneRequest
from segbook.catalog import load_catalog
from segbook.convert.prepare import prepare_dataset
from segbook.core.configurations import Configuration
from segbook.core.hashing import image_content_hash, sha256_json
from segbook.core.layout import RunLayout
from segbook.core.settings import Settings
from segbook.demo.sources import ensure_demo_sources
from segbook.evaluate import evaluate_folder
from segbook.pipeline.run_receipt import write_run_receipt
from segbook.pipeline.stages import Dataset
from tests.helpers import run_segbook

pytestmark = [pytest.mark.unit, pytest.mark.security]


@pytest.fixture()
def receipt(tmp_path) -> tuple[Path, dict, Path]:
    out = tmp_path / "elsewhere-out"
    manifest = load_catalog().get("Demo")
    prepared = prepare_dataset(manifest, ensure_demo_sources(out, lambda m: None), out)
    dataset = Dataset(task_id=manifest.task_id, nnunet_id=int(manifest.nnunet_id), display_name=manifest.display_name,
                      source="demo", dataset_name=prepared.dataset_name, dataset_dir=prepared.dataset_dir,
                      labels={int(k): v for k, v in manifest.labels.items()}, num_channels=1, split=prepared.split,
                      dataset_sha256=prepared.dataset_sha256, lock_sha256=prepared.lock_sha256)
    configuration = Configuration("stunet-s", "scratch")
    request = FinetuneRequest(dataset="Demo", configuration=configuration, out_root=out,
                              settings=Settings(), command=["segbook", "finetune", "Demo", "--out", str(out)])
    layout = RunLayout(out, manifest.task_id, configuration.name, "all")
    layout.predictions_dir.mkdir(parents=True)
    for case in prepared.split.test:  # perfect predictions: the references themselves
        shutil.copy(dataset.test_labels / f"{case}.nii.gz", layout.predictions_dir / f"{case}.nii.gz")
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans_name": "test"}))
    checkpoint = layout.results_dir / "checkpoint_final.pth"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"network_weights": {"w": torch.ones(2, 2)}}, checkpoint)
    metrics = evaluate_folder(layout.predictions_dir, dataset.test_labels, dataset.labels,
                              cases=list(prepared.split.test))
    summary = {"patch_size": [24, 40, 40], "spacing": [2.0, 1.5, 1.5], "batch_size": 2, "strides": []}
    planned = SimpleNamespace(plans_path=plans, plans_sha256=sha256_json({"plans_name": "test"}),
                              plans_name="nnUNetPlans",
                              report={"plans": "nnUNetPlans", "used": summary, "nnunet": summary,
                                      "reference": None, "adjustments": []})
    trained = SimpleNamespace(weights=None, final_checkpoint=checkpoint, resumed=False,
                              config=SimpleNamespace(seed=12345, threads=2, data_workers=2))
    predictions = {c: image_content_hash(layout.predictions_dir / f"{c}.nii.gz") for c in prepared.split.test}
    path, body = write_run_receipt(request, dataset, layout, "cpu", planned, trained, predictions, metrics, {})
    return path, body, out


def test_the_receipt_records_the_out_root_used_and_the_reference_labels(receipt):
    path, body, out = receipt
    assert body["settings"]["out_root"] == str(out) != str(Settings().out_root)
    labels = body["hashes"]["test_labels"]
    assert sorted(labels) == sorted(body["hashes"]["predictions"])
    assert labels == body["hashes"]["predictions"]  # the predictions ARE the references here


def test_verify_accepts_the_receipt_as_written(receipt):
    path, _, _ = receipt
    result = run_segbook("verify", str(path), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dataset lock Task999_SegBookDemo.lock" not in result.stdout  # agreed, so not listed
    assert "files: " in result.stdout and "verify: OK" in result.stdout


def test_verify_names_a_reference_that_differs_from_the_committed_lock(receipt):
    """Receipt and files edited together still disagree with the kit's committed demo lock."""

    path, _, out = receipt
    body = json.loads(path.read_text())
    case = sorted(body["hashes"]["test_labels"])[0]
    label = out / "nnUNet_raw" / body["dataset"]["nnunet_dataset"] / "labelsTs" / f"{case}.nii.gz"
    image = sitk.ReadImage(str(label))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0] = 2
    edited = sitk.GetImageFromArray(array)
    edited.CopyInformation(image)
    sitk.WriteImage(edited, str(label), True)
    body["hashes"]["test_labels"][case] = image_content_hash(label)  # the forger updates the receipt too
    path.write_text(json.dumps(body))
    result = run_segbook("verify", str(path), timeout=300)
    assert result.returncode == 1
    assert f"DIFFERS test label {case} (lock)" in result.stdout
