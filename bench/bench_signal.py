"""Checkpoint on signal, and what resume equivalence costs.

1. Signal to exit: a real `segbook finetune Demo` (STU-Net-S from scratch, deterministic) is sent
   SIGTERM in the middle of its second epoch; we time signal -> exit 75 and compare it with one
   training iteration (nnU-Net's epoch time / iterations) plus the checkpoint write. The goal: exit
   within one iteration plus the checkpoint.
2. Resume equivalence costs one counter-based seed per batch (segbook.nnunet.seeded_loading:
   a sha256 of the run seed, the stream and the batch index) and nothing saved per iteration; we
   time that seed against one training iteration. The goal: <= 2 % of epoch time.

    .venv/bin/python bench/bench_signal.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

from common import emit, load_average, machine_line, progress

ITERATIONS = 12


def signal_to_exit(out_root: Path) -> dict:
    args = [sys.executable, "-m", "segbook", "finetune", "Demo", "--model", "stunet-s", "--init", "scratch",
            "--epochs", "3", "--iterations-per-epoch", str(ITERATIONS), "--out", str(out_root)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    for line in proc.stderr:
        if "epoch 1/3" in line:
            time.sleep(2.0)  # into the second epoch
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            break
    else:
        raise SystemExit("the run ended before its first epoch finished")
    proc.stderr.read()
    code = proc.wait(timeout=600)
    latency = time.monotonic() - sent
    run_dir = out_root / "runs" / "Task999_SegBookDemo" / "stunet-s_scratch"
    state = json.loads((run_dir / "train_state.json").read_text())
    log = (run_dir / "logs" / "nnunet.log").read_text()
    epoch_times = [float(x.split("Epoch time:")[1].split("s")[0]) for x in log.splitlines() if "Epoch time:" in x]
    return {"exit_code": code, "latency_s": round(latency, 2), "iteration_s": round(epoch_times[0] / ITERATIONS, 2),
            "stopped_at": f"epoch {state['epoch']} + {state['iteration']} iterations"}


def seed_cost_s() -> float:
    from segbook.nnunet.seeded_loading import batch_seed  # nnU-Net behind it: imported when timed

    return min(timeit.repeat(lambda: batch_seed(12345, 0, 987654), number=10000, repeat=5)) / 10000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    ns = parser.parse_args()
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="segbook-bench-signal-") as tmp:
        progress("signal", f"finetune Demo, SIGTERM mid-epoch (load {load})")
        stop = signal_to_exit(Path(tmp))
    seed = seed_cost_s()
    share = seed / stop["iteration_s"] * 100
    emit({"name": "signal", "title": "Checkpoint on signal; cost of resume equivalence",
          "columns": ["measure", "value", "goal"],
          "rows": [["SIGTERM -> exit", f"{stop['latency_s']} s (exit {stop['exit_code']}, {stop['stopped_at']})",
                    "within one iteration + checkpoint"],
                   ["one training iteration (STU-Net-S, 24x40x40, batch 2)", f"{stop['iteration_s']} s", ""],
                   ["counter-based seed per batch", f"{seed * 1e6:.1f} us ({share:.4f} % of an iteration)",
                    "<= 2 % of epoch time"]],
          "notes": [machine_line(), f"load average at start: {load}"], "raw": {**stop, "seed_s": seed}},
         ns.json)


if __name__ == "__main__":
    main()
