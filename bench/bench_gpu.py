"""The one prepared GPU script (`make bench-gpu`): what a lent accelerator is asked, in one JSON file.

Four parts, each in its own child process where memory is measured, all within --budget-s
(8 minutes on one H200 by design; a part that would start past the budget is recorded as skipped):

1. stunet: STU-Net S/B/L/H forward + backward (deep-supervision Dice+CE, as bench_stunet.py) at the
   paper's patch, batch 2 x 1 x 128^3, in bf16 autocast: seconds per iteration (median), FLOPs
   counted by torch's own FlopCounterMode over one forward+backward, TFLOP/s, MFU against the
   card's dense bf16 peak, peak memory.
2. largest_batch: the largest batch of STU-Net-H at 128^3 whose forward+backward fits (doubling, then
   bisection between the last fit and the first out-of-memory), and its peak memory.
3. determinism: a tiny `segbook finetune Demo` (STU-Net-S from scratch) run twice in deterministic
   mode on the device, once without: same final-weights hash or not, and what deterministic mode
   costs (train-stage seconds, deterministic / not).
4. predict: seconds per test case of the deterministic run's predict stage (nnU-Net's sliding window
   with mirroring, through the kit's safe predictor; process start-up included).

    .venv/bin/python bench/bench_gpu.py --device cuda --json bench-gpu.json      # make bench-gpu
    .venv/bin/python bench/bench_gpu.py --device cpu --quick --json out.json     # what the tests run
    .venv/bin/python bench/bench_gpu.py --device cpu --quick --reference OUT/runs/Task999_SegBookDemo/stunet-s_scratch

--quick: S and B at 1 x 32^3, the batch search on S at 32^3 capped at 2, the demo at 1 epoch x 2
iterations. --reference RUN reuses a finished deterministic scratch demo run as the first of the two
deterministic runs (its receipt gives the schedule), so only the rerun and the non-deterministic run train.
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

from common import load_average, machine_line, progress

REPO = Path(__file__).resolve().parents[1]
PAPER_CASES = ["S:2x128x128x128", "B:2x128x128x128", "L:2x128x128x128", "H:2x128x128x128"]
QUICK_CASES = ["S:1x32x32x32", "B:1x32x32x32"]
# dense (not sparse) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s; matched in order
BF16_PEAK_TFLOPS = (("H200", 989.4), ("H100 PCIe", 756.0), ("H100", 989.4), ("A100", 312.0), ("L40S", 362.1))
DEMO_SCHEDULE = {"epochs": 1, "iterations_per_epoch": 10}
QUICK_DEMO_SCHEDULE = {"epochs": 1, "iterations_per_epoch": 2}
SEED, THREADS, DATA_WORKERS = 12345, 2, 2  # the kit's deterministic defaults (segbook.api.finetune)


def bf16_peak(device_name: str) -> float | None:
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in device_name), None)


# --- children: one model each, so that peak memory and an out-of-memory are their own -------------

def _model_and_batch(scale: str, batch: int, patch: list[int], device: str):
    import torch
    from bench_stunet import NUM_CLASSES, plan_strides
    from torch.nn import functional

    from segbook.models.stunet import build_stunet

    model = build_stunet(scale, 1, NUM_CLASSES, plan_strides(patch), deep_supervision=True).to(device)
    image = torch.randn(batch, 1, *patch, device=device)
    label = torch.randint(0, NUM_CLASSES, (batch, 1, *patch), device=device).float()
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16):
        sizes = [o.shape[2:] for o in model(image)]
    targets = [functional.interpolate(label, size=tuple(s), mode="nearest")[:, 0].long() for s in sizes]
    return model, image, targets


def _forward_backward(model, image, targets, device: str) -> float:
    import torch
    from bench_stunet import deep_supervision_loss

    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    model.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        loss = deep_supervision_loss(model(image), targets)
    loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _peak_memory_gib(device: str) -> float:
    import torch

    if device == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**30, 2)
    from common import peak_rss_gib

    return peak_rss_gib()


def child_stunet(case: str, iterations: int, device: str) -> dict:
    import torch
    from bench_stunet import parse_case
    from torch.utils.flop_counter import FlopCounterMode

    from segbook.models.stunet import count_parameters

    scale, batch, patch = parse_case(case)
    torch.manual_seed(0)
    model, image, targets = _model_and_batch(scale, batch, patch, device)
    counter = FlopCounterMode(display=False)
    with counter:  # the warm-up iteration is the counted one (counting slows it; it is not timed)
        warmup = _forward_backward(model, image, targets, device)
    with torch.no_grad(), FlopCounterMode(display=False) as forward_only:
        model(image)
    times = [_forward_backward(model, image, targets, device) for _ in range(iterations)]
    median = statistics.median(times)
    flops = counter.get_total_flops()
    row = {"case": case, "scale": scale, "batch": batch, "patch": patch, "parameters": count_parameters(model),
           "warmup_s": round(warmup, 4), "times_s": [round(t, 4) for t in times], "median_s": round(median, 4),
           "flops": flops, "forward_flops": forward_only.get_total_flops(),
           "tflops_per_s": round(flops / median / 1e12, 3), "peak_memory_gib": _peak_memory_gib(device)}
    return row


def child_largest_batch(scale: str, patch: list[int], device: str, cap: int) -> dict:
    """Largest batch whose forward+backward fits: double until it does not (or `cap`), then bisect."""
    import torch

    def fits(batch: int) -> tuple[bool, float]:
        model = image = targets = None
        try:
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            model, image, targets = _model_and_batch(scale, batch, patch, device)
            _forward_backward(model, image, targets, device)
            return True, _peak_memory_gib(device)
        except torch.OutOfMemoryError:
            return False, 0.0
        finally:
            del model, image, targets

    tried: dict[int, float | None] = {}
    good, bad, batch = 0, None, 1
    while batch <= cap:
        ok, peak = fits(batch)
        tried[batch] = peak if ok else None
        if not ok:
            bad = batch
            break
        good, batch = batch, batch * 2
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        ok, peak = fits(middle)
        tried[middle] = peak if ok else None
        good, bad = (middle, bad) if ok else (good, middle)
    return {"scale": scale, "patch": patch, "largest_batch": good, "limited_by": "memory" if bad else "cap",
            "cap": cap, "tried": {str(b): p for b, p in sorted(tried.items())},
            "peak_memory_gib": tried.get(good)}


def _child(part: str, payload: dict, timeout: float) -> dict:
    argv = [sys.executable, __file__, "--child", part, json.dumps(payload)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=max(timeout, 1), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s (the budget)"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the demo runs: determinism and predict ----------------------------------------------------------

def _finetune(out: Path, device: str, schedule: dict, deterministic: bool, force: bool) -> dict:
    argv = [sys.executable, "-m", "segbook", "finetune", "Demo", "--model", "stunet-s", "--init", "scratch",
            "--epochs", str(schedule["epochs"]), "--iterations-per-epoch", str(schedule["iterations_per_epoch"]),
            "--seed", str(SEED), "--threads", str(THREADS), "--data-workers", str(DATA_WORKERS),
            "--deterministic" if deterministic else "--no-deterministic", "--device", device, "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(argv + (["--force"] if force else []), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"segbook finetune exited {done.returncode}: "
                           f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    run_dir = out / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch"
    receipt = json.loads((run_dir / "receipt.json").read_text(encoding="utf-8"))
    return {"receipt": receipt, "run_dir": run_dir, "wall_s": round(time.perf_counter() - started, 2)}


def _reference(run_dir: Path, device: str) -> tuple[dict, dict]:
    """A finished run's receipt and schedule, if it is the deterministic scratch demo cell this bench runs."""
    receipt = json.loads((run_dir / "receipt.json").read_text(encoding="utf-8"))
    config, determinism = receipt["configuration"], receipt["determinism"]
    wanted = {"name": "stunet-s_scratch", "deterministic": True, "seed": SEED, "threads": THREADS,
              "data_workers": DATA_WORKERS, "device": device}
    found = {"name": config["name"], "deterministic": determinism["deterministic"], "seed": determinism["seed"],
             "threads": determinism["threads"], "data_workers": determinism["data_workers"],
             "device": receipt["device"]["type"]}
    if found != wanted:
        raise ValueError(f"--reference {run_dir} is not this bench's cell: {found} != {wanted}")
    return receipt, {"epochs": config["epochs"], "iterations_per_epoch": config["iterations_per_epoch"]}


