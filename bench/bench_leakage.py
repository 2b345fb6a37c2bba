"""Benchmark: what the leakage checks cost (issue 9: < 5 % of `prepare` on 1,000 cases; `datasets
overlap` a few seconds for 1,000-case locks).

    .venv/bin/python bench/bench_leakage.py            # 8 cases of 512x512x96 int16 (minutes on 2 cores)
    .venv/bin/python bench/bench_leakage.py --small    # 8 cases of 256x256x48 (seconds)

1. prepare: a real `prepare_dataset` of N synthetic CT-like cases (per-case seconds), against the
   fingerprint of each converted image (per-case seconds, the only per-case work the checks add:
   grouping reuses the content hashes) plus, at 1,000 cases, the all-pairs near-duplicate search
   and the grouping. Overhead at 1,000 cases = (1000 x fingerprint + pairs + grouping) /
   (1000 x prepare per case).
2. overlap: two 1,000-case lock files (100 cases shared) with prepared stamps under an output root
   (so near-duplicates are searched too), `segbook datasets overlap A.lock B.lock` run as a child
   process (start-up included) and in-process.
Numbers go to docs/benchmarks.md, not into assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, progress

REPO = Path(__file__).resolve().parents[1]


def _phantom(rng, shape) -> np.ndarray:
    zz, yy, xx = np.ogrid[:shape[0], :shape[1], :shape[2]]
    body = ((yy - shape[1] / 2) / (0.4 * shape[1])) ** 2 + ((xx - shape[2] / 2) / (0.42 * shape[2])) ** 2 < 1
    array = np.where(body, 40, -1000).astype(np.int16) + np.zeros(shape, np.int16)
    for _ in range(8):
        c = rng.uniform(0.2, 0.8, 3) * shape
        r = rng.uniform(0.05, 0.15) * shape[1]
        blob = ((zz - c[0]) / r * 2) ** 2 + ((yy - c[1]) / r) ** 2 + ((xx - c[2]) / r) ** 2 < 1
        array[blob & body] = int(rng.uniform(-100, 300))
    return array + rng.normal(0, 20, shape).astype(np.int16)


def _raw_tree(root: Path, n: int, shape) -> Path:
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        image = sitk.GetImageFromArray(_phantom(rng, shape))
        image.SetSpacing((0.8, 0.8, 2.5))
        label = sitk.GetImageFromArray(rng.integers(0, 3, shape).astype(np.uint8) * (rng.random(shape) < 0.01))
        label.CopyInformation(image)
        sitk.WriteImage(image, str(root / "imagesTr" / f"case_{i:03d}_0000.nii.gz"), True)
        sitk.WriteImage(label, str(root / "labelsTr" / f"case_{i:03d}.nii.gz"), True)
    meta = {"channel_names": {"0": "MR"}, "labels": {"background": 0, "organ": 1, "lesion": 2},
            "numTraining": n, "file_ending": ".nii.gz"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def bench_prepare(tmp: Path, n: int, shape) -> list[list]:
    from segbook.catalog import load_catalog
    from segbook.convert.duplicates import identical_groups, near_duplicates
    from segbook.convert.fingerprint import image_fingerprint
    from segbook.convert.prepare import PrepareOptions, prepare_dataset
    from segbook.core.volumes import read_volume

    raw = _raw_tree(tmp / "raw", n, shape)
    manifest = load_catalog(REPO / "manifests").get("Task999_SegBookDemo")
    start = time.perf_counter()
    prepared = prepare_dataset(manifest, raw, tmp / "out", PrepareOptions(lock=True, lock_file=tmp / "bench.lock"))
    per_case = (time.perf_counter() - start) / n
    fp_times = []
    for path in sorted((prepared.dataset_dir).glob("images*/*_0000.nii.gz")):
        image = read_volume(path)
        t0 = time.perf_counter()
        image_fingerprint(image)
        fp_times.append(time.perf_counter() - t0)
    fp = float(np.median(fp_times))
    rng = np.random.default_rng(1)
    fps = {f"c{i:04d}": rng.standard_normal(216).astype(np.float16) for i in range(1000)}
    hashes = {f"c{i:04d}": {"0000": hashlib.sha256(str(i % 990).encode()).hexdigest(), "label": "x"}
              for i in range(1000)}
    t0 = time.perf_counter()
    groups = identical_groups(hashes)
    near_duplicates(fps, groups)
    pairs = time.perf_counter() - t0
    overhead = (1000 * fp + pairs) / (1000 * per_case)
    return [[f"{n} x {'x'.join(map(str, shape[::-1]))}", f"{per_case:.2f}", f"{fp * 1000:.1f}",
             f"{pairs * 1000:.0f}", f"{100 * overhead:.2f} %"]]


def _write_lock_and_stamp(out: Path, locks: Path, task: str, cases: list[str], shared_hash) -> Path:
    from segbook.catalog.content import ImageHashes
    from segbook.catalog.lock import lock_from_conversion, write_lock
    from segbook.convert import fingerprint as fp
    from segbook.core.splits import make_split

    def h(text: str) -> ImageHashes:
        digest = hashlib.sha256(text.encode()).hexdigest()
        return ImageHashes(voxels=digest, geometry=digest, content=digest)

    hashes = {c: {"0000": h(shared_hash(task, c)), "label": h(f"{task}/{c}/label")} for c in cases}
    split = make_split(cases)
    lock = locks / f"{task}.lock"
    write_lock(lock, lock_from_conversion(task, split, hashes), dataset_name=task, tool="bench", command="bench")
    rng = np.random.default_rng(abs(hash(task)) % 2**32)
    folder = out / "nnUNet_raw" / f"Dataset_{task}"
    folder.mkdir(parents=True)
    stamp = {"task_id": task, "fingerprint_version": fp.FINGERPRINT_VERSION,
             "case_hashes": {c: {k: v.content for k, v in chans.items()} for c, chans in hashes.items()},
             "fingerprints": {c: fp.encode(rng.standard_normal(216).astype(np.float16)) for c in cases}}
    (folder / "segbook_prepared.json").write_text(json.dumps(stamp))
    return lock


def bench_overlap(tmp: Path) -> list[list]:
    from segbook.convert.overlap import compare, render, resolve

    out, locks = tmp / "ov-out", tmp / "locks"
    locks.mkdir()

    def shared(task: str, case: str) -> str:
        index = int(case.split("_")[1])
        return f"shared/{index}" if index < 100 else f"{task}/{case}"

    cases = [f"case_{i:04d}" for i in range(1000)]
    a = _write_lock_and_stamp(out, locks, "TaskA", cases, shared)
    b = _write_lock_and_stamp(out, locks, "TaskB", cases, shared)
    t0 = time.perf_counter()
    text = render(compare(resolve(str(a), out_root=out, manifests_dir=None),
                          resolve(str(b), out_root=out, manifests_dir=None)))
    inproc = time.perf_counter() - t0
    assert "100 shared case pairs" in text, text[:400]
    env = {**os.environ, "SEGBOOK_OUT": str(out)}
    t0 = time.perf_counter()
    child = subprocess.run([sys.executable, "-m", "segbook", "datasets", "overlap", str(a), str(b)],
                           capture_output=True, text=True, env=env, cwd=REPO, check=True)
    cli = time.perf_counter() - t0
    assert "100 shared case pairs" in child.stdout
    return [["1,000 vs 1,000 cases (100 shared), locks + stamps", f"{inproc:.2f}", f"{cli:.2f}"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args()
    shape = (48, 256, 256) if args.small else (96, 512, 512)
    with tempfile.TemporaryDirectory() as tmp:
        progress("leakage", f"prepare of {args.cases} cases of {shape} ...")
        prepare_rows = bench_prepare(Path(tmp), args.cases, shape)
        progress("leakage", "overlap of two 1,000-case locks ...")
        overlap_rows = bench_overlap(Path(tmp))
    load = os.getloadavg()[0]
    emit({"name": "leakage", "title": "Leakage checks: cost in prepare",
          "columns": ["cases x size", "prepare s/case", "fingerprint ms/case", "pairs+groups at 1,000 ms",
                      "overhead at 1,000 cases"],
          "rows": prepare_rows, "notes": [f"load average {load:.1f}"], "raw": {}}, None)
    emit({"name": "overlap", "title": "`segbook datasets overlap` on 1,000-case locks",
          "columns": ["inputs", "in-process s", "CLI s (start-up included)"],
          "rows": overlap_rows, "notes": [f"load average {load:.1f}"], "raw": {}}, args.json)


if __name__ == "__main__":
    main()
