"""Benchmark: `segbook predict` against nnU-Net 2.8.1's own predictor, same model, same images.

    .venv/bin/python bench/bench_predict.py --run OUT/runs/Task999_SegBookDemo/stunet-s_ft \
        --images OUT/nnUNet_raw/Dataset999_SegBookDemo/imagesTs
    .venv/bin/python bench/bench_predict.py            # runs the tiny demo first (a few minutes)

Timed, median of --repeats, same thread count (the run's):
  * nnU-Net: a fresh process, `nnUNetPredictor.initialize_from_trained_model_folder` then
    `predict_from_files` (what `nnUNetv2_predict` does), start-up included;
  * segbook predict: the CLI in a fresh process (verification of the run's receipt included), and the
    per-case seconds it reports (the prediction alone).
Goal (issue 19): segbook's prediction no slower than 1.05x nnU-Net's. Numbers go into
docs/benchmarks.md, not into assertions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import emit, load_average, machine_line, progress  # noqa: E402

GOAL = 1.05
NNUNET = """
import sys, time, torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
torch.set_num_threads(int(sys.argv[4]))
p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True, perform_everything_on_device=True,
                    device=torch.device('cpu'), allow_tqdm=False)
p.initialize_from_trained_model_folder(sys.argv[1], use_folds=(sys.argv[5],), checkpoint_name='checkpoint_final.pth')
started = time.perf_counter()
p.predict_from_files(sys.argv[2], sys.argv[3], save_probabilities=False, overwrite=True,
                     num_processes_preprocessing=1, num_processes_segmentation_export=1)
print('PREDICT-SECONDS', time.perf_counter() - started)
"""


def _demo(work: Path) -> tuple[Path, Path]:
    progress("predict", "running the tiny demo for a model")
    subprocess.run([sys.executable, "-m", "segbook", "demo", "--out", str(work), "--epochs", "1",
                    "--iterations-per-epoch", "2", "--pretrain-steps", "2"], check=True, capture_output=True)
    (raw,) = (work / "nnUNet_raw").glob("Dataset999_*")
    return work / "runs" / "Task999_SegBookDemo" / "stunet-s_ft", raw / "imagesTs"


def _nnunet(run: Path, images: Path, out: Path, threads: int) -> tuple[float, float]:
    from segbook.nnunet.environment import nnunet_environment

    receipt = json.loads((run / "receipt.json").read_text())
    model_folder = (run / receipt["files"]["final_weights"]).parent.parent
    env = nnunet_environment(out, out, threads=threads, data_workers=0, deterministic=True)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", NNUNET, str(model_folder), str(images), str(out / "pred"),
                           str(threads), receipt["configuration"]["fold"]], env=env, capture_output=True, text=True,
                          check=True)
    total = time.perf_counter() - started
    return total, float(proc.stdout.split("PREDICT-SECONDS")[-1])


def _segbook(run: Path, images: Path, out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "segbook", "predict", str(run), str(images), str(out)],
                          capture_output=True, text=True, check=True)
    total = time.perf_counter() - started
    per_case = [float(line.split(", ")[1].split(" s")[0]) for line in proc.stderr.splitlines()
                if "] predicted " in line]
    return total, sum(per_case)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a run folder (default: the tiny demo's fine-tuned run)")
    parser.add_argument("--images", type=Path, help="images to predict (default: the run's held-out images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="segbook-bench-predict-") as tmp:
        work = Path(tmp)
        run, images = (args.run, args.images) if args.run else _demo(work / "demo")
        cases = len(list(images.glob("*_0000.nii.gz"))) or len(list(images.glob("*.nii*")))
        threads = json.loads((run / "receipt.json").read_text())["determinism"].get("threads") or 2
        theirs, ours = [], []
        for repeat in range(args.repeats):
            progress("predict", f"repeat {repeat + 1}/{args.repeats}: nnU-Net, then segbook predict")
            for name in ("nnunet", "segbook"):
                shutil.rmtree(work / name, ignore_errors=True)
                (work / name).mkdir()
            theirs.append(_nnunet(run, images, work / "nnunet", threads))
            ours.append(_segbook(run, images, work / "segbook"))
    their_total, their_predict = (statistics.median(x) for x in zip(*theirs, strict=True))
    our_total, our_predict = (statistics.median(x) for x in zip(*ours, strict=True))
    ratio = our_predict / their_predict
    rows = [["nnU-Net nnUNetPredictor (fresh process)", f"{their_total:.1f}", f"{their_predict / cases:.2f}", ""],
            ["segbook predict (CLI, verification included)", f"{our_total:.1f}", f"{our_predict / cases:.2f}",
             f"{ratio:.2f}x ({'met' if ratio <= GOAL else 'MISSED'} <= {GOAL}x)"]]
    emit({"name": "predict", "title": f"Predict: segbook vs nnU-Net's predictor, {cases} case(s), {threads} threads",
          "columns": ["what", "total s", "prediction s per case", "segbook / nnU-Net"], "rows": rows,
          "notes": [machine_line(), f"median of {args.repeats}; load average {load_average()}",
                    "prediction s: nnU-Net's predict_from_files call vs the sum of segbook's per-case seconds"],
          "raw": {"nnunet": theirs, "segbook": ours, "cases": cases}}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
