"""Benchmark: segbook.evaluate vs MONAI vs DeepMind surface-distance on one big multi-class case.

    .venv/bin/python bench/bench_metrics.py            # 512x512x300, 24 classes (minutes on 2 cores)
    .venv/bin/python bench/bench_metrics.py --small    # 160x160x64, 10 classes (seconds)

Each implementation runs in its own fresh subprocess on the same arrays (saved once as .npy),
so its peak memory is measurable: "peak MB" is the growth of the process's peak resident set
size (VmHWM, reset through /proc/self/clear_refs; Linux) during the metric computation, after
the data and the libraries are loaded. Times are wall-clock seconds for every class of the case:
  * segbook: Dice, NSD (1 mm) and HD95 of every label, from the two label maps;
  * monai:   per class, binary masks -> compute_dice + compute_surface_dice(use_subvoxels=True)
             + compute_hausdorff_distance(percentile=95), as MONAI needs one-hot input;
  * deepmind: per class, binary masks -> compute_surface_distances + surface Dice + robust HD95.
The script prints a table and the largest differences between the implementations.
Numbers go into docs/metrics.md, not into assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPACING = (2.5, 0.8, 0.8)  # (z, y, x) mm: thick slices, fine in-plane, like many CT series
TOLERANCE_MM = 1.0


def make_case(shape, n_classes, seed=0):
    """A synthetic label map (ellipsoid organs, a few thin tubes) and a perturbed 'prediction'."""
    rng = np.random.default_rng(seed)
    ref = np.zeros(shape, np.uint8)
    for value in range(1, n_classes + 1):
        if value % 6 == 0:  # a thin vessel-like tube along z
            radius = np.array([shape[0] * 0.4, 2.5, 2.5])
        elif value % 4 == 0:  # a large organ
            radius = np.array([shape[0] * 0.2, shape[1] * 0.15, shape[2] * 0.15])
        else:
            radius = rng.uniform(0.03, 0.08, 3) * np.array(shape) + 2
        centre = rng.uniform(radius, np.array(shape) - radius)
        lo = np.maximum(np.floor(centre - radius).astype(int), 0)
        hi = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape)
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        inside = ((z - centre[0]) / radius[0]) ** 2 + ((y - centre[1]) / radius[1]) ** 2 \
            + ((x - centre[2]) / radius[2]) ** 2 <= 1
        ref[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = value
    pred = np.zeros_like(ref)
    from scipy import ndimage

    for value, box in enumerate(ndimage.find_objects(ref), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)
        mask = ref[grown] == value
        action = value % 3
        if action == 0:
            mask = ndimage.binary_dilation(mask)
        elif action == 1:
            mask = np.roll(mask, 1 + value % 2, axis=value % 3)
        else:
            mask = ndimage.binary_erosion(mask)
        pred[grown][mask] = value
    return ref, pred


def _status_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    """Reset the peak-RSS mark (Linux >= 4.0) and return the current RSS in MB.

    ru_maxrss cannot be used: after fork+exec it starts at the parent's size.
    """
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def run_segbook(ref, pred, labels):
    from segbook.evaluate.metrics import label_map_metrics

    out = label_map_metrics(ref, pred, SPACING, labels, {v: TOLERANCE_MM for v in labels})
    return {v: [m["dice"], m["nsd"], m["hd95"]] for v, m in out.items()}


def run_monai(ref, pred, labels):
    import torch
    from monai.metrics import compute_dice, compute_hausdorff_distance, compute_surface_dice

    out = {}
    for value in labels:
        y = torch.from_numpy(ref == value)[None, None]
        y_pred = torch.from_numpy(pred == value)[None, None]
        dice = compute_dice(y_pred.float(), y.float(), include_background=True)
        nsd = compute_surface_dice(y_pred, y, [TOLERANCE_MM], include_background=True, spacing=list(SPACING),
                                   use_subvoxels=True)
        hd = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95, spacing=list(SPACING))
        out[value] = [float(dice[0, 0]), float(nsd[0, 0]), float(hd[0, 0])]
    return out


def run_deepmind(ref, pred, labels):
    import surface_distance

    out = {}
    for value in labels:
        r, p = ref == value, pred == value
        distances = surface_distance.compute_surface_distances(r, p, SPACING)
        out[value] = [2 * float((r & p).sum()) / float(r.sum() + p.sum()),
                      float(surface_distance.compute_surface_dice_at_tolerance(distances, TOLERANCE_MM)),
                      float(surface_distance.compute_robust_hausdorff(distances, 95))]
    return out


RUNNERS = {"segbook": run_segbook, "monai": run_monai, "deepmind": run_deepmind}


def worker(method: str, folder: Path) -> None:
    """Run one implementation in this (fresh) process and print a JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    if method == "monai":
        import monai.metrics  # noqa: F401 - load the library before the baseline
        import torch

        torch.set_num_threads(torch.get_num_threads())
    elif method == "deepmind":
        import surface_distance  # noqa: F401
    else:
        from segbook.evaluate.surfels import code_area_vectors

        code_area_vectors()  # the cached marching-cubes table: a one-off cost per process
    ref, pred = np.load(folder / "ref.npy"), np.load(folder / "pred.npy")
    labels = json.loads((folder / "labels.json").read_text())
    base = _reset_peak()  # data and libraries loaded; nothing else allocated yet
    start = time.perf_counter()
    values = RUNNERS[method](ref, pred, labels)
    seconds = time.perf_counter() - start
    print(json.dumps({"method": method, "seconds": seconds, "peak_mb": _status_mb("VmHWM") - base,
                      "values": {str(k): v for k, v in values.items()}}))


