"""Helpers for the grid tests (plain functions): a manifests copy with locks, synthetic run folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from segbook.core.receipt import SCHEMA

REPO = Path(__file__).resolve().parents[1]


def manifests_with_locks(target: Path, task_ids: list[str]) -> Path:
    """A copy of the kit's manifests where `task_ids` have a lock file (the plan checks presence only)."""
    shutil.copytree(REPO / "manifests", target, ignore=shutil.ignore_patterns("reference"))
    for task_id in task_ids:
        (target / "locks" / f"{task_id}.lock").write_text(f"# segbook-lock/1: test stand-in for {task_id}\n")
    return target


def run_dir(out: Path, cell_id: str) -> Path:
    task_id, config, fold = cell_id.split("/")
    return out / "runs" / task_id / (config if fold == "all" else f"{config}_fold{fold}")


def write_receipt(out: Path, cell_id: str, mean_dice: float, created: str = "2026-11-28T00:00:00+00:00") -> Path:
    task_id, config, fold = cell_id.split("/")
    folder = run_dir(out, cell_id)
    folder.mkdir(parents=True, exist_ok=True)
    receipt = {"schema": SCHEMA, "created": created, "kit": {"version": "0.1.0", "revision": None},
               "dataset": {"task_id": task_id, "lock_sha256": "0" * 64, "dataset_sha256": "1" * 64},
               "configuration": {"name": config, "fold": fold, "epochs": 1000},
               "hashes": {}, "files": {},
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
