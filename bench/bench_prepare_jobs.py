"""Benchmark: `prepare --jobs` (issue 17: --jobs 2 at least 1.5x faster than --jobs 1 on the 2-core machine,
for 16 CT-like cases of 256x256x64), and the cost per case beside the floor: a bare SimpleITK read and
write of the same files (what any conversion must at least do).

    .venv/bin/python bench/bench_prepare_jobs.py            # 16 cases of 256x256x64 (a few minutes)
    .venv/bin/python bench/bench_prepare_jobs.py --small    # 8 cases of 128x128x32 (seconds)

Each prepare is a fresh `prepare_dataset` (new output root), best of --repeats. Numbers go to
docs/benchmarks.md, not into assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_leakage import _raw_tree  # the same CT-like phantoms
from common import emit, machine_line, progress

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _prepare_seconds(raw: Path, tmp: Path, jobs: int, tag: str) -> float:
    from segbook.catalog import load_catalog
    from segbook.convert.prepare import PrepareOptions, prepare_dataset

    manifest = load_catalog(REPO / "manifests").get("Task999_SegBookDemo")
    start = time.perf_counter()
    prepare_dataset(manifest, raw, tmp / f"out-{tag}", PrepareOptions(lock=True, lock_file=tmp / f"{tag}.lock",
                                                                       jobs=jobs))
    return time.perf_counter() - start


def _floor_seconds(raw: Path, tmp: Path) -> float:
    """Read and write every file once with SimpleITK (compressed NIfTI), nothing else."""
    import SimpleITK as sitk

    start = time.perf_counter()
    for path in sorted(raw.rglob("*.nii.gz")):
        sitk.WriteImage(sitk.ReadImage(str(path)), str(tmp / f"floor-{path.name}"), True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    n, shape = (8, (32, 128, 128)) if args.small else (16, (64, 256, 256))
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        raw = _raw_tree(tmp / "Dataset999_SegBookDemo", n, shape)
        progress("prepare_jobs", f"{n} cases of {shape[::-1]} written")
        timings = {}
        for jobs in (1, 2):
            runs = [_prepare_seconds(raw, tmp, jobs, f"j{jobs}-{r}") for r in range(args.repeats)]
            timings[jobs] = min(runs)
            progress("prepare_jobs", f"--jobs {jobs}: {[round(r, 1) for r in runs]} s")
        floor = min(_floor_seconds(raw, tmp) for _ in range(args.repeats))
    speedup = timings[1] / timings[2]
    rows = [["--jobs 1", f"{timings[1]:.1f}", f"{timings[1] / n:.2f}", "1.00"],
            ["--jobs 2", f"{timings[2]:.1f}", f"{timings[2] / n:.2f}", f"{speedup:.2f}"],
            ["floor: read + write each file once", f"{floor:.1f}", f"{floor / n:.2f}", "–"]]
    emit({"name": "prepare_jobs", "title": f"prepare --jobs on {n} CT-like cases of {shape[::-1]}",
          "columns": ["run", "seconds", "seconds per case", "speed-up"], "rows": rows,
          "notes": [machine_line(), f"load average at start {load:.2f}; best of {args.repeats}",
                    f"goal --jobs 2 >= 1.5x --jobs 1: {'met' if speedup >= 1.5 else 'not met'} ({speedup:.2f}x)"],
          "raw": {"n": n, "shape": shape, "seconds": timings, "floor": floor}}, args.json)


if __name__ == "__main__":
    main()
