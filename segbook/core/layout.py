"""Where things live under one output root.

    <out>/nnUNet_raw/DatasetNNN_Name/      prepared data (imagesTr/labelsTr: training cases;
                                            imagesTs/labelsTs: held-out test cases)
    <out>/nnUNet_preprocessed/...          nnU-Net's plans and preprocessed arrays (shared)
    <out>/sources/                         data the kit generates (the demo's phantoms)
    <out>/runs/<TaskId>/<config>[_fold<k>]/ one run: receipt.json, split.json, plans.json,
                                            train_config.json, nnUNet_results/, predictions/,
                                            metrics.csv, logs/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    out_root: Path
    task_id: str
    configuration: str
    fold: str

    @property
    def run_dir(self) -> Path:
        suffix = "" if self.fold == "all" else f"_fold{self.fold}"
        return self.out_root / "runs" / self.task_id / f"{self.configuration}{suffix}"

    @property
    def results_dir(self) -> Path:
        return self.run_dir / "nnUNet_results"

    @property
    def predictions_dir(self) -> Path:
        return self.run_dir / "predictions"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / "nnunet.log"

    @property
    def train_config(self) -> Path:
        return self.run_dir / "train_config.json"

    @property
    def receipt(self) -> Path:
        return self.run_dir / "receipt.json"

    @property
    def lock_name(self) -> str:
        """The lock one run folder is held by, for the whole run (segbook grid status asks it too)."""
        return f"run-{self.task_id}-{self.run_dir.name}"


def sources_dir(out_root: Path) -> Path:
    return out_root / "sources"


CASE_FILE_ENDING = ".nii.gz"  # every image and label file the kit writes (nnU-Net's file_ending)


def test_labels_dir(out_root: Path, dataset_name: str) -> Path:
    """The held-out reference labels of a prepared dataset (see segbook.convert.prepare)."""
    return out_root / "nnUNet_raw" / dataset_name / "labelsTs"


def out_root_of_run(run_dir: Path) -> Path:
    """OUT of OUT/runs/<task>/<config>/."""
    return run_dir.parents[2]
