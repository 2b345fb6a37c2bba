"""Run the SegBook benchmarks and print their tables (what `make bench` runs).

Each benchmark runs as its own process (so one's memory and threads do not affect the next) and
hands back its table as JSON; the tables are printed as Markdown, ready for docs/benchmarks.md.

    .venv/bin/python bench/run_all.py                    # all of them (about 30-40 min on 2 cores)
    .venv/bin/python bench/run_all.py --quick            # small sizes, one repeat (a few minutes)
    .venv/bin/python bench/run_all.py --only determinism # one of: stunet determinism demo metrics report
    .venv/bin/python bench/run_all.py --device cuda      # STU-Net step on a GPU with AMP
    .venv/bin/python bench/run_all.py --json results.json

Numbers are for reading, not asserting: the tests never depend on timings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_line, markdown_table

HERE = Path(__file__).resolve().parent
# name -> (script, extra args in --quick mode); order = order of the report
BENCHMARKS = {
    "stunet": ("bench_stunet.py", ["--quick"]),
    "determinism": ("bench_determinism.py", ["--quick"]),
    "demo": ("bench_demo.py", []),
    "metrics": ("bench_metrics.py", ["--small"]),  # owned by the evaluation side; run when present
    "report": ("bench_report.py", ["--repeats", "1", "--no-report"]),  # bootstrap of 609 cells (< 2 s budget)
    "grid": ("bench_grid.py", ["--repeats", "1"]),  # grid plan / status over 3,045 cells (< 2 s / < 5 s)
    "predict": ("bench_predict.py", ["--repeats", "1"]),  # segbook predict vs nnUNetPredictor (<= 1.05x)
    "signal": ("bench_signal.py", []),  # SIGTERM -> exit 75, and the cost of counter-based batch seeds
    "leakage": ("bench_leakage.py", ["--small"]),  # duplicate/near-duplicate checks in prepare
    "prepare_jobs": ("bench_prepare_jobs.py", ["--small"]),  # prepare --jobs 2 vs 1, and the read/write floor
}
SKIPPED_WHEN_QUICK = {"demo"}  # the demo has one size: it runs in full or not at all


def run_one(name: str, quick: bool, device: str) -> tuple[int, dict | None, str, float]:
    """Run a benchmark script: (exit code, its JSON result or None, its stdout, seconds)."""
    script, quick_args = BENCHMARKS[name]
    argv = [sys.executable, str(HERE / script), *(quick_args if quick else [])]
    if name == "stunet":
        argv += ["--device", device]
    with tempfile.TemporaryDirectory(prefix="segbook-bench-") as tmp:
        json_path = Path(tmp) / "result.json"
        if name != "metrics":  # the metrics benchmark prints its own table
            argv += ["--json", str(json_path)]
        started = time.monotonic()
        # stderr (progress, errors) goes straight to the terminal; stdout (the table) is collected
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False, cwd=HERE.parent)
        elapsed = round(time.monotonic() - started, 1)
        result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else None
    return proc.returncode, result, proc.stdout, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS),
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one repeat; skips the demo unless named with --only")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="device for the STU-Net step benchmark (cuda: AMP on)")
    parser.add_argument("--json", type=Path, help="write every result as one JSON file")
    args = parser.parse_args(argv)

    names = args.only or [n for n in BENCHMARKS if not (args.quick and n in SKIPPED_WHEN_QUICK)]
    header = f"SegBook benchmarks{' (--quick)' if args.quick else ''}: {machine_line()}"
    print(header, flush=True)
    sections, results, failures = [], {}, []
    for name in names:
        if not (HERE / BENCHMARKS[name][0]).is_file():
            sections.append(f"({name}: {BENCHMARKS[name][0]} is not there yet, skipped)\n")
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        code, result, stdout, elapsed = run_one(name, args.quick, args.device)
        if code != 0:
            failures.append(name)
        if result is not None:
            results[name] = {**result, "elapsed_s": elapsed, "exit_code": code}
            sections.append(markdown_table(result) + f"\n({name}: {elapsed} s, exit {code})\n")
        else:
            printed = stdout.strip() or "(no output)"
            sections.append(f"### {name}\n\n{printed}\n\n({name}: {elapsed} s, exit {code})\n")
    print("\n# Results\n\n" + header + "\n\n" + "\n".join(sections))
    if args.json:
        args.json.write_text(json.dumps({"machine": header, "results": results}, indent=1), encoding="utf-8")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