def determinism_and_predict(device: str, schedule: dict, reference: Path | None, work: Path) -> tuple[dict, dict]:
    out = work / "demo-out"
    if reference is not None:
        first_receipt, schedule = _reference(reference, device)
        source_root = reference.parents[2]
        out.mkdir(parents=True)
        for name in ("sources", "nnUNet_raw", "nnUNet_preprocessed", "locks"):  # prepared data, not runs
            if (source_root / name).is_dir():
                shutil.copytree(source_root / name, out / name, symlinks=True)
        first = {"receipt": first_receipt, "wall_s": None}
    else:
        progress("gpu", f"demo: first deterministic run on {device} ({schedule})")
        first = _finetune(out, device, schedule, deterministic=True, force=False)
    progress("gpu", "demo: deterministic rerun")
    again = _finetune(out, device, schedule, deterministic=True, force=reference is None)
    progress("gpu", "demo: non-deterministic run")
    loose = _finetune(out, device, schedule, deterministic=False, force=True)
    hashes = [r["receipt"]["hashes"]["final_weights"] for r in (first, again)]
    det_train, loose_train = again["receipt"]["timings"]["train"], loose["receipt"]["timings"]["train"]
    determinism = {"schedule": schedule, "reference": str(reference) if reference else None,
                   "final_weights": hashes, "same_final_weights": hashes[0] == hashes[1],
                   "same_predictions": first["receipt"]["hashes"]["predictions"]
                   == again["receipt"]["hashes"]["predictions"],
                   "train_s": {"deterministic": det_train, "non_deterministic": loose_train},
                   "cost": round(det_train / loose_train, 3) if loose_train else None,
                   "wall_s": {"first": first["wall_s"], "rerun": again["wall_s"], "non_deterministic": loose["wall_s"]}}
    cases = len(list((again["run_dir"] / "predictions").glob("*.nii.gz")))
    predict_s = again["receipt"]["timings"]["predict"]
    predict = {"cases": cases, "stage_s": predict_s, "s_per_case": round(predict_s / cases, 3) if cases else None,
               "what": "segbook finetune's predict stage: nnU-Net sliding window, mirroring on, process start included"}
    return determinism, predict


