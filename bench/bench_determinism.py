"""What deterministic mode costs: training throughput through the real nnU-Net trainer.

Runs `segbook finetune Demo --model stunet-s --init scratch` (a real nnU-Net v2 training on the
embedded demo data, on CPU) in three variants with the same compute threads:

- default:        --no-deterministic  (nnU-Net's NonDetMultiThreadedAugmenter, nothing seeded)
- deterministic:  --deterministic     (seeded workers, batches read round-robin, deterministic
                                       kernels) with the same number of augmentation workers
- deterministic, single-threaded augmenter: --deterministic --data-workers 0 (the easy, slow way)

The figure compared is nnU-Net's own "Epoch time" (its training and validation iterations, from
the run's logs/nnunet.log), excluding the first epoch (start-up, worker warm-up). Variants are
interleaved and repeated so that load from other processes falls on all of them; a variant's figure
is the median over its repeats. Overhead = deterministic / default - 1; the goal is under 20 %.

    .venv/bin/python bench/bench_determinism.py                 # 3 repeats, 4 epochs x 15 iterations
    .venv/bin/python bench/bench_determinism.py --quick         # 1 repeat, 2 epochs x 3 iterations
    .venv/bin/python bench/bench_determinism.py --repeats 3 --epochs 6 --iterations 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit, load_average, machine_line, progress

PROGRESS_PREFIX = "SEGBOOK-PROGRESS "  # the kit's per-epoch record in the run's nnunet.log
EPOCH_TIME = re.compile(r"Epoch time: ([0-9.]+) s")  # nnU-Net's own line: the figure compared
GOAL_OVERHEAD = 0.20


def variants(workers: int) -> list[tuple[str, list[str]]]:
    return [
        ("default", ["--no-deterministic", "--data-workers", str(workers)]),
        ("deterministic", ["--deterministic", "--data-workers", str(workers)]),
        ("deterministic, 1-thread augmenter", ["--deterministic", "--data-workers", "0"]),
    ]


def epoch_seconds(log_text: str) -> tuple[list[float], list[float]]:
    """(nnU-Net's "Epoch time" per epoch, the kit's wall time per epoch) from a run's nnunet.log.

    nnU-Net's figure covers the training and validation iterations only; the kit's also covers
    the checkpoint and the progress plot written at the end of an epoch.
    """
    records = [json.loads(line[len(PROGRESS_PREFIX):]) for line in log_text.splitlines()
               if line.startswith(PROGRESS_PREFIX)]
    return [float(m) for m in EPOCH_TIME.findall(log_text)], [float(r["seconds"]) for r in records]


def run_once(out_root: Path, dataset: str, flags: list[str], args, fresh: bool) -> dict:
    """One real `segbook finetune`; the run folder is replaced each time (--force)."""
    argv = [sys.executable, "-m", "segbook", "finetune", dataset, "--model", "stunet-s", "--init", "scratch",
            "--epochs", str(args.epochs), "--iterations-per-epoch", str(args.iterations),
            "--threads", str(args.threads), "--device", "cpu", "--out", str(out_root), "--quiet", *flags]
    if not fresh:
        argv.append("--force")
    load_before = load_average()
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])
        raise SystemExit(f"segbook finetune failed (exit {proc.returncode}): {' | '.join(last[-2:])}")
    receipts = sorted(out_root.glob("runs/*/*/receipt.json"))
    if len(receipts) != 1:
        raise SystemExit(f"expected one receipt under {out_root}/runs, found {len(receipts)}")
    run_dir = receipts[0].parent
    receipt = json.loads(receipts[0].read_text(encoding="utf-8"))
    log_text = (run_dir / "logs" / "nnunet.log").read_text(encoding="utf-8", errors="replace")
    epochs, epochs_wall = epoch_seconds(log_text)
    if len(epochs) != args.epochs:
        raise SystemExit(f"found {len(epochs)} epoch times in {run_dir}/logs/nnunet.log, "
                         f"expected {args.epochs}")
    return {
        "flags": flags, "epoch_s": epochs, "steady_epoch_s": epochs[1:] or epochs, "epoch_wall_s": epochs_wall,
        "train_stage_s": receipt.get("timings", {}).get("train"), "wall_s": round(wall, 1),
        "determinism": receipt.get("determinism"), "load_before": load_before, "load_after": load_average(),
    }


def run(quick: bool = False, repeats: int | None = None, epochs: int | None = None,
        iterations: int | None = None, threads: int | None = None, workers: int = 2,
        dataset: str = "Demo", keep: Path | None = None) -> dict:
    args = argparse.Namespace(epochs=epochs or (2 if quick else 4),
                              iterations=iterations or (3 if quick else 15),
                              threads=threads or os.cpu_count() or 1)
    repeats = repeats or (1 if quick else 3)
    chosen = variants(workers)
    runs: dict[str, list[dict]] = {name: [] for name, _ in chosen}
    with tempfile.TemporaryDirectory(prefix="segbook-bench-det-") as tmp:
        out_root = keep or Path(tmp)
        fresh = not any(out_root.glob("runs/*/*/receipt.json"))
        if fresh and not quick:  # prepare and plan once, uncounted, so that no variant pays for it
            progress("determinism", "priming: generate, plan and preprocess the data (1 epoch x 1 iteration)")
            prime = argparse.Namespace(epochs=1, iterations=1, threads=args.threads)
            run_once(out_root, dataset, ["--deterministic"], prime, fresh=True)
            fresh = False
        for rep in range(repeats):
            # rotate the order each repeat so no variant always runs first (cold caches) or last
            order = chosen[rep % len(chosen):] + chosen[:rep % len(chosen)]
            for name, flags in order:
                progress("determinism", f"repeat {rep + 1}/{repeats}: {name} ({args.epochs} epochs x "
                         f"{args.iterations} iterations, {args.threads} threads; load {load_average()})")
                runs[name].append(run_once(out_root, dataset, flags, args, fresh))
                fresh = False
                progress("determinism", f"  epochs (s): {runs[name][-1]['epoch_s']}")
    return table(runs, args, repeats, workers, dataset)


def table(runs: dict[str, list[dict]], args, repeats: int, workers: int, dataset: str) -> dict:
    # per run: median over its epochs (the first excluded); per variant: median over the runs, so
    # that one repeat disturbed by other processes does not move the result (with 3+ repeats)
    medians = {name: statistics.median(statistics.median(r["steady_epoch_s"]) for r in rs)
               for name, rs in runs.items()}
    base = medians["default"]
    columns = ["variant", "aug. workers", "s/epoch", "s/iteration", "vs default",
               "per-repeat medians (s/epoch)", "train stage s (per repeat)"]
    rows = []
    for name, rs in runs.items():
        per_repeat = [round(statistics.median(r["steady_epoch_s"]), 2) for r in rs]
        flags = rs[0]["flags"]
        rows.append([
            name, flags[flags.index("--data-workers") + 1], round(medians[name], 2),
            round(medians[name] / args.iterations, 3),
            "-" if name == "default" else f"{(medians[name] / base - 1) * 100:+.1f} %",
            " ".join(map(str, per_repeat)), " ".join(str(r["train_stage_s"]) for r in rs),
        ])
    overhead = medians["deterministic"] / base - 1
    verdict = "met" if overhead < GOAL_OVERHEAD else "NOT met"
    notes = [
        f"`segbook finetune {dataset} --model stunet-s --init scratch --epochs {args.epochs} "
        f"--iterations-per-epoch {args.iterations} --threads {args.threads} --device cpu`, "
        f"{repeats} repeat(s) per variant, interleaved, after one uncounted priming run (data generation, "
        "planning, preprocessing); s/epoch = median over repeats of each run's median epoch time (nnU-Net's "
        "'Epoch time'), first epoch of each run excluded.",
        f"s/iteration = s/epoch / {args.iterations} training iterations (an epoch also runs "
        f"{max(1, round(args.iterations * 0.2))} validation iterations).",
        f"Deterministic-mode overhead: {overhead * 100:+.1f} % time per epoch "
        f"(throughput {(base / medians['deterministic'] - 1) * 100:+.1f} %): goal < 20 % {verdict}.",
        f"Measured {machine_line()}.",
    ]
    raw = {"runs": runs, "medians": medians, "overhead": overhead, "goal_met": overhead < GOAL_OVERHEAD}
    title = "Deterministic vs default training throughput (real nnU-Net, CPU)"
    return {"name": "determinism", "title": title, "columns": columns, "rows": rows, "notes": notes,
            "raw": raw}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat of 2 epochs x 3 iterations")
    parser.add_argument("--repeats", type=int, help="runs per variant (default 3)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 4; the first is not counted)")
    parser.add_argument("--iterations", type=int, help="training iterations per epoch (default 15)")
    parser.add_argument("--threads", type=int, help="compute threads for every variant (default: cores)")
    parser.add_argument("--workers", type=int, default=2,
                        help="augmentation workers for the default and deterministic variants (default 2)")
    parser.add_argument("--dataset", default="Demo", help="what to train on (default: the embedded demo)")
    parser.add_argument("--keep", type=Path, help="use this output root (kept) instead of a temporary one")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, args.epochs, args.iterations, args.threads, args.workers,
                 args.dataset, args.keep)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
