"""Helpers for the grid tests (plain functions): a manifests copy with locks, synthetic run folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from segbook.core.receipt import SCHEMA
from segbook.core.splits import Split
from tests.helpers import run_segbook

REPO = Path(__file__).resolve().parents[1]


def manifests_with_locks(target: Path, task_ids: list[str]) -> Path:
    """A copy of the kit's manifests where `task_ids` have a lock file (the plan checks presence only)."""
    shutil.copytree(REPO / "manifests", target, ignore=shutil.ignore_patterns("reference"))
    for task_id in task_ids:
        (target / "locks" / f"{task_id}.lock").write_text(f"# segbook-lock/1: test stand-in for {task_id}\n")
    return target


def plan_grid(tmp: Path, task_id: str, configs: str, *extra: str) -> tuple[Path, Path, dict]:
    """(grid, out, env): `segbook grid plan` of `task_id` x `configs` under `tmp`, with a manifests copy
    holding a lock stand-in and an empty raw folder for the data map."""
    manifests = manifests_with_locks(tmp / "manifests", [task_id])
    (tmp / "raw").mkdir()
    (tmp / "data.yaml").write_text(f"{task_id}: {tmp / 'raw'}\n")
    env = {"SEGBOOK_MANIFESTS": str(manifests)}
    run_segbook("grid", "plan", "--datasets", task_id, "--configs", configs, "--data", str(tmp / "data.yaml"),
                "--grid", str(tmp / "grid"), "--out", str(tmp / "out"), *extra, env=env, check=True)
    return tmp / "grid", tmp / "out", env


def run_dir(out: Path, cell_id: str) -> Path:
    task_id, config, fold = cell_id.split("/")
    return out / "runs" / task_id / (config if fold == "all" else f"{config}_fold{fold}")


TEST_CASES = ("case_000", "case_001")


def write_receipt(out: Path, cell_id: str, mean_dice: float, created: str = "2026-11-28T00:00:00+00:00") -> Path:
    """A receipt that is complete and consistent (segbook.verify.done): the files it names exist and
    its split hashes to what it records; the weights and predictions are stand-ins, not re-derivable."""
    task_id, config, fold = cell_id.split("/")
    folder = run_dir(out, cell_id)
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    split = Split(seed=0, test=TEST_CASES, train=tuple(f"case_{i:03d}" for i in range(2, 7)),
                  folds=tuple((f"case_{i:03d}",) for i in range(2, 7)))
    (folder / "split.json").write_text(json.dumps({**split.as_dict(), "sha256": split.sha256}))
    (folder / "plans.json").write_text("{}")
    (folder / "checkpoint_final.pth").write_bytes(b"stand-in weights")
    for case in TEST_CASES:
        (folder / "predictions" / f"{case}.nii.gz").write_bytes(b"stand-in prediction")
    receipt = {"schema": SCHEMA, "created": created, "kit": {"version": "0.1.0", "revision": None},
               "dataset": {"task_id": task_id, "lock_sha256": "0" * 64, "dataset_sha256": "1" * 64,
                           "nnunet_dataset": "Dataset009_Spleen", "labels": {"1": "spleen"}},
               "configuration": {"name": config, "fold": fold, "epochs": 1000},
               "hashes": {"split": split.sha256, "plans": "2" * 64, "final_weights": "3" * 64,
                          "predictions": {case: "4" * 64 for case in TEST_CASES},
                          "test_labels": {case: "5" * 64 for case in TEST_CASES}},
               "files": {"split": "split.json", "plans": "plans.json", "final_weights": "checkpoint_final.pth",
                         "predictions": "predictions/"},
               "metrics": {"summary": {"mean_dice": mean_dice, "n_cases": 5}, "per_case": {}},
               "runtime": {"kind": "native"}, "device": {"type": "cuda", "name": "test"}}
    path = folder / "receipt.json"
    path.write_text(json.dumps(receipt))
    return path


def write_run_state(out: Path, cell_id: str, outcomes: list[tuple[str, int | None, str | None]],
                    train_state: dict | None = None) -> Path:
    """run_state.json with one invocation per (outcome, exit code, error)."""
    folder = run_dir(out, cell_id)
    folder.mkdir(parents=True, exist_ok=True)
    invocations = [{"started": "2026-11-28T00:00:00+00:00", "host": "node1", "pid": 4242 + i, "outcome": outcome,
                    "exit_code": code, "error": error, "slurm_job": "7_0", "slurm_restarts": i}
                   for i, (outcome, code, error) in enumerate(outcomes)]
    (folder / "run_state.json").write_text(json.dumps({"format": "segbook-run-state/1", "invocations": invocations}))
    if train_state is not None:
        (folder / "train_state.json").write_text(json.dumps(train_state))
    return folder