# --- the whole script ---------------------------------------------------------------------------------

def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def run(device: str, quick: bool, budget_s: float, reference: Path | None, peak: float | None) -> dict:
    started = time.monotonic()
    left = lambda: budget_s - (time.monotonic() - started)  # noqa: E731 - read at each part
    name = device_name(device)
    peak = peak or bf16_peak(name)
    result: dict = {"format": "segbook-bench-gpu/1", "machine": machine_line(), "device": device,
                    "device_name": name, "bf16_peak_tflops": peak, "quick": quick, "budget_s": budget_s,
                    "load_before": load_average(), "stunet": [], "skipped": []}
    iterations = 1 if quick else 3
    for case in QUICK_CASES if quick else PAPER_CASES:
        if left() <= 0:
            result["skipped"].append(f"stunet {case}: past the budget")
            continue
        progress("gpu", f"stunet {case} on {name}, bf16 autocast, 1 warm-up + {iterations} timed")
        row = _child("stunet", {"case": case, "iterations": iterations, "device": device}, left())
        if "error" not in row:
            row["mfu"] = round(row["tflops_per_s"] / peak, 4) if peak else None
        result["stunet"].append({"case": case, **row})
    scale, patch, cap = ("S", [32, 32, 32], 2) if quick else ("H", [128, 128, 128], 64)
    if left() > 0:
        progress("gpu", f"largest batch of STU-Net-{scale} at {'x'.join(map(str, patch))} (cap {cap})")
        result["largest_batch"] = _child("batch", {"scale": scale, "patch": patch, "device": device, "cap": cap},
                                         left())
    else:
        result["skipped"].append("largest_batch: past the budget")
    if left() > 0:
        with tempfile.TemporaryDirectory(prefix="segbook-bench-gpu-") as work:
            try:
                result["determinism"], result["predict"] = determinism_and_predict(
                    device, QUICK_DEMO_SCHEDULE if quick else DEMO_SCHEDULE, reference, Path(work))
            except RuntimeError as exc:
                result["determinism"] = result["predict"] = {"error": str(exc)}
    else:
        result["skipped"] += ["determinism: past the budget", "predict: past the budget"]
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["load_after"] = load_average()
    return result


