"""Benchmark: the report's per-cell bootstrap over the whole benchmark (87 datasets x 7 configurations).

    .venv/bin/python bench/bench_report.py              # 609 cells x 1,000 resamples, 5 repeats
    .venv/bin/python bench/bench_report.py --repeats 1  # once

Each cell gets the catalog's number of test cases and foreground classes for its dataset, with
synthetic Dice values (10 % of them undefined, as for a class absent from a case). Timed:
  * bootstrap: segbook.report.bootstrap.intervals_for over the 609 cells (the part issue 9 budgets:
    < 2 s), median of the repeats;
  * report: the whole `build_report` (tables, intervals, plots, HTML) from 609 receipt files,
    without verification (--no-verify; verification time is hashing the runs' files), once.
Numbers go into docs/benchmarks.md, not into assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: segbook, tests.report_runs

from common import emit, load_average, machine_line, peak_rss_gib, progress

from segbook.report.receipts import CONFIG_TO_PAPER

BUDGET_S = 2.0


def benchmark_cells(seed: int = 0):
    """(task_id, configuration, cases x classes Dice) for every dataset x configuration of the paper."""
    from segbook.catalog import load_catalog

    rng = np.random.default_rng(seed)
    cells = []
    for manifest in load_catalog():
        if manifest.kind != "catalog" or not manifest.paper_dice:
            continue
        n_test = manifest.cases.get("test") or max(1, round(0.2 * (manifest.n_cases or 10)))
        for config in CONFIG_TO_PAPER:
            values = rng.uniform(0.4, 0.95, size=(n_test, len(manifest.labels)))
            values[rng.random(values.shape) < 0.1] = np.nan
            cells.append((manifest.task_id, config, values))
    return cells


def time_bootstrap(cells, repeats: int) -> list[float]:
    from segbook.report.bootstrap import intervals_for

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        intervals_for(cells)
        times.append(time.perf_counter() - started)
    return times


def time_report(cells, folder: Path, folds: tuple[str, ...] = ()) -> tuple[float, int, int]:
    """The whole report from one receipt per cell and fold (fold "all" plus `folds`); seconds, receipts
    read and comparison rows written."""
    from segbook.report import build_report
    from tests.report_runs import per_case_metrics

    n = 0
    for task_id, config, values in cells:
        for fold in ("all", *folds):
            run = folder / "runs" / task_id / (config if fold == "all" else f"{config}_fold{fold}")
            run.mkdir(parents=True)
            receipt = {"schema": "segbook-receipt/1", "created": "2025-01-01T00:00:00Z", "kit": {"version": "bench"},
                       "dataset": {"task_id": task_id}, "configuration": {"name": config, "fold": fold},
                       "metrics": per_case_metrics(values, [f"c{i}" for i in range(values.shape[1])])}
            (run / "receipt.json").write_text(json.dumps(receipt, allow_nan=False))
            n += 1
    started = time.perf_counter()
    build_report(folder / "report", out_root=folder, verify=False)
    took = time.perf_counter() - started
    return took, n, sum(1 for _ in open(folder / "report" / "comparisons.csv")) - 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-report", action="store_true", help="time the bootstrap only")
    parser.add_argument("--folds", default="", help="also a receipt per cross-validation fold, e.g. 0-3 (3,045 "
                                                    "receipts: the report reads all, compares the fold-all cells)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    cells = benchmark_cells()
    n_cases = [c[2].shape[0] for c in cells]
    progress("report", f"{len(cells)} cells, {sum(n_cases)} test cases; bootstrap x{args.repeats}")
    load_before = load_average()
    times = time_bootstrap(cells, args.repeats)
    median = statistics.median(times)
    rows = [["bootstrap, 609 cells x 1,000 resamples", f"{median:.2f}", f"{min(times):.2f}", f"{max(times):.2f}",
             "yes" if median < BUDGET_S else "NO"]]
    if not args.no_report:
        folds = tuple(str(f) for f in range(int(args.folds[0]), int(args.folds[-1]) + 1)) if args.folds else ()
        with tempfile.TemporaryDirectory(prefix="segbook-bench-report-") as tmp:
            progress("report", f"writing {len(cells) * (1 + len(folds))} receipts and building the whole report "
                               "(--no-verify)")
            took, n_receipts, n_pairs = time_report(cells, Path(tmp), folds)
        rows.append([f"whole report from {n_receipts:,} receipts (--no-verify): per_case.csv, {n_pairs:,} paired "
                     "comparisons, forest plot", f"{took:.1f}", "", "",
                     ("yes (goal < 10 s)" if took < 10 else "NO (goal < 10 s)") if n_receipts >= 3000 else ""])
    result = {"name": "report", "title": "Report: per-cell bootstrap intervals over the whole benchmark",
              "columns": ["what", "median s", "min s", "max s", f"< {BUDGET_S:g} s"], "rows": rows,
              "notes": [machine_line(), f"test cases per cell: min {min(n_cases)}, median "
                        f"{int(statistics.median(n_cases))}, max {max(n_cases)}; load average before: {load_before}",
                        f"peak RSS {peak_rss_gib()} GiB"],
              "raw": {"bootstrap_s": times}}
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
