"""STU-Net training-step time: forward + deep-supervision Dice+CE loss + backward + SGD step.

One nnU-Net-like iteration (batch 2, 1 channel, a realistic 3D patch) on the plain-torch STU-Net
(`segbook.models.stunet.build_stunet`), without nnU-Net's data loading: this is the compute cost
alone. Each case runs in its own child process so that its peak RSS is its own. A warm-up
iteration, then the median of N timed ones. On CUDA, mixed precision (torch.autocast + GradScaler)
is on, as in nnU-Net.

    .venv/bin/python bench/bench_stunet.py                  # S and B, CPU, threads = cores
    .venv/bin/python bench/bench_stunet.py --quick          # small patch, 1 timed iteration
    .venv/bin/python bench/bench_stunet.py --device cuda    # on a GPU, AMP on
    .venv/bin/python bench/bench_stunet.py --case S:2x96x96x96 --iterations 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from common import emit, load_average, peak_rss_gib, progress

# SCALE:BATCHxZxYxX. Batch 2 as nnU-Net plans it; 64x128x128 is a typical nnU-Net CT plan patch
# (STU-Net pre-trained at 128^3: pass --case S:2x128x128x128, about twice the time); the small
# patch is what --quick runs, and shows how time scales with the voxel count.
DEFAULT_CASES = ["S:2x64x128x128", "B:2x64x128x128", "S:2x32x64x64", "B:2x32x64x64"]
QUICK_CASES = ["S:2x32x64x64", "B:2x32x64x64"]
NUM_CLASSES = 3  # a small downstream dataset (background + 2); the heads barely matter
MIN_FEATURE_SIZE = 4  # nnU-Net stops pooling an axis below this edge length
NUM_POOLINGS = 5


def plan_strides(patch: list[int]) -> list[list[int]]:
    """nnU-Net-like pooling strides: halve an axis while it stays >= MIN_FEATURE_SIZE."""
    sizes, strides = list(patch), []
    for _ in range(NUM_POOLINGS):
        level = [2 if s // 2 >= MIN_FEATURE_SIZE else 1 for s in sizes]
        sizes = [s // f for s, f in zip(sizes, level, strict=True)]
        strides.append(level)
    return strides


def parse_case(text: str) -> tuple[str, int, list[int]]:
    scale, _, shape = text.partition(":")
    dims = [int(v) for v in shape.lower().split("x")]
    if scale.upper() not in {"S", "B", "L", "H"} or len(dims) != 4:
        raise SystemExit(f"bad case {text!r}: expected SCALE:BATCHxZxYxX, e.g. S:2x64x128x128")
    return scale.upper(), dims[0], dims[1:]


def dice_ce_loss(logits, target):
    """nnU-Net-style loss for one output: cross-entropy + (1 - soft Dice over foreground classes)."""
    import torch
    from torch.nn import functional

    ce = functional.cross_entropy(logits, target)
    probs = torch.softmax(logits.float(), dim=1)[:, 1:]
    onehot = functional.one_hot(target, logits.shape[1]).movedim(-1, 1)[:, 1:].float()
    axes = tuple(range(2, logits.ndim))
    intersection = (probs * onehot).sum(axes)
    denominator = probs.sum(axes) + onehot.sum(axes)
    dice = (2 * intersection + 1e-5) / (denominator + 1e-5)
    return ce - dice.mean()


def deep_supervision_loss(outputs, targets):
    # nnU-Net: weights 1/2^i, the coarsest output weighted 0, normalised to sum 1
    weights = [0.5 ** i for i in range(len(outputs))]
    weights[-1] = 0.0
    total = sum(weights)
    return sum(w / total * dice_ce_loss(o, t) for w, o, t in zip(weights, outputs, targets, strict=True)
               if w > 0)


def run_case(case: str, iterations: int, device: str, threads: int) -> dict:
    """Time one case in this process; return its row."""
    import torch
    from torch.nn import functional

    from segbook.models.stunet import build_stunet, count_parameters

    scale, batch, patch = parse_case(case)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # as nnU-Net does
    strides = plan_strides(patch)
    model = build_stunet(scale, 1, NUM_CLASSES, strides, deep_supervision=True).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.99, nesterov=True,
                                weight_decay=3e-5)
    image = torch.randn(batch, 1, *patch, device=device)
    label = torch.randint(0, NUM_CLASSES, (batch, 1, *patch), device=device).float()
    with torch.no_grad():
        sizes = [o.shape[2:] for o in model(image)]
    targets = [functional.interpolate(label, size=tuple(s), mode="nearest")[:, 0].long() for s in sizes]
    use_amp = device == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None

    def step() -> tuple[float, float]:
        if device == "cuda":
            torch.cuda.synchronize()
        started, cpu_started = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
            loss = deep_supervision_loss(model(image), targets)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 12)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 12)
            optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started, time.process_time() - cpu_started

    warmup, _ = step()
    times, cpu_times = zip(*[step() for _ in range(iterations)], strict=True)
    row = {
        "case": case, "scale": scale, "batch": batch, "patch": "x".join(map(str, patch)),
        "strides": strides, "parameters": count_parameters(model), "device": device,
        "amp": use_amp, "threads": torch.get_num_threads(), "warmup_s": round(warmup, 3),
        "times_s": [round(t, 3) for t in times], "median_s": round(statistics.median(times), 3),
        # CPU seconds of this process per iteration: wall ~= cpu / threads when the cores were ours
        "cpu_s": round(statistics.median(cpu_times), 3),
        "peak_rss_gib": peak_rss_gib(),
    }
    if device == "cuda":
        row["gpu"] = torch.cuda.get_device_name()
        row["peak_gpu_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def run(quick: bool = False, device: str = "cpu", cases: list[str] | None = None,
        iterations: int | None = None, threads: int | None = None) -> dict:
    """Run every case in a child process; return the result table."""
    cases = cases or (QUICK_CASES if quick else DEFAULT_CASES)
    iterations = iterations or (1 if quick else 3)
    threads = threads or os.cpu_count() or 1
    rows = []
    for case in cases:
        load_before = load_average()
        progress("stunet", f"{case} on {device}, {threads} threads, 1 warm-up + {iterations} timed "
                 f"(load average {load_before})")
        child = subprocess.run(
            [sys.executable, __file__, "--child", case, "--iterations", str(iterations),
             "--device", device, "--threads", str(threads)],
            capture_output=True, text=True, check=False)
        if child.returncode != 0:
            rows.append({"case": case, "error": (child.stderr.strip().splitlines() or ["?"])[-1]})
            continue
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        rows[-1]["load_before"], rows[-1]["load_after"] = load_before, load_average()
    return table(rows, device)


def table(rows: list[dict], device: str) -> dict:
    columns = ["scale", "params (M)", "batch x patch", "device", "threads", "warm-up s", "median s/it",
               "all timed s", "CPU s/it", "core use", "peak RSS GiB"]
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["case"], "", "", device, "", "", f"failed: {r['error']}", "", "", "", ""])
            continue
        body.append([
            f"STU-Net-{r['scale']}", f"{r['parameters'] / 1e6:.1f}", f"{r['batch']} x {r['patch']}",
            r["device"] + (" (AMP)" if r["amp"] else ""), r["threads"], r["warmup_s"], r["median_s"],
            " ".join(map(str, r["times_s"])), r["cpu_s"],
            f"{r['cpu_s'] / (r['median_s'] * r['threads']):.0%}", r["peak_rss_gib"],
        ])
        if "gpu" in r:
            body[-1][3] = f"{r['gpu']} (AMP)"
            body[-1][-1] = f"{r['peak_rss_gib']} (GPU {r['peak_gpu_mem_gib']})"
    notes = ["core use = CPU time / (wall time x threads) of the timed iterations: near 100 % means the "
             "cores were the benchmark's own; lower means other processes took a share (CPU only)."]
    notes += [f"{r['case']}: load average (1/5/15 min) before {r['load_before']}, after {r['load_after']}"
              for r in rows if "load_before" in r]
    title = "STU-Net training step (forward + Dice+CE deep supervision + backward + SGD step), per iteration"
    return {"name": "stunet", "title": title, "columns": columns, "rows": body, "notes": notes, "raw": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small patches, 1 timed iteration")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--case", action="append", help="SCALE:BATCHxZxYxX (repeatable)")
    parser.add_argument("--iterations", type=int, help="timed iterations after the warm-up (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: number of cores)")
    parser.add_argument("--json", help="also write the result table as JSON to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.child, args.iterations or 3, args.device, args.threads or 1)))
        return 0
    result = run(args.quick, args.device, args.case, args.iterations, args.threads)
    emit(result, args.json)
    return 0 if all("error" not in r for r in result["raw"]) else 1


if __name__ == "__main__":
    sys.exit(main())