def summary(result: dict) -> str:
    lines = [f"bench-gpu on {result['device_name']} ({result['machine']}); bf16 peak "
             f"{result['bf16_peak_tflops'] or 'unknown'} TFLOP/s", "",
             "| case | params (M) | median s/it | TFLOP/s | MFU | peak GiB |", "|---|---|---|---|---|---|"]
    for r in result["stunet"]:
        if "error" in r:
            lines.append(f"| {r['case']} | | failed: {r['error']} | | | |")
            continue
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
        lines.append(f"| {r['case']} | {r['parameters'] / 1e6:.1f} | {r['median_s']} | {r['tflops_per_s']} | {mfu} "
                     f"| {r['peak_memory_gib']} |")
    batch, det, pred = result.get("largest_batch", {}), result.get("determinism", {}), result.get("predict", {})
    if "largest_batch" in batch:
        lines.append(f"\nlargest batch, STU-Net-{batch['scale']} at {batch['patch']}: {batch['largest_batch']} "
                     f"(limited by {batch['limited_by']}; peak {batch['peak_memory_gib']} GiB)")
    if "same_final_weights" in det:
        lines.append(f"determinism: same final weights {det['same_final_weights']}, deterministic / not = "
                     f"{det['cost']} (train {det['train_s']})")
    if "s_per_case" in pred:
        lines.append(f"predict: {pred['s_per_case']} s per case over {pred['cases']} case(s)")
    lines += [f"skipped: {s}" for s in result["skipped"]] + [f"wall {result['wall_s']} s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (what the tests run on the CPU)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop starting parts after this (default 450)")
    parser.add_argument("--reference", type=Path, help="a finished deterministic scratch demo run to compare with")
    parser.add_argument("--peak-tflops", type=float, help="the card's dense bf16 peak, if not in the table")
    parser.add_argument("--json", type=Path, default=Path("bench-gpu.json"), help="where to write the result")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        part, payload = args.child[0], json.loads(args.child[1])
        row = child_stunet(**payload) if part == "stunet" else child_largest_batch(**payload)
        print(json.dumps(row))
        return 0
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but torch sees no CUDA device\nhint: run it where a GPU is lent, or "
                  "--device cpu --quick", file=sys.stderr)
            return 78
    if args.reference is not None:  # checked before anything runs
        try:
            _reference(args.reference, args.device)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {exc}\nhint: pass a finished `segbook demo` scratch run (OUT/runs/Task999_SegBookDemo/"
                  f"stunet-s_scratch) made on --device {args.device}, or no --reference", file=sys.stderr)
            return 65
    result = run(args.device, args.quick, args.budget_s, args.reference, args.peak_tflops)
    tmp = args.json.with_name(args.json.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.json)  # written whole or not at all
    print(summary(result), flush=True)
    failed = [r for r in result["stunet"] if "error" in r] + [p for p in ("largest_batch", "determinism")
                                                              if "error" in result.get(p, {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