def _spawn(method: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", method, "--data", str(folder)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _max_diff(a: dict, b: dict, index: int) -> float:
    diffs = [abs(a[k][index] - b[k][index]) for k in a
             if np.isfinite(a[k][index]) and np.isfinite(b[k][index])]
    return max(diffs) if diffs else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="160x160x64 with 10 classes")
    parser.add_argument("--skip", action="append", default=[], choices=list(RUNNERS), help="leave one out")
    parser.add_argument("--worker", choices=list(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data)
        return 0
    shape, n_classes = ((64, 160, 160), 10) if args.small else ((300, 512, 512), 24)
    start = time.perf_counter()
    ref, pred = make_case(shape, n_classes)
    print(f"case: {shape[2]}x{shape[1]}x{shape[0]} voxels (x*y*z), {len(np.unique(ref)) - 1} classes, "
          f"spacing {SPACING[::-1]} mm (x,y,z), NSD tolerance {TOLERANCE_MM} mm; "
          f"made in {time.perf_counter() - start:.1f} s")
    results = {}
    with tempfile.TemporaryDirectory(prefix="segbook-bench-") as tmp:
        np.save(Path(tmp) / "ref.npy", ref)
        np.save(Path(tmp) / "pred.npy", pred)
        (Path(tmp) / "labels.json").write_text(json.dumps([int(v) for v in np.unique(ref) if v]))
        del ref, pred
        for method in RUNNERS:
            if method not in args.skip:
                results[method] = _spawn(method, Path(tmp))
    ours = results.get("segbook")
    print(f"\n{'implementation':<16}{'seconds':>10}{'peak MB':>10}{'vs segbook':>12}")
    for method, res in results.items():
        ratio = f"{res['seconds'] / ours['seconds']:.1f}x" if ours else "-"
        print(f"{method:<16}{res['seconds']:>10.2f}{res['peak_mb']:>10.0f}{ratio:>12}")
    if ours:
        print("\nlargest |difference| to segbook over all classes:")
        for method, res in results.items():
            if method != "segbook":
                print(f"  {method:<10} dice {_max_diff(ours['values'], res['values'], 0):.2e}  "
                      f"nsd {_max_diff(ours['values'], res['values'], 1):.2e}  "
                      f"hd95 {_max_diff(ours['values'], res['values'], 2):.2e} mm"
                      + ("  (MONAI's HD95 is the border-voxel variant)" if method == "monai" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
