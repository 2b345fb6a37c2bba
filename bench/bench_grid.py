"""Benchmark: `segbook grid plan` over 87 x 7 x 5 cells and `grid status` over as many receipts.

    .venv/bin/python bench/bench_grid.py               # 87 datasets x 7 configurations x folds 0-4 = 3,045 cells
    .venv/bin/python bench/bench_grid.py --folds all   # the 609 cells of the SegBook protocol

Everything is synthetic and local: a copy of the kit's manifests where every dataset has a lock
file, one tiny raw folder per dataset, placeholder checkpoints (--trust-unpinned), then one
receipt per cell (as `segbook finetune` writes them, minus the per-case tables and the run files, so
no cell counts as done). Each command is
timed twice: in-process (the library call) and as the CLI a user runs (a fresh Python process,
imports included). Median of --repeats. Budgets (issue 8): plan < 2 s, status over 3,000 receipts
< 5 s. Numbers go to docs/benchmarks.md, not into assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit, load_average, machine_line, progress

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUDGETS = {"plan": 2.0, "status": 5.0}


def _setup(root: Path) -> dict:
    from segbook.catalog import load_catalog

    manifests = root / "manifests"
    shutil.copytree(REPO / "manifests", manifests, ignore=shutil.ignore_patterns("reference"))
    data = {}
    for manifest in load_catalog(manifests):
        if manifest.kind != "catalog":
            continue
        (manifests / "locks" / f"{manifest.task_id}.lock").write_text("# benchmark stand-in\n")
        raw = root / "raw" / manifest.task_id
        raw.mkdir(parents=True)
        (raw / "dataset.json").write_text("{}\n")
        data[manifest.task_id] = str(raw)
    (root / "data.yaml").write_text("".join(f"{k}: {v}\n" for k, v in data.items()))
    weights = root / "weights"
    weights.mkdir()
    for name in ("base_ep4k.model", "large_ep4k.model", "huge_ep4k.model"):
        (weights / name).write_bytes(b"placeholder")
    return {"SEGBOOK_MANIFESTS": str(manifests), "SEGBOOK_WEIGHTS_DIR": str(weights)}


def _write_receipts(grid_dir: Path) -> int:
    from segbook.core.receipt import SCHEMA
    from segbook.grid.gridfile import read_grid

    grid = read_grid(grid_dir)
    for i, entry in enumerate(grid.entries):
        run_dir = entry.cell.run_dir(grid.out_root)
        run_dir.mkdir(parents=True, exist_ok=True)
        receipt = {"schema": SCHEMA, "created": "2026-11-28T00:00:00+00:00", "kit": {"version": "0.1.0"},
                   "dataset": {"task_id": entry.cell.task_id}, "hashes": {"final_weights": f"{i:064x}"},
                   "files": {}, "configuration": {"name": entry.cell.configuration, "fold": entry.cell.fold},
                   "metrics": {"summary": {"mean_dice": 0.5 + (i % 40) / 100, "n_cases": 10}}}
        (run_dir / "receipt.json").write_text(json.dumps(receipt, indent=2))
    return len(grid.entries)


def _time(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cli(env: dict, *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "segbook", *args], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=REPO, check=False)
    if result.returncode != 0:
        raise SystemExit(f"segbook {' '.join(args)} exited {result.returncode}: {result.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="0-4", help="folds of the grid (default 0-4: 3,045 cells)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="segbook-bench-grid-") as tmp:
        root = Path(tmp)
        env = _setup(root)
        os.environ.update(env)  # the in-process calls read the same manifests (settings read it once per call)
        from segbook.catalog import load_catalog
        from segbook.core.settings import load_settings
        from segbook.grid.gridfile import read_grid
        from segbook.grid.plan import PlanRequest, plan_grid
        from segbook.grid.status import grid_status

        grid_dir = root / "grid"
        manifests = Path(env["SEGBOOK_MANIFESTS"])  # passed down, as the api does (no layer below reads it)
        request = PlanRequest(grid_dir=grid_dir, out_root=root / "out", datasets=["all"], configs=["paper"],
                              folds=args.folds.split(","), data_file=root / "data.yaml", weights_dir=root / "weights",
                              trust_unpinned=True, force=True, manifests_dir=manifests)
        progress("grid", f"plan: {args.folds} folds")
        plan_lib = _time(lambda: plan_grid(request, catalog=load_catalog(manifests)), args.repeats)
        plan_cli = _time(lambda: _cli(env, "grid", "plan", "--datasets", "all", "--configs", "paper", "--folds",
                                      args.folds, "--data", str(root / "data.yaml"), "--grid", str(grid_dir),
                                      "--out", str(root / "out"), "--trust-unpinned", "--force"), args.repeats)
        progress("grid", "writing one receipt per cell")
        cells = _write_receipts(grid_dir)
        grid = read_grid(grid_dir)
        lock_mode = load_settings().lock_mode
        progress("grid", f"status over {cells} receipts")
        status_lib = _time(lambda: grid_status(grid, lock_mode), args.repeats)
        status_cli = _time(lambda: _cli(env, "grid", "status", str(grid_dir)), args.repeats)
        report_cli = _time(lambda: _cli(env, "grid", "report", str(grid_dir), "--force"), 1)
    rows = [["grid plan", cells, f"{plan_lib:.2f}", f"{plan_cli:.2f}", f"< {BUDGETS['plan']:g} s",
             "met" if plan_cli < BUDGETS["plan"] else "MISSED"],
            ["grid status", cells, f"{status_lib:.2f}", f"{status_cli:.2f}", f"< {BUDGETS['status']:g} s",
             "met" if status_cli < BUDGETS["status"] else "MISSED"],
            ["grid report (ledger: CSV, Markdown, heat map, HTML)", cells, "", f"{report_cli:.2f}", "", ""]]
    emit({"name": "grid", "title": f"Grid plan / status / report over {cells} cells (87 x 7 x folds {args.folds})",
          "columns": ["command", "cells", "library s", "CLI s (fresh process)", "budget", "goal"], "rows": rows,
          "notes": [machine_line(), f"median of {args.repeats} (report: one run); load average {load_average()}",
                    "one synthetic receipt per cell, naming no run files: since one meaning of done (verify.done) "
                    "such a cell is broken, not done, so `grid report` times the ledger of states; the report "
                    "with per-case tables over 3,045 receipts is bench_report.py --folds 0-3"],
          "raw": {"plan_lib": plan_lib, "plan_cli": plan_cli, "status_lib": status_lib, "status_cli": status_cli,
                  "report_cli": report_cli, "cells": cells}}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
